"""The watch directory's files: the sidecar naming a watched model's version, the snapshot the server loads, and
the atomic install ``voiceflow-inference hot-reload`` performs."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voiceflow_contract.hashing import sha256_file
from voiceflow_inference.config import Settings
from voiceflow_inference.lifecycle.atomic_files import atomic_write_text
from voiceflow_inference.lifecycle.errors import ModelRejectedError
from voiceflow_inference.lifecycle.reasons import Reason

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class WatchSidecar(BaseModel):
    """``<watch_dir>/<watch_filename>.json``: which registry version the watched file is. Written before the model
    file is moved into place; when present, its sha256 must match the file or the file is refused."""

    model_config = ConfigDict(extra="forbid")

    model_name: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    metadata: dict[str, Any] | None = None


def watch_target(settings: Settings) -> Path | None:
    """The watched model file (``watch_dir/watch_filename``), None when no watch dir is configured."""
    if settings.watch_dir is None:
        return None
    return (settings.watch_dir / settings.watch_filename).resolve()


def sidecar_path(model_path: Path) -> Path:
    """The sidecar of a watched model file."""
    return model_path.with_name(model_path.name + ".json")


def read_sidecar(model_path: Path) -> WatchSidecar | None:
    """The sidecar, None when absent. Raises ModelRejectedError when it exists but is malformed."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        return WatchSidecar.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ModelRejectedError(Reason.SIDECAR, f"unreadable sidecar {path.name}: {exc}") from exc


def snapshot(model_path: Path, cache_dir: Path) -> tuple[Path, str]:
    """Copy the watched file into the cache (so later replacements cannot change what we validate and load).

    Returns the snapshot path and its sha256.
    """
    target_dir = cache_dir / ".voiceflow-inference" / "watch"
    target_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".snapshot.", suffix=".onnx")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        shutil.copyfile(model_path, tmp_path)
        digest = sha256_file(tmp_path)
        final = target_dir / f"{digest}.onnx"
        tmp_path.replace(final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    return final, digest


def discard_snapshot(path: Path) -> None:
    """Delete a snapshot no loaded model uses (ONNX Runtime holds the bytes, not the file)."""
    with contextlib.suppress(OSError):
        path.unlink()


def install_into_watch_dir(source: Path, watch_dir: Path, filename: str, sidecar: WatchSidecar) -> Path:
    """Atomically put ``source`` in place as ``watch_dir/filename`` (what ``hot-reload`` does).

    Copy to a temp file in the same directory, write the sidecar, then os.replace the model: one rename, so the
    watcher never sees half a file."""
    watch_dir.mkdir(parents=True, exist_ok=True)
    target = watch_dir / filename
    fd, tmp = tempfile.mkstemp(dir=watch_dir, prefix=f".{filename}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        shutil.copyfile(source, tmp_path)
        with tmp_path.open("rb+") as handle:
            os.fsync(handle.fileno())
        if not _SHA_RE.fullmatch(sidecar.sha256) or sha256_file(tmp_path) != sidecar.sha256:
            raise ModelRejectedError(
                Reason.CHECKSUM_MISMATCH, f"copy of {source} does not match sha256 {sidecar.sha256}"
            )
        atomic_write_text(sidecar_path(target), sidecar.model_dump_json(indent=2) + "\n")
        tmp_path.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    return target


__all__ = [
    "WatchSidecar",
    "discard_snapshot",
    "install_into_watch_dir",
    "read_sidecar",
    "sidecar_path",
    "snapshot",
    "watch_target",
]
