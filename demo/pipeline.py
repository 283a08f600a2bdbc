"""The ML engineer's side of the demo: train the default model (ge2e) and run the publish pipeline (console scripts)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from demo.settings import BIN, EXPERIMENT, MODEL, ROOT
from demo.terminal import console
from voiceflow_contract.errors import RegistryError
from voiceflow_contract.registry import ModelRegistry


def run(cmd: list[str], *, env: dict[str, str] | None = None, log: Path | None = None) -> None:
    """Run a command, streaming its output (or into `log`), and stop the demo if it fails."""
    console.print(f"[dim]$ {' '.join(cmd)}[/dim]")
    merged = {**os.environ, **(env or {})}
    if log is None:
        result = subprocess.run(cmd, env=merged, cwd=ROOT, check=False)
    else:
        with log.open("w") as out:
            result = subprocess.run(cmd, env=merged, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        hint = f" (log: {log})" if log else ""
        raise SystemExit(f"demo: step failed with exit code {result.returncode}: {' '.join(cmd)}{hint}")


def latest_version(registry: str, model: str = MODEL) -> str | None:
    """The version `latest` of `model` points at, None before the first publish."""
    try:
        return str(ModelRegistry(registry).resolve(model, "latest"))
    except RegistryError:
        return None


def train(artifacts: Path, name: str, extra: list[str], experiment: str = EXPERIMENT, model: str = MODEL) -> Path:
    """Train `experiment` (Lightning progress bar) and return the published checkpoint path of `model`."""
    out = artifacts / name
    run(
        [
            str(BIN / "voiceflow-train"),
            f"experiment={experiment}",
            f"hydra.run.dir={out / 'run'}",
            f"publish_dir={out}",
            *extra,
        ]
    )
    return out / model / "model.ckpt"


def publish(checkpoint: Path, artifacts: Path, registry: str, model: str = MODEL) -> str:
    """The seed's pipeline: export, optimise, validate, benchmark, accuracy, bump, publish. Returns the version."""
    run(
        [
            str(BIN / "voiceflow-pipeline"),
            "--checkpoint",
            str(checkpoint),
            "--artifacts",
            str(artifacts),
            "--registry",
            registry,
            "--conversations",
            "4",
        ]
    )
    version = latest_version(registry, model)
    if version is None:
        raise SystemExit("demo: the pipeline finished but the registry has no latest version")
    return version
