"""Shared fixtures: tiny real ONNX contract models, a real file:// registry, and uvicorn on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from hypothesis import settings

from voiceflow_contract.testing import WINDOW, build_contract_model, contract_metadata, publish_model_file

# Property tests draw the same examples on every run (`make test` must not flake on a fresh clone);
# HYPOTHESIS_PROFILE=explore draws new ones (e.g. with `make chaos`).
settings.register_profile("voiceflow", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "voiceflow"))

# The suite's tiny contract graphs are published as "fast-cnn"; the shipped default (every environment's toml, the
# images, compose, Kubernetes) is ge2e, checked by test_inference_config and tests/infra/test_default_model.py.
# Set for the whole session (servers the tests start inherit it); a test may still delete or override it.
os.environ.setdefault("VOICEFLOW_MODEL_NAME", "fast-cnn")


build_model = build_contract_model  # (path, *, num_speakers=2, embedding_dim=8, seed=0, softmax=True, window=48000)


def make_metadata(model_path: Path, name: str, version: str, num_speakers: int, embedding_dim: int) -> Any:
    """A complete ModelMetadata for a toy model."""
    return contract_metadata(model_path, name, version, num_speakers=num_speakers, embedding_dim=embedding_dim)


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
    path = build_model(root / f"{name}-{version}.onnx", num_speakers=num_speakers, seed=seed)
    publish_model_file(registry, name, version, path, num_speakers=num_speakers, aliases=aliases)
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


@pytest.fixture(scope="session")
def settings_maker() -> Callable[..., Any]:
    """:func:`make_settings` for fixtures of any scope (``settings_maker(registry_url, work, **overrides)``)."""
    return make_settings


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
