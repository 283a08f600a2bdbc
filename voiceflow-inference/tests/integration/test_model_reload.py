"""Hot reload (watch dir and registry poller) under load, refused models, rollback, pin, A/B, cache fallback."""

from __future__ import annotations

import math
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from voiceflow_inference.cli import main as cli_main

TOKEN = "test-admin-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def registry(tmp_path: Path, publisher) -> dict[str, Any]:
    """fast-cnn 1.0.0 (2 speakers, latest) and 1.1.0 (3 speakers, not promoted)."""
    from voiceflow_contract.registry import ModelRegistry

    root = tmp_path / "registry"
    reg = ModelRegistry(root.as_uri())
    publisher(reg, tmp_path / "build", "fast-cnn", "1.0.0", seed=1, num_speakers=2)
    publisher(reg, tmp_path / "build", "fast-cnn", "1.1.0", seed=2, num_speakers=3, aliases=())
    return {"url": root.as_uri(), "root": root, "registry": reg, "build": tmp_path / "build"}


class Load:
    """Background REST and OIP clients hammering the server; records every status and served version."""

    def __init__(self, url: str, batch: np.ndarray, body: tuple[bytes, dict[str, str]], threads: int = 3) -> None:
        self.url = url
        self.stop = threading.Event()
        self.results: list[tuple[int, str | None, str]] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.payload = {"audio": batch.tolist()}
        self.oip = body
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, index: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    if index % 2 == 0:
                        r = client.post("/infer", json=self.payload, headers={"X-Request-ID": f"{index}-{n}"})
                        version = r.json().get("version") if r.status_code == 200 else None
                    else:
                        r = client.post("/v2/models/fast-cnn/infer", content=self.oip[0], headers=self.oip[1])
                        version = r.headers.get("x-model-version")
                    with self.lock:
                        self.results.append((r.status_code, version, "rest" if index % 2 == 0 else "oip"))
                except Exception as exc:  # a dropped connection is a failed request too
                    with self.lock:
                        self.errors.append(repr(exc))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def assert_no_failures(self) -> Counter[str | None]:
        assert self.errors == []
        statuses = Counter(status for status, _, _ in self.results)
        assert set(statuses) == {200}, statuses
        return Counter(version for _, version, _ in self.results)


