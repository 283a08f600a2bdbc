"""Model-side rows of the benchmark suite: bare ONNX Runtime vs PyTorch eager at batch 1 (timed with
voiceflow_models.evaluation.timing), and fast-cnn training throughput on CPU."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress

from voiceflow_contract.spec import WINDOW_SAMPLES
from voiceflow_models.evaluation.timing import LatencyResult, benchmark_onnx, benchmark_torch

#: The seed's published fast-cnn CPU figures (containerized-model-workflow.md).
SEED_P50_MS = 3.36
SEED_P99_MS = 4.48
SEED_RPS = 297.0


def model_latency(
    model_path: Path,
    network: torch.nn.Module | None,
    *,
    threads: Sequence[int] = (1, 2),
    runs: int = 300,
    warmup: int = 30,
    progress: Progress | None = None,
) -> list[LatencyResult]:
    """ORT (and, when the network is known, PyTorch eager) p50/p99 at batch 1 for each thread count."""
    results = benchmark_onnx(model_path, threads=threads, runs=runs, warmup=warmup, progress=progress)
    if network is not None:
        results += benchmark_torch(
            network, threads=threads, runs=max(10, runs // 2), warmup=min(warmup, 10), progress=progress
        )
    return results


@dataclass(frozen=True)
class TrainingThroughput:
    """Training samples (1 s windows) per second: forward, cross-entropy, backward and an AdamW step."""

    samples_per_s: float
    batch_size: int
    steps: int
    threads: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return self.__dict__.copy()


def training_throughput(
    network: torch.nn.Module, *, batch_size: int = 32, steps: int = 10, warmup: int = 2, seed: int = 0
) -> TrainingThroughput:
    """Time ``steps`` optimisation steps of ``network`` on synthetic windows already in memory (no data loading or
    augmentation: this is the model's compute ceiling, not the data pipeline's)."""
    generator = torch.Generator().manual_seed(seed)
    num_speakers = int(getattr(network, "num_speakers", 2))
    audio = torch.randn(batch_size, WINDOW_SAMPLES, generator=generator) * 0.1
    labels = torch.randint(0, num_speakers, (batch_size,), generator=generator)
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    network.train()
    times = []
    try:
        for i in range(warmup + steps):
            started = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            logits, _ = network(audio)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            loss.backward()
            optimizer.step()
            if i >= warmup:
                times.append(time.perf_counter() - started)
    finally:
        network.eval()
    rate = batch_size / float(np.mean(times))
    return TrainingThroughput(round(rate, 2), batch_size, steps, torch.get_num_threads())


__all__ = [
    "SEED_P50_MS",
    "SEED_P99_MS",
    "SEED_RPS",
    "TrainingThroughput",
    "model_latency",
    "training_throughput",
]
