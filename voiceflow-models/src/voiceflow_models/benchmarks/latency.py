"""Latency and throughput of an exported model in ONNX Runtime (and, side by side, PyTorch eager).

Method (see /work/shared/notes/training-anchors.md, "p99 benchmarking"): one fixed input shape, warm-up runs discarded,
every call timed with perf_counter, percentiles over the timed calls. ORT runs with ORT_SEQUENTIAL and a pinned
intra_op thread count (inter_op 1), so the thread setting recorded in the JSON is the one that was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from voiceflow_contract.hashing import sha256_file

SCHEMA = "voiceflow.benchmark/1"
WINDOW_SAMPLES = 48_000


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


def make_session(
    path: str | Path, *, threads: int = 1, provider: str = "CPUExecutionProvider", provider_options: dict | None = None
) -> ort.InferenceSession:
    """An ORT session configured the way we benchmark: sequential execution, pinned intra-op threads."""
    opts = ort.SessionOptions()
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # at load time ALL is safe: same machine
    providers: list[Any] = [(provider, provider_options or {})]
    if provider != "CPUExecutionProvider":
        providers.append("CPUExecutionProvider")
    return ort.InferenceSession(str(path), opts, providers=providers)


def benchmark_input(batch_size: int, seed: int = 0) -> np.ndarray:
    """A fixed speech-level noise input [batch, 48000] (the contract's shape)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, 0.1, size=(batch_size, WINDOW_SAMPLES)), -1, 1).astype(np.float32)


def benchmark_onnx(
    model_path: str | Path,
    *,
    threads: Sequence[int] = (1, 2),
    batch_sizes: Sequence[int] = (1,),
    runs: int = 200,
    warmup: int = 20,
    provider: str = "CPUExecutionProvider",
    progress: Progress | None = None,
) -> list[LatencyResult]:
    """Time the model for every thread count x batch size (batch 1 first: the streaming case)."""
    results = []
    for n in threads:
        session = make_session(model_path, threads=n, provider=provider)
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
    import torch

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


def host_info() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": cpu,
        "cpu_count": str(os.cpu_count()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "loadavg_1m": f"{load[0]:.2f}",
    }


def performance_block(results: Sequence[LatencyResult]) -> dict[str, dict[str, Any]]:
    """metadata.json's `performance` (DevicePerformance per key) from the ORT batch-1 results.

    `cpu` is the best batch-1 CPU setting by p99 (the thread count a server should use; it is recorded in `threads`),
    `cpu_<n>t` every measured thread count, `gpu` / `<provider>` the accelerator providers.
    """
    block: dict[str, dict[str, Any]] = {}
    batch1 = [r for r in results if r.engine == "onnxruntime" and r.batch_size == 1]
    device = host_info()["cpu"]
    cpu = [r for r in batch1 if r.provider == "CPUExecutionProvider"]
    for r in cpu:
        block[f"cpu_{r.threads}t"] = _device_perf(r, device)
    if cpu:
        block["cpu"] = _device_perf(min(cpu, key=lambda r: r.p99_ms), device)
    for r in batch1:
        if r.provider != "CPUExecutionProvider":
            key = "gpu" if r.provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider") else r.provider
            block.setdefault(key, _device_perf(r, r.provider))
    return block


def _device_perf(r: LatencyResult, device: str) -> dict[str, Any]:
    return {
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "throughput_rps": r.throughput_rps,
        "threads": r.threads,
        "device_name": device,
    }


def build_report(model_path: str | Path, results: Sequence[LatencyResult], *, runs: int, warmup: int) -> dict[str, Any]:
    """The benchmark JSON (`performance` is ready for ModelMetadata.performance)."""
    path = Path(model_path)
    return {
        "schema": SCHEMA,
        "model": {"path": str(path), "sha256": sha256_file(path), "size_bytes": path.stat().st_size},
        "created_at": datetime.now(UTC).isoformat(),
        "host": host_info(),
        "settings": {"runs": runs, "warmup": warmup, "execution_mode": "ORT_SEQUENTIAL", "inter_op_threads": 1},
        "results": [asdict(r) for r in results],
        "performance": performance_block(results),
    }


def results_table(results: Sequence[LatencyResult], title: str = "Latency") -> Table:
    """A rich table of results."""
    table = Table(title=title)
    for col in ("engine", "provider", "threads", "batch", "p50 ms", "p99 ms", "mean ms", "windows/s"):
        table.add_column(col, justify="right" if col not in ("engine", "provider") else "left")
    for r in results:
        table.add_row(
            r.engine.replace("onnxruntime", "ort"),
            r.provider.replace("ExecutionProvider", ""),
            str(r.threads),
            str(r.batch_size),
            f"{r.p50_ms:.3f}",
            f"{r.p99_ms:.3f}",
            f"{r.mean_ms:.3f}",
            f"{r.throughput_rps:.1f}",
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: benchmark a model.onnx (and optionally its checkpoint in PyTorch), print a table, write JSON."""
    parser = argparse.ArgumentParser(prog="voiceflow-benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="ONNX model to time")
    parser.add_argument("--output", type=Path, default=Path("benchmark_results.json"), help="JSON to write")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op thread counts (default 1 2)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1], help="batch sizes (default 1)")
    parser.add_argument("--runs", type=int, default=300, help="timed calls per setting (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed warm-up calls per setting (default 30)")
    parser.add_argument("--provider", default="CPUExecutionProvider", help="ORT execution provider")
    parser.add_argument("--checkpoint", type=Path, help="also time the PyTorch network from this Lightning checkpoint")
    args = parser.parse_args(argv)
    console = Console()
    if not args.model.is_file():
        console.print(f"[red]model not found: {args.model}")
        return 2
    if min(args.threads) < 1 or min(args.batch_sizes) < 1 or args.runs < 1 or args.warmup < 0:
        console.print("[red]--threads, --batch-sizes and --runs must be >= 1, --warmup >= 0")
        return 2
    with Progress(console=console, transient=True) as progress:
        results = benchmark_onnx(
            args.model,
            threads=args.threads,
            batch_sizes=args.batch_sizes,
            runs=args.runs,
            warmup=args.warmup,
            provider=args.provider,
            progress=progress,
        )
        if args.checkpoint:
            from voiceflow_models.models.lit_module import load_network

            results += benchmark_torch(
                load_network(args.checkpoint),
                threads=args.threads,
                batch_sizes=args.batch_sizes,
                runs=args.runs,
                warmup=args.warmup,
                progress=progress,
            )
    console.print(results_table(results, f"Latency of {args.model.name} ({args.runs} runs, {args.warmup} warm-up)"))
    report = build_report(args.model, results, runs=args.runs, warmup=args.warmup)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
