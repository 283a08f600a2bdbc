"""Fixtures for the infrastructure checks: the real inference service, started the way its container starts it.

`live_inference` publishes a tiny real ONNX contract model to a file:// registry, then runs `voiceflow-inference serve`
as a subprocess with the CPU image's ENV block (parsed from Dockerfile.cpu; only paths, host and port are redirected
to the test's temporary folders and 127.0.0.1), waits for /ready and sends one request of each kind so the latency
histograms have samples. It is stopped (SIGTERM, then SIGKILL) when the session ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from voiceflow_contract.testing import WINDOW, build_contract_model, publish_model_file

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE_CPU = REPO / "voiceflow-inference/docker/Dockerfile.cpu"


@dataclass(frozen=True)
class LiveInference:
    """A running inference service: base URL, the model it serves, and where its log goes."""

    url: str
    model: str
    version: str
    log: Path


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tiny_model(path: Path, num_speakers: int = 2, embedding_dim: int = 8) -> Path:
    """audio [B, 48000] -> speaker_embeddings (softmax [B, S]) and embedding [B, E]: frame energies, two MatMuls."""
    return build_contract_model(
        path,
        num_speakers=num_speakers,
        embedding_dim=embedding_dim,
        seed=3,
        square=True,
        graph_name="infra_tiny",
        producer_name="voiceflow-infra-tests",
    )


def publish_tiny(registry_root: Path, work: Path, name: str, version: str) -> None:
    """Validate the tiny model with the real validator and publish it with the real registry client."""
    from voiceflow_contract.errors import ContractError

    path = tiny_model(work / "model.onnx")
    try:
        publish_model_file(registry_root.as_uri(), name, version, path, num_speakers=2)
    except ContractError as exc:
        pytest.fail(f"tiny model failed the contract: {exc}")


def container_env(dockerfile: Path = DOCKERFILE_CPU) -> dict[str, str]:
    """The VOICEFLOW_* variables the runtime stage of a Dockerfile sets (continuations joined, quotes removed)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    final_stage = re.split(r"(?m)^FROM ", text)[-1]
    env: dict[str, str] = {}
    for line in re.findall(r"(?m)^ENV (.*)$", final_stage):
        for key, value in re.findall(r"(\w+)=('[^']*'|\"[^\"]*\"|\S+)", line):
            env[key] = value.strip("'\"")
    return {k: v for k, v in env.items() if k.startswith("VOICEFLOW_")}


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def exercise(url: str, model: str) -> None:
    """One REST /infer, one OIP infer (JSON) and one /ws/diarize session, so each latency series has a sample."""
    from websockets.sync.client import connect

    audio = (0.1 * np.sin(2 * np.pi * 220 * np.arange(WINDOW) / WINDOW)).astype(np.float32)
    with httpx.Client(base_url=url, timeout=30) as client:
        reply = client.post("/infer", json={"audio": [audio.tolist()]})
        assert reply.status_code == 200, reply.text
        oip = {"inputs": [{"name": "audio", "shape": [1, WINDOW], "datatype": "FP32", "data": audio.tolist()}]}
        reply = client.post(f"/v2/models/{model}/infer", json=oip)
        assert reply.status_code == 200, reply.text
    with connect(url.replace("http://", "ws://") + "/ws/diarize", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "start", "sample_rate": WINDOW, "encoding": "pcm_f32le"}))
        ws.send(np.tile(audio, 2).tobytes())
        ws.send(json.dumps({"type": "stop"}))
        while json.loads(ws.recv(timeout=30)).get("type") not in ("final", "error"):
            pass


@pytest.fixture(scope="session")
def live_inference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveInference]:
    """The real service on 127.0.0.1, configured like the CPU container, serving 1.0.0 of the model the image names
    (a tiny graph published under that name)."""
    base = tmp_path_factory.mktemp("live-inference")
    registry_root = base / "registry"
    model = container_env()["VOICEFLOW_MODEL_NAME"]
    publish_tiny(registry_root, base / "build", model, "1.0.0")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEFLOW_")}
    env.update(container_env())
    env.update(
        {
            # The image copies voiceflow-inference/config to /etc/voiceflow/config; here the source folder is used.
            "VOICEFLOW_CONFIG_DIR": str(REPO / "voiceflow-inference/config"),
            "VOICEFLOW_HOST": "127.0.0.1",
            "VOICEFLOW_PORT": str(port),
            "VOICEFLOW_REGISTRY_URL": registry_root.as_uri(),
            "VOICEFLOW_CACHE_DIR": str(base / "cache"),
            "VOICEFLOW_WATCH_DIR": str(base / "watch"),
            # Keep start-up quick and deterministic on a shared 2-core machine.
            "VOICEFLOW_MEASURE_LATENCY": "false",
            "VOICEFLOW_WARMUP_RUNS": "1",
            "VOICEFLOW_POLL_INTERVAL_S": "0",
            "VOICEFLOW_SHUTDOWN_GRACE_S": "2",
        }
    )
    (base / "watch").mkdir()
    log = base / "server.log"
    command = [str(Path(sys.executable).parent / "voiceflow-inference"), "serve"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=base)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"voiceflow-inference serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"service not ready within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        exercise(url, model)
        yield LiveInference(url=url, model=model, version="1.0.0", log=log)
    finally:
        _stop(process)
