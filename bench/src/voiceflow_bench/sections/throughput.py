"""Section 3, throughput: binary OIP at each concurrency beside bare ONNX Runtime's best batched throughput, and the
same sweep (plus the concurrency-1 latency) against a server with the micro-batcher on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voiceflow_bench.config import BATCHING_ENV, MODEL_NAME, OIP_BINARY_OVERHEAD_TARGET_MS, THROUGHPUT_FRACTION_TARGET
from voiceflow_bench.recorder import Recorder, finite
from voiceflow_bench.serving.bare_ort import ThroughputPoint
from voiceflow_bench.serving.http_client import oip_binary_request
from voiceflow_bench.serving.roundtrip import bare_caller, interleaved, oip_caller, overhead_ms
from voiceflow_bench.serving.server import ServerProcess
from voiceflow_bench.serving.stats import Row, at_least, at_most
from voiceflow_bench.serving.throughput import measure_throughput
from voiceflow_contract.spec import WINDOW_SAMPLES
from voiceflow_models.benchmarks.model_rows import SEED_RPS


def throughput(
    rec: Recorder, server: ServerProcess, best: ThroughputPoint, label: str = "", section: str = "throughput"
) -> float:
    """Binary OIP at each concurrency; returns the best requests/s."""
    request = oip_binary_request(MODEL_NAME, np.zeros((1, WINDOW_SAMPLES), dtype=np.float32) + 0.01)
    results = []
    for concurrency, total in rec.config.concurrency:
        result = measure_throughput(server.port, request, concurrency=concurrency, total=total)
        results.append(result)
        note = f"p50 {result.latency.p50_ms:.1f} / p99 {result.latency.p99_ms:.1f} ms, {total} requests"
        if result.latency.failures:
            note += f", {result.latency.failures} failed"
        rec.add(
            Row(section, f"OIP binary{label}, concurrency {concurrency}", result.rps, "req/s", "info", "info", note)
        )
    rec.raw["throughput" + label.replace(",", "").replace(" ", "_")] = [r.to_dict() for r in results]
    top = max(r.rps for r in results)
    fraction = top / best.windows_per_s if best.windows_per_s > 0 else float("nan")
    rec.add(
        Row(
            section, f"best server throughput{label}", top, "req/s", f">= {SEED_RPS:g} (seed)", at_least(top, SEED_RPS)
        ),
        Row(
            section,
            f"server / bare ORT best{label}",
            finite(fraction),
            "ratio",
            f">= {THROUGHPUT_FRACTION_TARGET:g}",
            at_least(fraction, THROUGHPUT_FRACTION_TARGET),
            f"bare ORT best {best.windows_per_s:.0f} windows/s (threads {best.threads}, callers {best.workers}, "
            f"batch {best.batch})",
        ),
    )
    return top


def batching(rec: Recorder, server: ServerProcess, model_path: Path, threads: int, best: ThroughputPoint) -> None:
    """Concurrency-1 latency (does batching cost latency?) and the throughput sweep with the batcher on."""
    with bare_caller(model_path, threads) as bare_call, oip_caller(server.url, MODEL_NAME, binary=True) as call:
        summary, bare = interleaved([call, bare_call], runs=rec.config.roundtrip_runs)
    over = overhead_ms(summary, bare)
    rec.raw["batching"] = {"env": BATCHING_ENV, "oip_binary_c1": {**summary.to_dict(), "overhead_p50_ms": over}}
    rec.add(
        Row(
            "batching",
            "OIP infer binary overhead p50, batching on",
            over,
            "ms",
            f"<= {OIP_BINARY_OVERHEAD_TARGET_MS:g}",
            at_most(over, OIP_BINARY_OVERHEAD_TARGET_MS),
            f"round trip p50 {summary.p50_ms:.2f} / p99 {summary.p99_ms:.2f} ms, bare ORT alongside "
            f"{bare.p50_ms:.2f} ms; max_batch 16, max_delay 0 ms, 2 concurrent",
        )
    )
    throughput(rec, server, best, label=", batching on", section="batching")
