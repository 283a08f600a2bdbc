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
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE_CPU = REPO / "voiceflow-inference/docker/Dockerfile.cpu"
WINDOW = 48_000
FRAMES = 480


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
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Reshape", ["audio", "frames_shape"], ["frames"]),
        helper.make_node("Mul", ["frames", "frames"], ["power"]),
        helper.make_node("ReduceMean", ["power", "axes"], ["energy"], keepdims=0),
        helper.make_node("MatMul", ["energy", "w_emb"], ["embedding"]),
        helper.make_node("MatMul", ["embedding", "w_spk"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["speaker_embeddings"], axis=-1),
    ]
    inits = [
        numpy_helper.from_array(np.array([-1, FRAMES, WINDOW // FRAMES], dtype=np.int64), "frames_shape"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axes"),
        numpy_helper.from_array(rng.standard_normal((FRAMES, embedding_dim)).astype(np.float32), "w_emb"),
        numpy_helper.from_array(rng.standard_normal((embedding_dim, num_speakers)).astype(np.float32), "w_spk"),
    ]
    graph = helper.make_graph(
        nodes,
        "infra_tiny",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch_size", WINDOW])],
        [
            helper.make_tensor_value_info("speaker_embeddings", TensorProto.FLOAT, ["batch_size", num_speakers]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch_size", embedding_dim]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="voiceflow-infra-tests")
    model.ir_version = 9
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def publish_tiny(registry_root: Path, work: Path, name: str, version: str) -> None:
    """Validate the tiny model with the real validator and publish it with the real registry client."""
    from voiceflow_contract.hashing import sha256_file
    from voiceflow_contract.registry import ModelRegistry
    from voiceflow_contract.schemas import (
        Accuracy,
        Architecture,
        ContractInfo,
        DevicePerformance,
        FileInfo,
        Lineage,
        ModelMetadata,
        Training,
    )
    from voiceflow_contract.validator import validate_model_contract

    path = tiny_model(work / "model.onnx")
    report = validate_model_contract(path, num_speakers=2, measure_latency=False)
    if not report.passed:
        pytest.fail(f"tiny model failed the contract: {[c.message for c in report.failed_checks]}")
    metadata = ModelMetadata(
        model_name=name,
        version=version,
        created_at=datetime.now(UTC),
        git_commit="0000000",
        training=Training(dataset="synthetic", epochs=0, batch_size=1, optimizer="none", learning_rate=0.001),
        architecture=Architecture(type="toy", params=FRAMES * 8 + 16, layers=2, name=name),
        performance={"cpu": DevicePerformance(p50_ms=0.1, p99_ms=0.2, throughput_rps=1000.0)},
        accuracy=Accuracy(der_test_set=0.5, precision=0.5, recall=0.5),
        contract=ContractInfo(
            input_shape=[1, WINDOW],
            output_shape=[1, 2],
            sample_rate=WINDOW,
            num_speakers=2,
            extra_outputs=["embedding"],
            embedding_dim=8,
        ),
        file=FileInfo(size_bytes=path.stat().st_size, sha256=sha256_file(path), onnx_opset=18),
        lineage=Lineage(config_hash="infra", dataset_fingerprint="synthetic", seed=0, package_versions={}),
    )
    ModelRegistry(registry_root.as_uri()).publish(name, version, path, metadata, report)


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
    """The real service on 127.0.0.1, configured like the CPU container, serving fast-cnn 1.0.0."""
    base = tmp_path_factory.mktemp("live-inference")
    registry_root = base / "registry"
    publish_tiny(registry_root, base / "build", "fast-cnn", "1.0.0")
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
        exercise(url, "fast-cnn")
        yield LiveInference(url=url, model="fast-cnn", version="1.0.0", log=log)
    finally:
        _stop(process)
