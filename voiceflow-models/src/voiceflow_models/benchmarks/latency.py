"""Latency and throughput of an exported model in ONNX Runtime (and, side by side, PyTorch eager): the CLI and report.

The measurement itself is voiceflow_models.evaluation.timing; this module adds the host description, metadata.json's
`performance` block, the benchmark JSON and its table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import onnxruntime as ort
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from voiceflow_contract.hashing import sha256_file
from voiceflow_contract.runtime import CPU_PROVIDER
from voiceflow_models.evaluation.timing import LatencyResult, benchmark_onnx, benchmark_torch
from voiceflow_models.models.lit_module import load_network

SCHEMA = "voiceflow.benchmark/1"


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
    cpu = [r for r in batch1 if r.provider == CPU_PROVIDER]
    for r in cpu:
        block[f"cpu_{r.threads}t"] = _device_perf(r, device)
    if cpu:
        block["cpu"] = _device_perf(min(cpu, key=lambda r: r.p99_ms), device)
    for r in batch1:
        if r.provider != CPU_PROVIDER:
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
    parser.add_argument("--provider", default=CPU_PROVIDER, help="ORT execution provider")
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
