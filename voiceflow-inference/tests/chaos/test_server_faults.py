"""Server faults: the live server (uvicorn on 127.0.0.1, real registry, real ONNX Runtime) keeps serving its last good
model through each fault and says why: ``/ready`` (``last_error``, degraded ``reasons``), the log, and
``voiceflow_model_reloads_total{result="failure"}``.

Faults: the watched file damaged in place (truncated, overwritten with garbage, deleted); a reload that fails halfway
(the pulled file vanishes before the load; the validator itself crashes); the registry unreachable while polling
(file:// folder gone; moto S3 server stopped, slow); the cache directory's disk full (a 1 MiB tmpfs, root only).
SIGTERM with open WebSocket sessions is covered by tests/streaming/test_ws_shutdown.py and
tests/integration/test_inference_cli.py::test_serve_answers_then_exits_cleanly_on_sigterm.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from voiceflow_contract.registry import ModelRegistry

TOKEN = "test-admin-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
pytestmark = pytest.mark.timeout(120)


def settings_for(registry_url: str, work: Path, **overrides: Any) -> Any:
    """Development settings on a test registry with private cache/watch dirs (as tests/conftest.py make_settings)."""
    from voiceflow_inference.config import load_settings

    values: dict[str, Any] = {
        "registry_url": registry_url,
        "cache_dir": work / "cache",
        "watch_dir": None,
        "poll_interval_s": 0,
        "admin_token": TOKEN,
        "warmup_runs": 1,
        "shutdown_grace_s": 1.0,
    }
    values.update(overrides)
    return load_settings("development", **values)


@pytest.fixture
def registry(tmp_path: Path, publisher: Callable[..., Path]) -> dict[str, Any]:
    """A file:// registry: fast-cnn 1.0.0 (latest) and 1.1.0 (3 speakers, not promoted)."""
    root = tmp_path / "registry"
    reg = ModelRegistry(root.as_uri())
    publisher(reg, tmp_path / "build", "fast-cnn", "1.0.0", seed=1, num_speakers=2)
    publisher(reg, tmp_path / "build", "fast-cnn", "1.1.0", seed=2, num_speakers=3, aliases=())
    return {"url": root.as_uri(), "root": root, "registry": reg, "build": tmp_path / "build"}


@pytest.fixture
def start(live_server_factory: Callable[[Any], Any]) -> Iterator[Callable[..., Any]]:
    """``start(settings, registry=None) -> LiveServer`` (stopped after the test)."""
    from voiceflow_inference.app import create_app

    started: list[Any] = []

    def _start(settings: Any, registry: Any | None = None) -> Any:
        server = live_server_factory(create_app(settings, registry=registry))
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


def failures(client: httpx.Client, metric: Callable[..., float], trigger: str) -> float:
    text = client.get("/metrics").text
    return metric(text, "voiceflow_model_reloads_total", result="failure", trigger=trigger)


def still_serving(client: httpx.Client, version: str) -> dict[str, Any]:
    """/ready says ``version`` is active and /infer answers with it; returns the /ready body."""
    status: dict[str, Any] = client.get("/ready").json()
    assert status["ready"] and status["version"] == version, status
    audio = (np.random.default_rng(0).standard_normal((1, 48000)) * 0.1).astype(np.float32)
    resp = client.post("/infer", json={"audio": audio.tolist()})
    assert resp.status_code == 200 and resp.json()["version"] == version, resp.text
    return status


