"""One virtualenv per peer under ``.cache/peer-venvs/<peer>``, built from the package registry at the pinned versions
(the peers pin conflicting FastAPI and pydantic versions, so none of them shares our venv). Idempotent: a venv whose
stamp file holds the same requirements is kept as it is; a failed build leaves no stamp and its reason on disk.

    python -m voiceflow_bench.peers.venvs [--peers kserve,mlserver] [--root .cache/peer-venvs]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from voiceflow_bench.peers.lineup import PEERS, select
from voiceflow_bench.peers.peer import Peer

DEFAULT_ROOT = Path(".cache/peer-venvs")
STAMP = ".voiceflow-peer-stamp"
FAILED = ".voiceflow-peer-failed"
INSTALL_TIMEOUT_S = 900


def ort_version() -> str:
    """ONNX Runtime's version in our venv: every peer venv gets exactly this one."""
    return metadata.version("onnxruntime")


def requirements(peer: Peer) -> list[str]:
    """What ``pip install`` gets for ``peer``: its pinned packages, our ONNX Runtime, numpy."""
    return [*peer.packages, f"onnxruntime=={ort_version()}", "numpy"]


def venv_python(root: Path, peer: Peer) -> Path:
    """The peer venv's interpreter."""
    return (root / peer.name / "bin" / "python").absolute()  # absolute: some peers run from another folder


def is_built(root: Path, peer: Peer) -> bool:
    """True when the venv exists and its stamp names the current requirements."""
    stamp = root / peer.name / STAMP
    return venv_python(root, peer).exists() and stamp.is_file() and stamp.read_text() == "\n".join(requirements(peer))


def failure(root: Path, peer: Peer) -> str | None:
    """Why the last build of ``peer``'s venv failed (None when it did not, or was never tried)."""
    path = root / peer.name / FAILED
    return path.read_text().strip() or "install failed" if path.is_file() else None


def build(root: Path, peer: Peer) -> str | None:
    """Build ``peer``'s venv unless it is already built; returns None on success, else the reason."""
    if is_built(root, peer):
        return None
    target = root / peer.name
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    reqs = requirements(peer)
    steps = [
        [sys.executable, "-m", "venv", str(target)],
        [str(venv_python(root, peer)), "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs],
    ]
    for step in steps:
        try:
            proc = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            reason = f"`{' '.join(step[-len(reqs) :])}` timed out after {INSTALL_TIMEOUT_S} s"
        else:
            if proc.returncode == 0:
                continue
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            reason = f"install failed (exit {proc.returncode}): " + " | ".join(tail)
        target.mkdir(parents=True, exist_ok=True)
        (target / FAILED).write_text(reason + "\n")
        return reason
    (target / STAMP).write_text("\n".join(reqs))
    (target / FAILED).unlink(missing_ok=True)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Build the selected peers' venvs; a failure is reported (and becomes that peer's row), not fatal."""
    parser = argparse.ArgumentParser(prog="python -m voiceflow_bench.peers.venvs", description=__doc__.splitlines()[0])
    parser.add_argument("--peers", default=",".join(p.name for p in PEERS), help="comma-separated peer names")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="where the venvs live")
    args = parser.parse_args(argv)
    for peer in select(args.peers):
        if is_built(args.root, peer):
            print(f"{peer.name}: up to date ({', '.join(peer.packages)})")
            continue
        print(f"{peer.name}: installing {' '.join(requirements(peer))} ...", flush=True)
        reason = build(args.root, peer)
        print(f"{peer.name}: {'ok' if reason is None else reason}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
