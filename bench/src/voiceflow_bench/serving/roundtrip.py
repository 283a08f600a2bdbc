"""Round-trip latency at concurrency 1 through each front door: REST /infer (httpx), OIP JSON and OIP binary
(tritonclient.http, as a Triton/KServe client would call us) and one WebSocket window (websockets).

Each front door is a *caller* (a context manager yielding ``call() -> bool``). ``interleaved`` times an endpoint and
bare ONNX Runtime in alternating blocks, so both see the same background load: on a shared machine that is what
makes "endpoint minus bare ORT" meaningful.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import orjson
import tritonclient.http as triton
from websockets.sync.client import connect

from voiceflow_bench.serving.audio import window_batch
from voiceflow_bench.serving.stats import Summary, summarize
from voiceflow_contract.spec import PROBABILITIES_OUTPUT, SAMPLE_RATE
from voiceflow_inference.runtime.onnx_model import InferenceEngine

Call = Callable[[], bool]


def _timed(call: Call, runs: int, warmup: int) -> Summary:
    return interleaved([call], runs=runs, warmup=warmup)[0]


def interleaved(calls: list[Call], *, runs: int = 200, warmup: int = 10, block: int = 10) -> list[Summary]:
    """Time each call ``runs`` times, alternating blocks of ``block`` calls between them; one Summary per call."""
    samples, failures = interleaved_samples(calls, runs=runs, warmup=warmup, block=block)
    return [summarize(s, f) for s, f in zip(samples, failures, strict=True)]


def interleaved_samples(
    calls: list[Call], *, runs: int = 200, warmup: int = 10, block: int = 10
) -> tuple[list[list[float]], list[int]]:
    """Like :func:`interleaved`, but the per-call latencies themselves (seconds) and failure counts."""
    for call in calls:
        for _ in range(warmup):
            call()
    samples: list[list[float]] = [[] for _ in calls]
    failures = [0] * len(calls)
    done = 0
    while done < runs:
        n = min(block, runs - done)
        for k, call in enumerate(calls):
            for _ in range(n):
                started = time.perf_counter()
                ok = call()
                elapsed = time.perf_counter() - started
                if ok:
                    samples[k].append(elapsed)
                else:
                    failures[k] += 1
        done += n
    return samples, failures


@contextmanager
def bare_caller(path: str | Path, threads: int = 1) -> Iterator[Call]:
    """``session.run`` at batch 1 with the server's session options."""
    engine = InferenceEngine(path, intra_op_threads=threads, inter_op_threads=1)
    feed = {engine.input_name: window_batch(1)}

    def call() -> bool:
        engine.session.run(None, feed)
        return True

    yield call


@contextmanager
def health_caller(url: str) -> Iterator[Call]:
    """``GET /health`` (no model, no body): the HTTP stack's own floor."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        yield lambda: client.get("/health").status_code == 200


@contextmanager
def rest_caller(url: str) -> Iterator[Call]:
    """``POST /infer`` with one window (body pre-serialised: the client's JSON encoding is not timed)."""
    body = orjson.dumps({"audio": window_batch(1).tolist()})
    with httpx.Client(base_url=url, timeout=30.0) as client:

        def call() -> bool:
            response = client.post("/infer", content=body, headers={"Content-Type": "application/json"})
            return response.status_code == 200 and len(response.json()["probabilities"]) == 1

        yield call


@contextmanager
def oip_caller(url: str, model: str, *, binary: bool) -> Iterator[Call]:
    """OIP infer through tritonclient.http with one window, JSON (``binary=False``) or the binary extension.

    The whole client call is timed, including tritonclient's own encoding of the tensor (what a user pays)."""
    client = triton.InferenceServerClient(url=url.removeprefix("http://"), network_timeout=30.0)
    audio = window_batch(1)

    def call() -> bool:
        tensor = triton.InferInput("audio", list(audio.shape), "FP32")
        tensor.set_data_from_numpy(audio, binary_data=binary)
        output = triton.InferRequestedOutput(PROBABILITIES_OUTPUT, binary_data=binary)
        try:
            result = client.infer(model, [tensor], outputs=[output])
        except Exception:  # tritonclient raises InferenceServerException and socket errors alike
            return False
        probs = result.as_numpy(PROBABILITIES_OUTPUT)
        return probs is not None and probs.shape[0] == 1

    try:
        yield call
    finally:
        client.close()


@contextmanager
def ws_window_caller(ws_url: str) -> Iterator[Call]:
    """One WebSocket window: send exactly one 1 s float32 frame (hop 1 s) and wait for its ``window`` message."""
    frame = window_batch(1)[0].astype("<f4").tobytes()
    with connect(ws_url, max_size=2**22, open_timeout=30) as ws:
        ws.send(
            orjson.dumps({"type": "start", "sample_rate": SAMPLE_RATE, "encoding": "pcm_f32le", "hop_s": 1.0}).decode()
        )
        started = orjson.loads(ws.recv(timeout=30))
        if started.get("type") != "started":
            raise RuntimeError(f"expected 'started', got {started}")

        def call() -> bool:
            ws.send(frame)
            message = orjson.loads(ws.recv(timeout=30))
            return bool(message.get("type") == "window" and message.get("probabilities") is not None)

        yield call
        ws.send(orjson.dumps({"type": "stop"}).decode())


def health_latency(url: str, *, runs: int = 200, warmup: int = 10) -> Summary:
    """``GET /health`` round trip."""
    with health_caller(url) as call:
        return _timed(call, runs, warmup)


def rest_latency(url: str, *, runs: int = 200, warmup: int = 10) -> Summary:
    """``POST /infer`` round trip with one window."""
    with rest_caller(url) as call:
        return _timed(call, runs, warmup)


def oip_latency(url: str, model: str, *, binary: bool, runs: int = 200, warmup: int = 10) -> Summary:
    """OIP infer round trip (tritonclient) with one window."""
    with oip_caller(url, model, binary=binary) as call:
        return _timed(call, runs, warmup)


def ws_window_latency(ws_url: str, *, runs: int = 200, warmup: int = 10) -> Summary:
    """One WebSocket window round trip."""
    with ws_window_caller(ws_url) as call:
        return _timed(call, runs, warmup)


def overhead_ms(endpoint: Summary, bare: Summary) -> float:
    """Serving overhead at p50: endpoint round trip minus bare ONNX Runtime (same file, same threads)."""
    return round(endpoint.p50_ms - bare.p50_ms, 4) if np.isfinite(endpoint.p50_ms) else float("nan")


__all__ = [
    "bare_caller",
    "health_caller",
    "health_latency",
    "interleaved",
    "oip_caller",
    "oip_latency",
    "overhead_ms",
    "rest_caller",
    "rest_latency",
    "ws_window_caller",
    "ws_window_latency",
]
