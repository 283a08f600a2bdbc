"""The micro-batcher behind a live server (VOICEFLOW_BATCHING__*): concurrent REST and OIP requests are merged into
one ONNX Runtime run, and every caller still gets exactly its own rows, checked against a separate unbatched ONNX
Runtime session on the file the server pulled from the registry."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from voiceflow_contract.runtime import create_session

REQUESTS = [(1, "rest"), (3, "oip"), (2, "rest"), (1, "oip"), (2, "oip"), (3, "rest"), (1, "rest"), (2, "oip")]


def unbatched(session: Any, batch: np.ndarray) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {session.get_inputs()[0].name: batch}), strict=True))


def decode_oip_binary(content: bytes, head_len: int) -> dict[str, np.ndarray]:
    head = orjson.loads(content[:head_len])
    offset, out = head_len, {}
    for tensor in head["outputs"]:
        size = tensor["parameters"]["binary_data_size"]
        out[tensor["name"]] = np.frombuffer(content[offset : offset + size], dtype="<f4").reshape(tensor["shape"])
        offset += size
    return out


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(
    registry_two_versions: dict[str, Any], serve, tmp_path: Path, audio, oip_body, waiter, monkeypatch
) -> None:
    monkeypatch.setenv("VOICEFLOW_BATCHING__ENABLED", "true")
    monkeypatch.setenv("VOICEFLOW_BATCHING__MAX_BATCH", "32")
    monkeypatch.setenv("VOICEFLOW_BATCHING__MAX_DELAY_MS", "0")
    monkeypatch.setenv("VOICEFLOW_BATCHING__MAX_CONCURRENT", "1")
    live = serve(registry_two_versions["url"], tmp_path)
    manager = live.app.state.models
    assert manager.active.version == "1.1.0"
    batcher = manager.active.engine.batcher
    assert batcher is not None, "VOICEFLOW_BATCHING__ENABLED did not enable the micro-batcher"

    # The oracle: the pulled file (found by the sha256 the registry published), run unbatched by its own session.
    digest = registry_two_versions["registry"].show("fast-cnn", "1.1.0").sha256
    pulled = [p for p in (tmp_path / "cache").rglob("*.onnx") if hashlib.sha256(p.read_bytes()).hexdigest() == digest]
    assert pulled
    reference = create_session(pulled[0])

    # Make the merge deterministic (no reliance on timing): the first batch is held until every other request is
    # queued behind it; with max_concurrent=1 the next leader then takes all of them as one batch.
    real_run = batcher._run_batch
    batch_rows: list[int] = []

    def gated(data: np.ndarray) -> dict[str, np.ndarray]:
        batch_rows.append(int(data.shape[0]))
        if len(batch_rows) == 1:
            assert waiter(lambda: len(batcher._pending) == len(REQUESTS) - 1, timeout=120), "requests never queued"
        return real_run(data)

    monkeypatch.setattr(batcher, "_run_batch", gated)

    batches = [audio(rows, seed=100 + i) for i, (rows, _) in enumerate(REQUESTS)]
    answers: list[Any] = [None] * len(REQUESTS)
    start = threading.Barrier(len(REQUESTS))

    def call(i: int) -> None:
        protocol = REQUESTS[i][1]
        with live.client() as client:
            start.wait()
            if protocol == "rest":
                resp = client.post("/infer", json={"audio": batches[i].tolist(), "return_embeddings": True})
                assert resp.status_code == 200, resp.text
                body = resp.json()
                answers[i] = {"speaker_embeddings": np.array(body["probabilities"]), "embedding": body["embeddings"]}
            else:
                content, headers = oip_body(batches[i], request_id=f"r{i}")
                resp = client.post("/v2/models/fast-cnn/infer", content=content, headers=headers)
                assert resp.status_code == 200, resp.text
                answers[i] = decode_oip_binary(resp.content, int(resp.headers["inference-header-content-length"]))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(REQUESTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert all(not t.is_alive() for t in threads) and all(a is not None for a in answers)

    total = sum(rows for rows, _ in REQUESTS)
    assert len(batch_rows) == 2 and sum(batch_rows) == total, batch_rows  # seven requests ran as one batch
    assert batch_rows[1] == total - batch_rows[0] > 3
    for i, answer in enumerate(answers):
        expected = unbatched(reference, batches[i])
        for name in ("speaker_embeddings", "embedding"):
            got = np.asarray(answer[name], dtype=np.float32)
            assert got.shape == expected[name].shape, (i, name)
            assert np.allclose(got, expected[name], rtol=1e-5, atol=1e-6), (i, REQUESTS[i], name)

    # Triton's statistics count the merged executions, not the requests (and keep no per-request-size breakdown).
    with live.client() as client:
        stats = client.get("/v2/models/fast-cnn/versions/1.1.0/stats").json()["model_stats"][0]
        config = client.get("/v2/models/fast-cnn/config").json()
    assert (stats["inference_count"], stats["execution_count"]) == (total, len(batch_rows))
    assert stats["inference_stats"]["success"]["count"] == len(REQUESTS) and stats["batch_stats"] == []
    assert config["dynamic_batching"] == {"preferred_batch_size": [], "max_queue_delay_microseconds": 0}


def test_batching_is_off_unless_enabled(registry_two_versions, serve, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("VOICEFLOW_BATCHING__ENABLED", raising=False)
    live = serve(registry_two_versions["url"], tmp_path)
    assert live.app.state.models.active.engine.batcher is None
