"""Section 2, serving overhead: bare ONNX Runtime with the server's session options, then each front door's round trip
at concurrency 1 minus bare ONNX Runtime measured alongside; the HTTP stack floor and the VAD's share."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np

from voiceflow_bench.config import MODEL_NAME, OIP_BINARY_OVERHEAD_TARGET_MS, WS_OVERHEAD_TARGET_MS
from voiceflow_bench.recorder import Recorder
from voiceflow_bench.serving.audio import window_batch
from voiceflow_bench.serving.bare_ort import ThroughputPoint, bare_latency, best_batched_throughput
from voiceflow_bench.serving.roundtrip import (
    Call,
    bare_caller,
    health_latency,
    interleaved_samples,
    oip_caller,
    overhead_ms,
    rest_caller,
    ws_window_caller,
)
from voiceflow_bench.serving.server import ServerProcess
from voiceflow_bench.serving.stats import Row, Summary, at_most, summarize
from voiceflow_contract.diarization import is_speech
from voiceflow_contract.spec import SAMPLE_RATE


def vad_cost_ms(runs: int = 200) -> float:
    """Median time of the streaming path's VAD (``is_speech``) on one speech window, in ms."""
    window = window_batch(1)[0]
    samples = []
    for _ in range(runs + 10):
        started = time.perf_counter()
        is_speech(window, SAMPLE_RATE)
        samples.append(time.perf_counter() - started)
    return round(float(np.median(samples[10:])) * 1000.0, 4)


def bare_ort(rec: Recorder, model_path: Path, threads: int) -> tuple[Summary, ThroughputPoint]:
    """Bare ORT with the server's session options (same file, same threads) + best batched throughput."""
    config = rec.config
    bare = bare_latency(model_path, threads=threads, runs=config.bare_runs)
    best, points = best_batched_throughput(model_path, batch_sizes=config.batch_sizes, seconds=config.batch_seconds)
    rec.raw["bare_ort"] = {"latency": bare.to_dict(), "threads": threads}
    rec.raw["bare_ort_throughput"] = [p.__dict__ for p in points]
    rec.add(
        Row("serving", f"bare ORT p50 ({threads} thread, server options)", bare.p50_ms, "ms", "reference"),
        Row("serving", f"bare ORT p99 ({threads} thread, server options)", bare.p99_ms, "ms", "reference"),
    )
    return bare, best


def overhead(rec: Recorder, server: ServerProcess, model_path: Path, threads: int) -> None:
    """Round trips at concurrency 1 minus bare ORT, each endpoint interleaved with bare ORT in blocks of 10 calls so
    that both see the same background load."""
    runs = rec.config.roundtrip_runs
    doors: dict[str, tuple[Callable[[], AbstractContextManager[Call]], float | None]] = {
        "REST /infer (JSON)": (lambda: rest_caller(server.url), None),
        "OIP infer JSON": (lambda: oip_caller(server.url, MODEL_NAME, binary=False), None),
        "OIP infer binary": (lambda: oip_caller(server.url, MODEL_NAME, binary=True), OIP_BINARY_OVERHEAD_TARGET_MS),
        "WebSocket window": (lambda: ws_window_caller(server.ws_url), WS_OVERHEAD_TARGET_MS),
    }
    rec.raw["roundtrip"] = {}
    with bare_caller(model_path, threads) as bare_call:
        for name, (caller, target) in doors.items():
            with caller() as call:
                (door_s, bare_s), (door_failed, _) = interleaved_samples([call, bare_call], runs=runs)
            summary, bare = summarize(door_s, door_failed), summarize(bare_s)
            over = overhead_ms(summary, bare)
            rec.raw["roundtrip"][name] = {
                **summary.to_dict(),
                "overhead_p50_ms": over,
                "bare_interleaved": bare.to_dict(),
                # The distributions themselves (ms), for the latency picture (voiceflow_bench.plots).
                "samples_ms": [round(x * 1000.0, 4) for x in door_s],
                "bare_samples_ms": [round(x * 1000.0, 4) for x in bare_s],
            }
            note = (
                f"round trip p50 {summary.p50_ms:.2f} / p99 {summary.p99_ms:.2f} ms; "
                f"bare ORT alongside p50 {bare.p50_ms:.2f} ms"
            )
            if summary.failures:
                note += f"; {summary.failures} failed"
            if target is None:
                rec.add(Row("serving", f"{name} overhead p50", over, "ms", "info", "info", note))
            else:
                rec.add(
                    Row("serving", f"{name} overhead p50", over, "ms", f"<= {target:g}", at_most(over, target), note)
                )

    floor = health_latency(server.url, runs=runs)
    rec.raw["health_roundtrip"] = floor.to_dict()
    rec.add(
        Row(
            "serving",
            "GET /health round trip (HTTP stack floor)",
            floor.p50_ms,
            "ms",
            "info",
            "info",
            f"p99 {floor.p99_ms:.2f} ms; no model, no body: what any HTTP route costs here",
        )
    )
    vad = vad_cost_ms(runs=max(50, runs))
    rec.raw["vad_ms"] = vad
    ws_over = rec.raw["roundtrip"]["WebSocket window"]["overhead_p50_ms"]
    rec.add(
        Row(
            "serving",
            "VAD per window (part of the WebSocket overhead)",
            vad,
            "ms",
            "info",
            "info",
            f"WebSocket overhead without VAD: {ws_over - vad:.2f} ms",
        )
    )
