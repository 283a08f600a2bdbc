"""Bare ONNX Runtime on the served file, configured exactly as the server configures it (InferenceEngine)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceflow_bench.serving.audio import window_batch
from voiceflow_bench.serving.stats import Summary, summarize
from voiceflow_inference.runtime.onnx_model import InferenceEngine


def bare_latency(path: str | Path, *, threads: int = 1, runs: int = 300, warmup: int = 20) -> Summary:
    """p50/p99 of ``session.run`` at batch 1 with ``threads`` intra-op threads (the server's session options)."""
    engine = InferenceEngine(path, intra_op_threads=threads, inter_op_threads=1)
    feed = {engine.input_name: window_batch(1)}
    run = engine.session.run
    for _ in range(warmup):
        run(None, feed)
    samples = np.empty(runs)
    for i in range(runs):
        started = time.perf_counter()
        run(None, feed)
        samples[i] = time.perf_counter() - started
    return summarize(samples)


@dataclass(frozen=True)
class ThroughputPoint:
    """Windows per second of one (intra-op threads, parallel callers, batch size) setting."""

    threads: int
    workers: int
    batch: int
    windows_per_s: float


def _throughput(engine: InferenceEngine, *, workers: int, batch: int, seconds: float) -> float:
    feed = {engine.input_name: window_batch(batch)}
    engine.session.run(None, feed)  # first call at this batch shape allocates
    counts = [0] * workers
    stop = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        while time.perf_counter() < stop:
            engine.session.run(None, feed)  # ORT releases the GIL: callers really run in parallel
            counts[slot] += batch

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - started)


def best_batched_throughput(
    path: str | Path,
    *,
    batch_sizes: Sequence[int] = (1, 4, 16, 32),
    seconds: float = 1.0,
    cores: int | None = None,
) -> tuple[ThroughputPoint, list[ThroughputPoint]]:
    """The best windows/s this machine gets from bare ORT on ``path``, over batch sizes and three ways of using the
    cores (1 thread; ``cores`` intra-op threads; ``cores`` parallel callers of a 1-thread session). Returns the best
    point and all points."""
    n = cores or os.cpu_count() or 1
    settings = [(1, 1), (n, 1), (1, n)] if n > 1 else [(1, 1)]
    points: list[ThroughputPoint] = []
    for threads, workers in settings:
        engine = InferenceEngine(path, intra_op_threads=threads, inter_op_threads=1)
        for batch in batch_sizes:
            rate = _throughput(engine, workers=workers, batch=batch, seconds=seconds)
            points.append(ThroughputPoint(threads, workers, batch, round(rate, 2)))
    best = max(points, key=lambda p: p.windows_per_s)
    return best, points


__all__ = ["ThroughputPoint", "bare_latency", "best_batched_throughput"]
