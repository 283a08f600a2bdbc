"""Round-trip latency at concurrency 1 through each front door: REST /infer (httpx), OIP JSON and OIP binary
(tritonclient.http, as a Triton/KServe client would call us) and one WebSocket window (websockets)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import numpy as np
import orjson

from voiceflow_inference.benchmarks.audio import window_batch
from voiceflow_inference.benchmarks.stats import Summary, summarize


def _timed(call: Callable[[], bool], runs: int, warmup: int) -> Summary:
    failures = 0
    for _ in range(warmup):
        call()
    samples: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        ok = call()
        elapsed = time.perf_counter() - started
        if ok:
            samples.append(elapsed)
        else:
            failures += 1
    return summarize(samples, failures)


def rest_latency(url: str, *, runs: int = 200, warmup: int = 10) -> Summary:
    """``POST /infer`` with one window (body pre-serialised: the client's JSON encoding is not timed)."""
    body = orjson.dumps({"audio": window_batch(1).tolist()})
    with httpx.Client(base_url=url, timeout=30.0) as client:

        def call() -> bool:
            response = client.post("/infer", content=body, headers={"Content-Type": "application/json"})
            return response.status_code == 200 and len(response.json()["probabilities"]) == 1

        return _timed(call, runs, warmup)


def health_latency(url: str, *, runs: int = 200, warmup: int = 10) -> Summary:
    """``GET /health`` (no model, no body): the HTTP stack's own floor, to read the other overheads against."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        return _timed(lambda: client.get("/health").status_code == 200, runs, warmup)


def oip_latency(url: str, model: str, *, binary: bool, runs: int = 200, warmup: int = 10) -> Summary:
    """OIP infer through tritonclient.http with one window, JSON (``binary=False``) or the binary extension.

    The whole client call is timed, including tritonclient's own encoding of the tensor (what a user pays)."""
    import tritonclient.http as triton  # test/bench dependency, imported only here

    client = triton.InferenceServerClient(url=url.removeprefix("http://"), network_timeout=30.0)
    audio = window_batch(1)
    try:

        def call() -> bool:
            tensor = triton.InferInput("audio", list(audio.shape), "FP32")
            tensor.set_data_from_numpy(audio, binary_data=binary)
            output = triton.InferRequestedOutput("speaker_embeddings", binary_data=binary)
            try:
                result = client.infer(model, [tensor], outputs=[output])
            except Exception:  # tritonclient raises InferenceServerException and socket errors alike
                return False
            probs = result.as_numpy("speaker_embeddings")
            return probs is not None and probs.shape[0] == 1

        return _timed(call, runs, warmup)
    finally:
        client.close()


def ws_window_latency(ws_url: str, *, runs: int = 200, warmup: int = 10) -> Summary:
    """One WebSocket window: send exactly one 1 s float32 frame (hop 1 s) and wait for its ``window`` message."""
    from websockets.sync.client import connect

    frame = window_batch(1)[0].astype("<f4").tobytes()
    with connect(ws_url, max_size=2**22, open_timeout=30) as ws:
        ws.send(orjson.dumps({"type": "start", "sample_rate": 48000, "encoding": "pcm_f32le", "hop_s": 1.0}).decode())
        started = orjson.loads(ws.recv(timeout=30))
        if started.get("type") != "started":
            raise RuntimeError(f"expected 'started', got {started}")

        def call() -> bool:
            ws.send(frame)
            message = orjson.loads(ws.recv(timeout=30))
            return bool(message.get("type") == "window" and message.get("probabilities") is not None)

        summary = _timed(call, runs, warmup)
        ws.send(orjson.dumps({"type": "stop"}).decode())
        return summary


def overhead_ms(endpoint: Summary, bare: Summary) -> float:
    """Serving overhead at p50: endpoint round trip minus bare ONNX Runtime (same file, same threads)."""
    return round(endpoint.p50_ms - bare.p50_ms, 4) if np.isfinite(endpoint.p50_ms) else float("nan")


__all__ = ["health_latency", "oip_latency", "overhead_ms", "rest_latency", "ws_window_latency"]
