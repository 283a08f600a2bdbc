"""End-to-end helpers: the default model (ge2e, its head briefly fine-tuned) trained once per session with
voiceflow-models, published by the real pipeline to a temporary registry, and served by the real
`voiceflow-inference serve` on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
#: The default published model (make publish / demo / serve): Resemblyzer's pretrained GE2E encoder + a softmax head.
MODEL = "ge2e"
# The encoder is pretrained and frozen: one short epoch fine-tunes the head on 8 synthetic voices (seeded, so the
# published model is deterministic); unseen voices are clustered with the pretrained embedding.
TINY_TRAINING = [
    "experiment=ge2e_synthetic",
    "data.num_train_voices=8",
    "data.seconds_per_voice=6",
    "data.windows_per_epoch=128",
    "data.val_windows=32",
    "data.test_windows=32",
    "data.num_val_conversations=0",
    "trainer.max_epochs=1",
    "test=false",
    "test_conversations=false",
    "logger=none",
]


def run(cmd: list[str], log: Path) -> None:
    """Run a CLI, failing the fixture with its log tail when it fails."""
    with log.open("w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"{cmd[0]} failed ({result.returncode}):\n{log.read_text()[-4000:]}")


@dataclass
class TrainedModel:
    """What the session fixture built."""

    registry: Path
    checkpoint: Path
    work: Path
    version: str


def publish(
    checkpoint: Path, registry: Path, artifacts: Path, *, conversations: int = 2, duration_s: float = 20
) -> str:
    """Run the release pipeline on `checkpoint` (DER scored on ``conversations`` held-out conversations of
    ``duration_s``); returns the published version."""
    run(
        [
            str(BIN / "voiceflow-pipeline"),
            "--checkpoint",
            str(checkpoint),
            "--registry",
            str(registry),
            "--artifacts",
            str(artifacts),
            "--conversations",
            str(conversations),
            "--duration",
            f"{duration_s:g}",
            "--latency-runs",
            "50",
            "--threads",
            "1",
            # The p99 budget is a property of the machine as much as of the model: a test must not fail because
            # this one is busy (the latency is still measured and recorded; `make publish` keeps the gate).
            "--no-latency-check",
        ],
        artifacts.parent / f"{artifacts.name}.log",
    )
    from voiceflow_contract.registry import ModelRegistry

    return str(ModelRegistry(str(registry)).resolve(MODEL))


@dataclass
class LiveServer:
    """`voiceflow-inference serve` on 127.0.0.1."""

    url: str
    token: str
    log: Path

    @property
    def ws_url(self) -> str:
        """The /ws/diarize URL."""
        return self.url.replace("http://", "ws://") + "/ws/diarize"

    def version(self) -> str | None:
        """The version /ready reports."""
        return httpx.get(f"{self.url}/ready", timeout=5).json().get("version")

    def wait_for_version(self, version: str, timeout: float = 120.0) -> None:
        """Block until /ready reports `version`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.version() == version:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"server never served {version}:\n{self.log.read_text()[-4000:]}")


def free_port() -> int:
    """A free port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
