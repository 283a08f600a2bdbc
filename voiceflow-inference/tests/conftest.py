"""Shared fixtures: tiny real ONNX contract models, a real file:// registry, and uvicorn on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import pytest
import uvicorn
from onnx import TensorProto, helper, numpy_helper

WINDOW = 48000
FRAMES = 480  # the toy model averages 480 frames of 100 samples, then a linear layer


def build_model(
    path: Path,
    *,
    num_speakers: int = 2,
    embedding_dim: int = 8,
    seed: int = 0,
    softmax: bool = True,
    window: int = WINDOW,
) -> Path:
    """Write a small contract model: audio [B, 48000] -> speaker_embeddings (softmax [B, S]) and embedding [B, E].

    Different seeds give different weights (so versions are distinguishable by their outputs); ``softmax=False``
    breaks the contract (outputs are not probabilities); ``window`` != 48000 breaks the input shape rule.
    """
    rng = np.random.default_rng(seed)
    w_emb = rng.standard_normal((FRAMES, embedding_dim)).astype(np.float32)
    w_spk = rng.standard_normal((embedding_dim, num_speakers)).astype(np.float32)
    nodes = [
        helper.make_node("Reshape", ["audio", "frames_shape"], ["frames"]),
        helper.make_node("ReduceMean", ["frames", "axes"], ["energy"], keepdims=0),
        helper.make_node("MatMul", ["energy", "w_emb"], ["embedding"]),
        helper.make_node("MatMul", ["embedding", "w_spk"], ["logits"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["speaker_embeddings"], axis=-1))
    else:
        nodes.append(helper.make_node("Identity", ["logits"], ["speaker_embeddings"]))
    inits = [
        numpy_helper.from_array(np.array([-1, FRAMES, window // FRAMES], dtype=np.int64), "frames_shape"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axes"),
        numpy_helper.from_array(w_emb, "w_emb"),
        numpy_helper.from_array(w_spk, "w_spk"),
    ]
    graph = helper.make_graph(
        nodes,
        "toy_diarizer",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch_size", window])],
        [
            helper.make_tensor_value_info("speaker_embeddings", TensorProto.FLOAT, ["batch_size", num_speakers]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch_size", embedding_dim]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="voiceflow-tests")
    model.ir_version = 9
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_metadata(model_path: Path, name: str, version: str, num_speakers: int, embedding_dim: int) -> Any:
    """A complete ModelMetadata for a toy model."""
    from voiceflow_contract.hashing import sha256_file
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

    return ModelMetadata(
        model_name=name,
        version=version,
        created_at=datetime.now(UTC),
        git_commit="0000000",
        training=Training(dataset="synthetic", epochs=0, batch_size=1, optimizer="none", learning_rate=0.001),
        architecture=Architecture(type="toy", params=FRAMES * embedding_dim, layers=2, name=name),
        performance={"cpu": DevicePerformance(p50_ms=0.1, p99_ms=0.2, throughput_rps=1000.0)},
        accuracy=Accuracy(der_test_set=0.5, precision=0.5, recall=0.5),
        contract=ContractInfo(
            input_shape=[1, WINDOW],
            output_shape=[1, num_speakers],
            sample_rate=WINDOW,
            num_speakers=num_speakers,
            extra_outputs=["embedding"],
            embedding_dim=embedding_dim,
        ),
        file=FileInfo(size_bytes=model_path.stat().st_size, sha256=sha256_file(model_path), onnx_opset=18),
        lineage=Lineage(config_hash="test", dataset_fingerprint="synthetic", seed=0, package_versions={}),
    )


def publish(
    registry: Any,
    root: Path,
    name: str,
    version: str,
    *,
    seed: int,
    num_speakers: int = 2,
    aliases: tuple[str, ...] = ("latest",),
) -> Path:
    """Build, validate (real validator) and publish one toy version to the registry."""
    from voiceflow_contract.validator import validate_model_contract

    path = build_model(root / f"{name}-{version}.onnx", num_speakers=num_speakers, seed=seed)
    report = validate_model_contract(path, num_speakers=num_speakers, measure_latency=False)
    assert report.passed, [c.message for c in report.failed_checks]
    metadata = make_metadata(path, name, version, num_speakers, 8)
    registry.publish(name, version, path, metadata, report, aliases=aliases)
    return path


@pytest.fixture(scope="session")
def model_builder() -> Callable[..., Path]:
    """``build_model(path, num_speakers=2, embedding_dim=8, seed=0, softmax=True, window=48000)``."""
    return build_model


@pytest.fixture(scope="session")
def publisher() -> Callable[..., Path]:
    """``publish(registry, root, name, version, seed=..., num_speakers=2, aliases=("latest",))``."""
    return publish


@pytest.fixture(scope="module")
def registry_two_versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A file:// registry with fast-cnn 1.0.0 (2 speakers) and 1.1.0 (3 speakers); latest -> 1.1.0."""
    from voiceflow_contract.registry import ModelRegistry

    root = tmp_path_factory.mktemp("registry")
    work = tmp_path_factory.mktemp("build")
    url = root.as_uri()
    registry = ModelRegistry(url)
    publish(registry, work, "fast-cnn", "1.0.0", seed=1, num_speakers=2)
    publish(registry, work, "fast-cnn", "1.1.0", seed=2, num_speakers=3)
    return {"url": url, "root": root, "work": work, "registry": registry}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving an app on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 60.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)


