"""Measurement: timed batch-1 runs against the profile's latency budget, and the host the numbers came from."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from voiceflow_contract.runtime import CUDA_PROVIDER
from voiceflow_contract.schemas.report import LatencyStats
from voiceflow_contract.spec import ModelContract, Profile
from voiceflow_contract.validator.probes import probe_shape, probes
from voiceflow_contract.validator.rules import Checks
from voiceflow_contract.validator.static_checks import GraphFacts

ProgressCallback = Callable[[int, int], None]


def measure_latency(
    session: Any,
    graph: GraphFacts,
    contract: ModelContract,
    runs: int,
    warmup: int,
    on_run: ProgressCallback | None,
) -> list[float]:
    """Warm-up, then ``runs`` timed batch-1 inferences; milliseconds per run (perf_counter)."""
    audio = probes(probe_shape(graph.input, 1, contract.window_samples), graph.probe_dtype, seed=7)["random"]
    feed = {graph.input.name: audio}
    for _ in range(warmup):
        session.run(None, feed)
    timings: list[float] = []
    for index in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        timings.append((time.perf_counter() - start) * 1000.0)
        if on_run is not None:
            on_run(index + 1, runs)
    return timings


def check_latency(
    checks: Checks,
    session: Any,
    graph: GraphFacts,
    contract: ModelContract,
    profile: Profile,
    *,
    threads: int,
    runs: int,
    session_providers: list[str],
    available: list[str],
    on_run: ProgressCallback | None,
) -> LatencyStats | None:
    """latency.p99 against the profile's budget; SKIPPED (numbers still recorded) when a GPU profile has no GPU."""
    warmup = min(contract.validation.latency_warmup_runs, max(runs, 1))
    try:
        timings = measure_latency(session, graph, contract, runs, warmup, on_run)
    except Exception as exc:  # the model ran for the probes but fails under repetition: still a failed rule
        checks.fail("latency.p99", f"timed inference failed: {exc}", measured="error", limit=profile.p99_ms, unit="ms")
        return None
    values = np.asarray(timings)
    stats = LatencyStats(
        p50_ms=round(float(np.percentile(values, 50)), 4),
        p99_ms=round(float(np.percentile(values, 99)), 4),
        mean_ms=round(float(values.mean()), 4),
        runs=runs,
        warmup_runs=warmup,
        intra_op_threads=threads,
        provider=session_providers[0],
    )
    summary = f"p50 {stats.p50_ms} ms, p99 {stats.p99_ms} ms over {runs} runs, {threads} intra-op thread(s)"
    if profile.device == "gpu" and session_providers[0] != CUDA_PROVIDER:
        checks.skip(
            "latency.p99",
            f"profile {profile.name} is a GPU budget but {CUDA_PROVIDER} is unavailable (providers: {available}); "
            f"CPU numbers recorded, not compared: {summary}",
            measured=stats.p99_ms,
            limit=profile.p99_ms,
            unit="ms",
        )
    else:
        checks.check(
            "latency.p99",
            stats.p99_ms <= profile.p99_ms,
            f"{summary} on {session_providers[0]} (profile {profile.name})",
            stats.p99_ms,
            profile.p99_ms,
            "ms",
        )
    return stats


def host_info(threads: int, available: list[str], session_providers: list[str]) -> dict[str, str]:
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]  # optional extra (cpu / gpu)

    try:
        affinity = str(len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        affinity = str(os.cpu_count() or 0)
    return {
        "cpu_count": str(os.cpu_count() or 0),
        "cpu_affinity": affinity,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "available_providers": ",".join(available),
        "session_providers": ",".join(session_providers),
        "intra_op_threads": str(threads),
        "execution_mode": "ORT_SEQUENTIAL",
    }


__all__ = ["ProgressCallback", "check_latency", "host_info", "measure_latency"]