def _ready(client: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/ready").json()
    return body


def test_watch_dir_hot_reload_under_load_fails_nothing(registry, serve, tmp_path, audio, oip_body, waiter, metric):
    watch = tmp_path / "watch"
    srv = serve(registry["url"], tmp_path, watch_dir=watch)
    with srv.client() as client:
        assert _ready(client)["version"] == "1.0.0"
        with Load(srv.url, audio(1), oip_body(audio(1))) as load:
            assert waiter(lambda: len(load.results) >= 10)
            # The seed's hot_reload.sh flow: pull, validate, atomic move into the watch dir.
            code = cli_main(
                [
                    "hot-reload",
                    "1.1.0",
                    "fast-cnn",
                    "--registry",
                    registry["url"],
                    "--watch-dir",
                    str(watch),
                    "--cache-dir",
                    str(tmp_path / "cli-cache"),
                ]
            )
            assert code == 0
            assert (watch / "model.onnx").is_file() and (watch / "model.onnx.json").is_file()
            assert waiter(lambda: _ready(client)["version"] == "1.1.0", timeout=30)
            seen = len(load.results)
            assert waiter(lambda: len(load.results) >= seen + 10)
        versions = load.assert_no_failures()
        assert versions["1.0.0"] > 0 and versions["1.1.0"] > 0
        status = _ready(client)
        assert status["source"] == "watch" and status["history"] == ["1.0.0", "1.1.0"]
        text = client.get("/metrics").text
        assert metric(text, "voiceflow_model_reloads_total", result="success", trigger="watch") == 1
        assert metric(text, "voiceflow_model_info", version="1.0.0", role="standby") == 1
        assert metric(text, "voiceflow_model_info", version="1.1.0", role="active") == 1


def test_registry_promote_is_picked_up_by_the_poller_under_load(
    registry, serve, tmp_path, audio, oip_body, waiter, metric
):
    srv = serve(registry["url"], tmp_path, poll_interval_s=0.2)
    with srv.client() as client:
        assert _ready(client)["version"] == "1.0.0"
        with Load(srv.url, audio(1), oip_body(audio(1))) as load:
            assert waiter(lambda: len(load.results) >= 10)
            registry["registry"].promote("fast-cnn", "1.1.0", "latest")
            assert waiter(lambda: _ready(client)["version"] == "1.1.0", timeout=30)
            seen = len(load.results)
            assert waiter(lambda: len(load.results) >= seen + 10)
        versions = load.assert_no_failures()
        assert versions["1.0.0"] > 0 and versions["1.1.0"] > 0
        text = client.get("/metrics").text
        assert metric(text, "voiceflow_model_reloads_total", result="success", trigger="poll") == 1
        # The pointer moves back: the poller follows (a registry-side rollback).
        registry["registry"].rollback("fast-cnn", "latest")
        assert waiter(lambda: _ready(client)["version"] == "1.0.0", timeout=30)
        # The registry vanishes while polling: degraded, still serving; back again: healthy.
        registry["root"].rename(tmp_path / "registry-away")
        assert waiter(lambda: any("registry poll failed" in r for r in _ready(client)["reasons"]), timeout=30)
        assert client.post("/infer", json={"audio": audio(1).tolist()}).json()["version"] == "1.0.0"
        (tmp_path / "registry-away").rename(registry["root"])
        assert waiter(lambda: _ready(client)["reasons"] == [], timeout=30)


def _failures(client: httpx.Client, metric, trigger: str) -> float:
    return metric(client.get("/metrics").text, "voiceflow_model_reloads_total", result="failure", trigger=trigger)


def test_broken_models_are_refused_and_the_old_one_keeps_serving(
    registry, serve, tmp_path, audio, model_builder, publisher, waiter, metric
):
    watch = tmp_path / "watch"
    srv = serve(registry["url"], tmp_path, watch_dir=watch)
    good = model_builder(tmp_path / "good.onnx", seed=5)

    def drop(data: bytes, sidecar: str | None = None) -> None:
        if sidecar is not None:
            (watch / "model.onnx.json").write_text(sidecar)
        tmp = watch / ".incoming.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, watch / "model.onnx")  # atomic, like hot_reload.sh's mv

    contract_breaker = model_builder(tmp_path / "nosoftmax.onnx", softmax=False).read_bytes()
    wrong_sha = '{"model_name": "fast-cnn", "version": "1.5.0", "sha256": "' + "0" * 64 + '"}'
    cases = [
        ("garbage", lambda: drop(b"this is not an onnx model" * 100)),
        ("truncated", lambda: drop(good.read_bytes()[: good.stat().st_size // 2])),
        ("contract", lambda: drop(contract_breaker)),
        ("checksum", lambda: drop(good.read_bytes(), sidecar=wrong_sha)),
    ]
    with srv.client() as client:
        watch.mkdir(exist_ok=True)
        for expected, (name, action) in enumerate(cases, start=1):
            action()
            assert waiter(lambda n=expected: _failures(client, metric, "watch") >= n, timeout=20), name
            status = _ready(client)
            assert status["ready"] and status["version"] == "1.0.0", name
            assert status["last_error"], name
            resp = client.post("/infer", json={"audio": audio(1).tolist()})
            assert resp.status_code == 200 and resp.json()["version"] == "1.0.0", name
        assert "sidecar" in _ready(client)["last_error"]
        snapshots = list((tmp_path / "cache" / ".voiceflow-inference" / "watch").glob("*.onnx"))
        assert snapshots == []  # refused files leave nothing behind
        # A tampered registry file is caught by the sha256 check at pull: 409, counted, old model serving.
        publish_tampered(registry, tmp_path, model_builder, publisher)
        resp = client.post("/admin/reload", json={"version": "1.2.0"}, headers=AUTH)
        assert resp.status_code == 409 and "reload_refused" in resp.json()["code"], resp.text
        assert _failures(client, metric, "admin") == 1
        assert _ready(client)["version"] == "1.0.0"
        assert client.post("/admin/reload", json={"version": "7.7.7"}, headers=AUTH).status_code == 409


def publish_tampered(registry: dict[str, Any], tmp_path: Path, model_builder, publish) -> None:
    """Publish 1.2.0, then replace its model.onnx in the registry by other (valid) bytes."""
    publish(registry["registry"], registry["build"], "fast-cnn", "1.2.0", seed=9, aliases=())
    stored = registry["root"] / "fast-cnn" / "v1.2.0" / "model.onnx"
    assert stored.is_file()
    stored.write_bytes(model_builder(tmp_path / "impostor.onnx", seed=10).read_bytes())


def test_admin_reload_rollback_and_pin(registry, serve, tmp_path, metric):
    srv = serve(registry["url"], tmp_path)
    with srv.client() as client:
        reload = client.post("/admin/reload", json={"version": "1.1.0"}, headers=AUTH)
        assert reload.status_code == 200 and reload.json()["version"] == "1.1.0"
        assert client.post("/infer", json={"audio": [[0.0] * 48000]}).json()["num_speakers"] == 3
        back = client.post("/admin/rollback", headers=AUTH)  # no body: the previous version
        assert back.status_code == 200 and back.json()["version"] == "1.0.0"
        assert client.post("/infer", json={"audio": [[0.0] * 48000]}).json()["version"] == "1.0.0"
        models = client.get("/admin/models", headers=AUTH).json()
        assert {m["version"]: m["role"] for m in models["loaded"]} == {"1.0.0": "active", "1.1.0": "standby"}
        # curl -d sends a form Content-Type: the body is still read as JSON.
        form = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
        pinned = client.post("/admin/pin", content=b'{"version": "1.1.0"}', headers=form).json()
        assert pinned["version"] == "1.1.0" and pinned["pinned"] == "1.1.0"
        unpinned = client.post("/admin/pin", json={"version": None}, headers=AUTH).json()
        assert unpinned["pinned"] is None and unpinned["version"] == "1.1.0"
        nothing = client.post("/admin/rollback", json={"version": "3.0.0"}, headers=AUTH)
        assert nothing.status_code == 409
        assert (
            metric(client.get("/metrics").text, "voiceflow_model_reloads_total", result="success", trigger="admin") >= 3
        )


def test_ab_split_is_weighted_and_sticky(registry, serve, tmp_path, audio, oip_body, metric):
    srv = serve(registry["url"], tmp_path)
    weights = {"1.0.0": 0.7, "1.1.0": 0.3}
    with srv.client() as client:
        resp = client.post("/admin/ab", json={"weights": weights}, headers=AUTH)
        assert resp.status_code == 200 and resp.json()["weights"] == pytest.approx(weights)
        body, headers = oip_body(audio(1))
        seen: dict[str, str] = {}
        for i in range(300):
            rid = f"request-{i}"
            r = client.post("/v2/models/fast-cnn/infer", content=body, headers={**headers, "X-Request-ID": rid})
            assert r.status_code == 200
            seen[rid] = r.headers["x-model-version"]
        # The share is within a binomial bound (4 standard errors) of the weight: checked from outside the hash.
        share = sum(v == "1.0.0" for v in seen.values()) / len(seen)
        assert abs(share - 0.7) <= 4 * math.sqrt(0.7 * 0.3 / len(seen)), share
    # Sticky from outside: the same ids on a new connection, over the other protocol, get the same versions.
    with srv.client() as other:
        for rid in list(seen)[:60]:
            again = other.post("/infer", json={"audio": audio(1).tolist()}, headers={"X-Request-ID": rid})
            assert again.json()["version"] == seen[rid], rid
    with srv.client() as client:
        text = client.get("/metrics").text
        a = metric(text, "voiceflow_ab_assignments_total", version="1.0.0")
        b = metric(text, "voiceflow_ab_assignments_total", version="1.1.0")
        # Every A/B request counts once for the arm it went to: the 300 and the 60 repeats (this server is the test's).
        assigned = Counter(seen.values()) + Counter(seen[rid] for rid in list(seen)[:60])
        assert (a, b) == (assigned["1.0.0"], assigned["1.1.0"])
        assert metric(text, "voiceflow_model_info", version="1.1.0", role="ab") == 1
        assert client.post("/admin/ab", json={"weights": {"1.0.0": 1.0}}, headers=AUTH).status_code == 422
        assert client.post("/admin/ab", json={"weights": {}}, headers=AUTH).json()["weights"] == {}
        assert {
            client.post("/infer", json={"audio": audio(1).tolist()}, headers={"X-Request-ID": rid}).json()["version"]
            for rid in list(seen)[:20]
        } == {"1.0.0"}


def test_ab_split_from_config(registry, serve, tmp_path, audio, oip_body):
    srv = serve(registry["url"], tmp_path, ab_weights={"1.0.0": 0.5, "1.1.0": 0.5})
    with srv.client() as client:
        status = _ready(client)
        assert status["ab_weights"] == {"1.0.0": 0.5, "1.1.0": 0.5}
        body, headers = oip_body(audio(1))
        versions = {
            client.post(
                "/v2/models/fast-cnn/infer", content=body, headers={**headers, "X-Request-ID": f"k{i}"}
            ).headers["x-model-version"]
            for i in range(40)
        }
        assert versions == {"1.0.0", "1.1.0"}


def test_registry_unreachable_at_start_serves_the_verified_cache(registry, serve, tmp_path, audio):
    first = serve(registry["url"], tmp_path)
    with first.client() as client:
        assert _ready(client)["source"] == "registry"
    first.stop()
    registry["root"].rename(tmp_path / "registry-gone")  # the registry disappears
    second = serve(registry["url"], tmp_path)
    with second.client() as client:
        ready = client.get("/ready")
        assert ready.status_code == 200
        status = ready.json()
        assert status["source"] == "cache" and status["version"] == "1.0.0" and status["degraded"]
        assert any("cached copy 1.0.0" in reason for reason in status["reasons"]), status["reasons"]
        assert client.post("/infer", json={"audio": audio(1).tolist()}).json()["version"] == "1.0.0"
    empty = serve(registry["url"], tmp_path / "elsewhere")
    with empty.client() as client:
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert "no verified cached copy" in " ".join(ready.json()["reasons"])
        resp = client.post("/infer", json={"audio": audio(1).tolist()})
        assert resp.status_code == 503 and resp.json()["code"] == "not_ready"
        assert client.get("/health").status_code == 200
