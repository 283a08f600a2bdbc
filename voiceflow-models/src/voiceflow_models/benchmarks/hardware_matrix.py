"""Latency on every ONNX Runtime execution provider available here (CPU always; CUDA/TensorRT when present).

Providers that are not compute devices (e.g. AzureExecutionProvider, a remote-call shim) are listed as skipped with
the reason, so the table always says what was and was not measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from voiceflow_contract.runtime import available_providers
from voiceflow_models.benchmarks.latency import host_info
from voiceflow_models.evaluation.timing import benchmark_onnx

# Providers that run no local kernels: benchmarking them would time the CPU fallback under another name.
NOT_COMPUTE = {"AzureExecutionProvider": "remote-endpoint shim, no local kernels"}


def provider_matrix(
    model_path: str | Path, *, threads: int = 1, runs: int = 200, warmup: int = 20, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """One row per available provider: p50/p99/throughput at batch 1, or why it was skipped or failed."""
    rows: list[dict[str, Any]] = []
    for provider in available_providers():
        if provider in NOT_COMPUTE:
            rows.append({"provider": provider, "status": "skipped", "reason": NOT_COMPUTE[provider]})
            continue
        try:
            (result,) = benchmark_onnx(
                model_path, threads=(threads,), runs=runs, warmup=warmup, provider=provider, progress=progress
            )
        except Exception as exc:  # a provider present in the wheel but unusable here (no driver, no libs)
            rows.append({"provider": provider, "status": "failed", "reason": str(exc).splitlines()[0][:200]})
            continue
        if result.provider != provider:
            # ORT silently fell back to CPU (e.g. CUDA libraries missing): do not report CPU numbers as the GPU's.
            rows.append({"provider": provider, "status": "failed", "reason": f"fell back to {result.provider}"})
            continue
        rows.append(
            {
                "provider": provider,
                "status": "measured",
                "threads": result.threads,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "mean_ms": result.mean_ms,
                "throughput_rps": result.throughput_rps,
            }
        )
    return rows


def matrix_table(rows: Sequence[dict[str, Any]]) -> Table:
    """Provider x (p50, p99, throughput)."""
    table = Table(title="ONNX Runtime execution providers (batch 1)")
    for col in ("provider", "status", "p50 ms", "p99 ms", "windows/s", "note"):
        table.add_column(col)
    for row in rows:
        measured = row["status"] == "measured"
        table.add_row(
            row["provider"],
            row["status"],
            f"{row['p50_ms']:.3f}" if measured else "",
            f"{row['p99_ms']:.3f}" if measured else "",
            f"{row['throughput_rps']:.1f}" if measured else "",
            "" if measured else row.get("reason", ""),
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: time the model on every provider, print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(prog="voiceflow-hardware-matrix", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="ONNX model to time")
    parser.add_argument("--threads", type=int, default=1, help="CPU intra-op threads (default 1)")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per provider")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up runs per provider")
    parser.add_argument("--output", type=Path, help="write the matrix as JSON")
    args = parser.parse_args(argv)
    console = Console()
    if not args.model.is_file():
        console.print(f"[red]model not found: {args.model}")
        return 2
    with Progress(console=console, transient=True) as progress:
        rows = provider_matrix(args.model, threads=args.threads, runs=args.runs, warmup=args.warmup, progress=progress)
    console.print(matrix_table(rows))
    if args.output:
        doc = {"model": str(args.model), "created_at": datetime.now(UTC).isoformat(), "host": host_info(), "rows": rows}
        args.output.write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if any(r["status"] == "measured" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
