"""Timing an exported model's forward pass in ONNX Runtime (and, side by side, PyTorch eager).

Method (see /work/shared/notes/training-anchors.md, "p99 benchmarking"): one fixed input shape, warm-up runs discarded,
every call timed with perf_counter, percentiles over the timed calls. ORT runs with ORT_SEQUENTIAL and a pinned
intra_op thread count (inter_op 1), so the thread setting recorded is the one that was measured. The benchmark CLIs
(voiceflow_models.benchmarks) and the int8 decision of voiceflow_models.export.optimize both time with this.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from voiceflow_contract.runtime import CPU_PROVIDER, create_session
from voiceflow_contract.spec import WINDOW_SAMPLES


@dataclass(frozen=True)
class LatencyResult:
    """Timing of one (engine, provider, threads, batch size) setting."""

    engine: str
    provider: str
    threads: int
    batch_size: int
    runs: int
    warmup: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    throughput_rps: float

    @classmethod
    def from_samples(
        cls, samples_ms: np.ndarray, *, engine: str, provider: str, threads: int, batch_size: int, warmup: int
    ) -> LatencyResult:
        """Summarise per-call latencies; throughput counts windows (batch items) per second."""
        p50, p99 = np.percentile(samples_ms, [50, 99])
        mean = float(samples_ms.mean())
        return cls(
            engine=engine,
            provider=provider,
            threads=threads,
            batch_size=batch_size,
            runs=int(samples_ms.size),
            warmup=warmup,
            p50_ms=round(float(p50), 4),
            p99_ms=round(float(p99), 4),
            mean_ms=round(mean, 4),
            min_ms=round(float(samples_ms.min()), 4),
            max_ms=round(float(samples_ms.max()), 4),
            throughput_rps=round(batch_size * 1000.0 / mean, 2) if mean > 0 else 0.0,
        )


def time_calls(
    call: Callable[[], object], *, runs: int, warmup: int, tick: Callable[[], None] | None = None
) -> np.ndarray:
    """Run `call` warmup times untimed, then `runs` times timed; per-call latencies in ms."""
    for _ in range(warmup):
        call()
    samples = np.empty(runs, dtype=np.float64)
    for i in range(runs):
        start = time.perf_counter()
        call()
        samples[i] = (time.perf_counter() - start) * 1000.0
        if tick is not None:
            tick()
    return samples


def benchmark_session(
    path: str | Path, *, threads: int = 1, provider: str = CPU_PROVIDER, provider_options: dict | None = None
) -> Any:
    """An ORT session configured the way we benchmark: sequential execution, pinned intra-op threads (inter-op 1),
    ALL optimisations at load time (safe: same machine), `provider` with its options, CPU as the fallback."""
    providers: list[Any] = [(provider, provider_options or {})]
    if provider != CPU_PROVIDER:
        providers.append(CPU_PROVIDER)
    return create_session(path, intra_op_threads=threads, inter_op_threads=1, providers=providers, optimization="all")


def benchmark_input(batch_size: int, seed: int = 0) -> np.ndarray:
    """A fixed speech-level noise input [batch, WINDOW_SAMPLES] (the contract's shape)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, 0.1, size=(batch_size, WINDOW_SAMPLES)), -1, 1).astype(np.float32)


def benchmark_onnx(
    model_path: str | Path,
    *,
    threads: Sequence[int] = (1, 2),
    batch_sizes: Sequence[int] = (1,),
    runs: int = 200,
    warmup: int = 20,
    provider: str = CPU_PROVIDER,
    progress: Progress | None = None,
) -> list[LatencyResult]:
    """Time the model for every thread count x batch size (batch 1 first: the streaming case)."""
    results = []
    for n in threads:
        session = benchmark_session(model_path, threads=n, provider=provider)
        name = session.get_inputs()[0].name
        actual = session.get_providers()[0]
        for b in batch_sizes:
            feed = {name: benchmark_input(b)}
            task = progress.add_task(f"ORT {actual} {n} thr batch {b}", total=runs) if progress else None

            def tick(task: Any = task) -> None:
                if progress is not None and task is not None:
                    progress.advance(task)

            samples = time_calls(
                lambda feed=feed, session=session: session.run(None, feed), runs=runs, warmup=warmup, tick=tick
            )
            results.append(
                LatencyResult.from_samples(
                    samples, engine="onnxruntime", provider=actual, threads=n, batch_size=b, warmup=warmup
                )
            )
    return results


def benchmark_torch(
    network: Any,
    *,
    threads: Sequence[int] = (1, 2),
    batch_sizes: Sequence[int] = (1,),
    runs: int = 200,
    warmup: int = 20,
    progress: Progress | None = None,
) -> list[LatencyResult]:
    """Time PyTorch eager inference (softmax included, as in the exported graph) under the same settings."""
    previous = torch.get_num_threads()
    network = network.eval()
    results = []
    try:
        for n in threads:
            torch.set_num_threads(n)
            for b in batch_sizes:
                audio = torch.from_numpy(benchmark_input(b))
                task = progress.add_task(f"torch eager {n} thr batch {b}", total=runs) if progress else None

                def call(audio: Any = audio) -> object:
                    with torch.inference_mode():
                        logits, embedding = network(audio)
                        return torch.softmax(logits, dim=-1), embedding

                def tick(task: Any = task) -> None:
                    if progress is not None and task is not None:
                        progress.advance(task)

                samples = time_calls(call, runs=runs, warmup=warmup, tick=tick)
                results.append(
                    LatencyResult.from_samples(
                        samples, engine="torch-eager", provider="cpu", threads=n, batch_size=b, warmup=warmup
                    )
                )
    finally:
        torch.set_num_threads(previous)
    return results