# ------------------------------------------------------------------------------------------------ watched file
def test_watched_file_damaged_in_place(registry, start, tmp_path, model_builder, waiter, metric, caplog):
    """A good model dropped in the watch dir loads; then the same file is truncated in place, overwritten with garbage
    in place (non-atomic writes, as a careless `cp` would do) and deleted: each is refused or ignored, the good one
    keeps serving, and the refusals are counted and logged."""
    watch = tmp_path / "watch"
    watch.mkdir()
    srv = start(settings_for(registry["url"], tmp_path, watch_dir=watch))
    target = watch / "model.onnx"
    good = model_builder(tmp_path / "dropped.onnx", seed=7).read_bytes()
    with srv.client() as client, caplog.at_level(logging.ERROR, logger="voiceflow_inference"):
        target.write_bytes(good)
        assert waiter(lambda: client.get("/ready").json()["source"] == "watch", timeout=30)
        local = client.get("/ready").json()["version"]
        assert local.startswith("local-")

        with target.open("r+b") as fh:  # truncate in place: the watcher sees a half file
            fh.truncate(len(good) // 3)
        assert waiter(lambda: failures(client, metric, "watch") >= 1, timeout=30)
        status = still_serving(client, local)
        assert status["last_error"].startswith("watch:"), status

        with target.open("r+b") as fh:  # garbage over the first bytes, in place
            fh.write(os.urandom(len(good) // 3))
        assert waiter(lambda: failures(client, metric, "watch") >= 2, timeout=30)
        still_serving(client, local)

        target.unlink()  # the file disappears: nothing to load, nothing changes
        time.sleep(0.5)
        still_serving(client, local)
        assert failures(client, metric, "watch") == 2
        snapshots = list((tmp_path / "cache" / ".voiceflow-inference" / "watch").glob("*.onnx"))
        assert len(snapshots) == 1  # only the good model's snapshot: refused files leave nothing behind
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) >= 2 and all(f"still serving {local}" in m for m in refused), refused


# ------------------------------------------------------------------------------------------- reload fails halfway
class VanishingRegistry(ModelRegistry):
    """A real registry whose pulled file disappears right after the pull (a cache cleaner, a disk error) while
    ``vanish`` is set: the load that follows finds no file."""

    vanish = False

    def pull(self, *args: Any, **kwargs: Any) -> Any:
        pulled = super().pull(*args, **kwargs)
        if self.vanish:
            Path(pulled.path).unlink()
        return pulled


def test_pulled_file_vanishes_before_load(registry, start, tmp_path, metric, caplog):
    reg = VanishingRegistry(registry["url"])
    srv = start(settings_for(registry["url"], tmp_path), registry=reg)
    with srv.client() as client, caplog.at_level(logging.ERROR, logger="voiceflow_inference"):
        still_serving(client, "1.0.0")
        reg.vanish = True
        resp = client.post("/admin/reload", json={"version": "1.1.0"}, headers=AUTH)
        assert resp.status_code in (409, 503) and resp.json()["code"].startswith("reload_"), resp.text
        assert failures(client, metric, "admin") == 1
        status = still_serving(client, "1.0.0")
        assert "1.1.0" in status["last_error"] or "model.onnx" in status["last_error"], status
        reg.vanish = False  # the fault clears: the same reload now works (nothing was poisoned)
        resp = client.post("/admin/reload", json={"version": "1.1.0"}, headers=AUTH)
        assert resp.status_code == 200 and resp.json()["version"] == "1.1.0", resp.text
    assert any("still serving 1.0.0" in r.getMessage() for r in caplog.records)


def test_validator_crash_during_reload_fails_closed(registry, start, tmp_path, metric, monkeypatch):
    """The validator itself raises (a bug, an OOM): the new model is refused, never loaded unvalidated."""
    from voiceflow_inference.lifecycle import isolated_validation as validator

    srv = start(settings_for(registry["url"], tmp_path))
    with srv.client() as client:
        still_serving(client, "1.0.0")

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise MemoryError("validator ran out of memory (injected)")

        monkeypatch.setattr(validator, "validate_in_child", broken)
        resp = client.post("/admin/reload", json={"version": "1.1.0"}, headers=AUTH)
        # Refused, not crashed: the one answer for a refused reload, naming why (the validator failed).
        assert (resp.status_code, resp.json()["code"]) == (409, "reload_refused:validation_error"), resp.text
        assert failures(client, metric, "admin") == 1
        assert "injected" in still_serving(client, "1.0.0")["last_error"]
        models = client.get("/admin/models", headers=AUTH).json()
        assert [m["version"] for m in models["loaded"]] == ["1.0.0"]


# ------------------------------------------------------------------------------------- registry unreachable (poll)
def test_registry_folder_gone_while_polling(registry, start, tmp_path, waiter, caplog, metric):
    srv = start(settings_for(registry["url"], tmp_path, poll_interval_s=0.2))
    gone = tmp_path / "registry-away"
    with srv.client() as client, caplog.at_level(logging.WARNING, logger="voiceflow_inference"):
        still_serving(client, "1.0.0")
        registry["root"].rename(gone)

        def degraded() -> bool:
            return any("registry poll failed" in r for r in client.get("/ready").json()["reasons"])

        assert waiter(degraded, timeout=20)
        status = still_serving(client, "1.0.0")
        assert status["degraded"] is True
        # Counted as an outage, not as a refused model.
        assert metric(client.get("/metrics").text, "voiceflow_registry_poll_failures_total") >= 1
        assert (
            metric(client.get("/metrics").text, "voiceflow_model_reloads_total", result="failure", trigger="poll") == 0
        )
        gone.rename(registry["root"])  # back: the reason clears, and a promotion is picked up again
        assert waiter(lambda: not degraded(), timeout=20)
        registry["registry"].promote("fast-cnn", "1.1.0")
        assert waiter(lambda: client.get("/ready").json()["version"] == "1.1.0", timeout=30)
        assert client.get("/ready").json()["degraded"] is False
    assert any("registry poll failed" in r.getMessage() for r in caplog.records)


class RestartableMoto:
    """moto's S3 server on a fixed loopback port that can be stopped and started again (its state survives)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: Any = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.mark.slow
def test_s3_server_stopped_while_polling(tmp_path, start, publisher, port_finder, waiter, metric):
    moto = RestartableMoto(port_finder())
    moto.start()
    options = {
        "key": "k",
        "secret": "s",
        "endpoint_url": f"http://127.0.0.1:{moto.port}",
        "config_kwargs": {"connect_timeout": 1, "read_timeout": 2, "retries": {"max_attempts": 1}},
    }
    try:
        import fsspec

        bucket = f"poll-{uuid.uuid4().hex[:8]}"
        fsspec.filesystem("s3", skip_instance_cache=True, **options).mkdir(bucket)
        url = f"s3://{bucket}/reg"
        reg = ModelRegistry(url, options)
        publisher(reg, tmp_path / "build", "fast-cnn", "1.0.0", seed=1)
        publisher(reg, tmp_path / "build", "fast-cnn", "1.1.0", seed=2, num_speakers=3, aliases=())
        srv = start(settings_for(url, tmp_path, poll_interval_s=0.3, storage_options=options))
        with srv.client() as client:
            still_serving(client, "1.0.0")
            moto.stop()
            assert waiter(
                lambda: any("registry poll failed" in r for r in client.get("/ready").json()["reasons"]), timeout=30
            )
            for _ in range(5):  # keeps answering while every poll fails
                still_serving(client, "1.0.0")
            resp = client.post("/admin/reload", json={"version": "1.1.0"}, headers=AUTH)
            assert resp.status_code in (409, 503), resp.text
            assert failures(client, metric, "admin") == 1
            moto.start()
            reg.promote("fast-cnn", "1.1.0")
            assert waiter(lambda: client.get("/ready").json()["version"] == "1.1.0", timeout=30)
    finally:
        moto.stop()


# ------------------------------------------------------------------------------------------------ disk full
@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str = "1m") -> Iterator[Path]:
    """Mount a ``size`` tmpfs at ``path`` (needs root); skip the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {exc}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def fill(directory: Path) -> Path:
    """Write a filler file until the filesystem is full (ENOSPC); returns it."""
    filler = directory / "filler.bin"
    with filler.open("wb", buffering=0) as fh:  # unbuffered: ENOSPC surfaces in write(), not in close()
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_cache_disk_full(registry, start, tmp_path, metric, model_builder, waiter):
    """The cache directory's disk fills up: pulls and watch-dir snapshots fail with ENOSPC, are refused and counted,
    leave no partial file, and the old model keeps serving; once space is back the same reload works."""
    with tiny_tmpfs(tmp_path / "cache") as cache:
        watch = tmp_path / "watch"
        watch.mkdir()
        srv = start(settings_for(registry["url"], tmp_path, watch_dir=watch))
        with srv.client() as client:
            still_serving(client, "1.0.0")
            filler = fill(cache)
            resp = client.post("/admin/reload", json={"version": "1.1.0"}, headers=AUTH)
            assert resp.status_code in (409, 503), resp.text
            assert failures(client, metric, "admin") == 1
            status = still_serving(client, "1.0.0")
            assert "No space left" in status["last_error"] or "space" in status["last_error"].lower(), status
            assert not (cache / "fast-cnn" / "1.1.0" / "model.onnx").exists()
            assert not list(cache.rglob(".tmp-*")) and not list(cache.rglob(".snapshot.*"))

            (watch / "model.onnx").write_bytes(model_builder(tmp_path / "w.onnx", seed=8).read_bytes())
            assert waiter(lambda: failures(client, metric, "watch") >= 1, timeout=30)
            still_serving(client, "1.0.0")

            filler.unlink()  # space is back
            resp = client.post("/admin/reload", json={"version": "1.1.0"}, headers=AUTH)
            assert resp.status_code == 200 and resp.json()["version"] == "1.1.0", resp.text
