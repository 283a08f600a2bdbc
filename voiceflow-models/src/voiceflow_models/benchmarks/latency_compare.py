"""Batch-1 latency of several ONNX models side by side, interleaved in rounds so a change in load hits all alike.

Each round times ``--runs-per-round`` calls of every model in turn (same session settings as
``voiceflow_models.benchmarks.latency``: ORT_SEQUENTIAL, pinned intra-op threads, inter-op 1, ALL optimisations at
load); the percentiles are over all rounds. The load average is printed before and after, since a shared machine's
p99 says as much about the machine as about the model.

    python -m voiceflow_models.benchmarks.latency_compare registry/ge2e/v1.0.0/model.onnx fast-cnn.onnx --rounds 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from voiceflow_models.benchmarks.latency import host_info
from voiceflow_models.evaluation.timing import LatencyResult, benchmark_input, benchmark_session, time_calls


def compare_latency(
    models: Sequence[Path], *, threads: int = 1, rounds: int = 20, runs_per_round: int = 50, warmup: int = 30
) -> dict[str, LatencyResult]:
    """Batch-1 latency per model (keyed by path), ``rounds`` interleaved rounds of ``runs_per_round`` calls each."""
    sessions = {str(m): benchmark_session(m, threads=threads) for m in models}
    feed = benchmark_input(1)
    calls = {k: (lambda s=s: s.run(None, {s.get_inputs()[0].name: feed})) for k, s in sessions.items()}
    samples: dict[str, list[np.ndarray]] = {k: [] for k in sessions}
    for call in calls.values():
        time_calls(call, runs=1, warmup=warmup)
    for _ in range(rounds):
        for key, call in calls.items():
            samples[key].append(time_calls(call, runs=runs_per_round, warmup=0))
    provider = next(iter(sessions.values())).get_providers()[0] if sessions else ""
    return {
        key: LatencyResult.from_samples(
            np.concatenate(parts), engine="onnxruntime", provider=provider, threads=threads, batch_size=1, warmup=warmup
        )
        for key, parts in samples.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: time the models interleaved, print a table (with the load average), optionally write JSON."""
    parser = argparse.ArgumentParser(prog="voiceflow-latency-compare", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="ONNX models to time side by side")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds (default 20)")
    parser.add_argument("--runs-per-round", type=int, default=50, help="timed calls per model per round (default 50)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed warm-up calls per model (default 30)")
    parser.add_argument("--output", type=Path, help="JSON to write")
    args = parser.parse_args(argv)
    console = Console()
    missing = [str(m) for m in args.models if not m.is_file()]
    if missing:
        console.print(f"[red]model not found: {', '.join(missing)}")
        return 2
    if min(args.threads, args.rounds, args.runs_per_round) < 1 or args.warmup < 0:
        console.print("[red]--threads, --rounds and --runs-per-round must be >= 1, --warmup >= 0")
        return 2
    load_before = os.getloadavg()
    results = compare_latency(
        args.models, threads=args.threads, rounds=args.rounds, runs_per_round=args.runs_per_round, warmup=args.warmup
    )
    load_after = os.getloadavg()
    load = f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    table = Table(title=f"Batch 1, {args.threads} thread(s), {args.rounds} x {args.runs_per_round} calls; {load}")
    for col in ("model", "size MB", "p50 ms", "p99 ms", "mean ms", "min ms"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for key, r in results.items():
        size = Path(key).stat().st_size / 1e6
        table.add_row(key, f"{size:.2f}", f"{r.p50_ms:.3f}", f"{r.p99_ms:.3f}", f"{r.mean_ms:.3f}", f"{r.min_ms:.3f}")
    console.print(table)
    if args.output:
        doc: dict[str, Any] = {
            "host": host_info(),
            "loadavg_1m": [round(load_before[0], 2), round(load_after[0], 2)],
            "settings": {"threads": args.threads, "rounds": args.rounds, "runs_per_round": args.runs_per_round},
            "results": {k: asdict(r) for k, r in results.items()},
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