@pytest.fixture(scope="session")
def live_server_factory() -> Iterator[Callable[[Any], LiveServer]]:
    """Start apps under uvicorn; every server started is stopped at the end of the session at the latest."""
    started: list[LiveServer] = []

    def _start(app: Any) -> LiveServer:
        server = LiveServer(app).start()
        started.append(server)
        return server

    yield _start
    for server in started:
        if server.thread.is_alive():
            server.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or timeout; returns the last result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(scope="session")
def port_finder() -> Callable[[], int]:
    """``free_port() -> int`` on 127.0.0.1."""
    return free_port


@pytest.fixture(scope="session")
def waiter() -> Callable[..., bool]:
    """``wait_for(predicate, timeout=20, interval=0.05)``."""
    return wait_for


ADMIN_TOKEN = "test-admin-token-123"


def make_settings(registry_url: str, work: Path, **overrides: Any) -> Any:
    """Development settings pointed at a test registry and private cache/watch dirs (no polling unless asked)."""
    from voiceflow_inference.config import load_settings

    values: dict[str, Any] = {
        "registry_url": registry_url,
        "cache_dir": work / "cache",
        "watch_dir": None,
        "poll_interval_s": 0,
        "admin_token": ADMIN_TOKEN,
        "warmup_runs": 1,
        "shutdown_grace_s": 1.0,
    }
    values.update(overrides)
    return load_settings("development", **values)


@pytest.fixture
def serve(live_server_factory: Callable[[Any], LiveServer]) -> Iterator[Callable[..., LiveServer]]:
    """``serve(registry_url, work_dir, **settings_overrides) -> LiveServer``; stopped after the test."""
    from voiceflow_inference.app import create_app

    started: list[LiveServer] = []

    def _serve(registry_url: str, work: Path, **overrides: Any) -> LiveServer:
        server = live_server_factory(create_app(make_settings(registry_url, work, **overrides)))
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.stop()


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@pytest.fixture(scope="session")
def metric() -> Callable[..., float]:
    """``metric(text, name, **labels) -> float``."""
    return metric_value


def window_batch(batch: int = 1, seed: int = 0) -> np.ndarray:
    """Deterministic float32 audio [batch, 48000]."""
    return (np.random.default_rng(seed).standard_normal((batch, WINDOW)) * 0.1).astype(np.float32)


@pytest.fixture(scope="session")
def audio() -> Callable[..., np.ndarray]:
    """``audio(batch=1, seed=0) -> float32 [batch, 48000]``."""
    return window_batch


def oip_binary_body(batch: np.ndarray, request_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """An OIP binary-extension request body and headers (what tritonclient sends), asking for binary outputs."""
    import orjson

    header: dict[str, Any] = {
        "inputs": [
            {
                "name": "audio",
                "shape": list(batch.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": batch.nbytes},
            }
        ],
        "parameters": {"binary_data_output": True},
    }
    if request_id is not None:
        header["id"] = request_id
    head = orjson.dumps(header)
    return head + batch.astype("<f4").tobytes(), {"Inference-Header-Content-Length": str(len(head))}


@pytest.fixture(scope="session")
def oip_body() -> Callable[..., tuple[bytes, dict[str, str]]]:
    """``oip_body(batch, request_id=None) -> (body, headers)``."""
    return oip_binary_body
