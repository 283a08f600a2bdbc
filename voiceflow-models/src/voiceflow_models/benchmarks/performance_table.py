"""The fast-cnn table of docs/PERFORMANCE_ANALYSIS.md, measured in one command from a trained checkpoint.

    python -m voiceflow_models.benchmarks.performance_table --checkpoint artifacts/fast-cnn/model.ckpt

Exports (parity checked), optimises at EXTENDED, times ONNX Runtime at 1 and 2 threads (batch 1) beside PyTorch eager,
scores DER at both collars on held-out two-speaker conversations beside the two baselines, and prints the Markdown
section (also written to --output) with the machine, its load, the date and this command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from voiceflow_models.benchmarks.latency import host_info
from voiceflow_models.evaluation.accuracy_report import evaluate
from voiceflow_models.evaluation.baselines import evaluate_oracle
from voiceflow_models.evaluation.calibration import calibrate
from voiceflow_models.evaluation.held_out import held_out_conversations, validation_conversations
from voiceflow_models.evaluation.scoring import DiarizationSettings
from voiceflow_models.evaluation.timing import benchmark_onnx, benchmark_torch
from voiceflow_models.export.optimize import optimize_model
from voiceflow_models.export.to_onnx import export_onnx
from voiceflow_models.models.lit_module import load_network

P99_TARGET_MS = 4.48
DER_TARGET = 0.10


def measure(
    checkpoint: Path,
    *,
    runs: int = 1000,
    conversations: int = 8,
    duration_s: float = 60.0,
    threshold: float | None = None,
    console: Console,
) -> dict[str, Any]:
    """Every number of the table, as a dict (also written as JSON)."""
    network = load_network(checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        with console.status("exporting and optimising"):
            exported = export_onnx(network, Path(tmp) / "model.onnx")
            optimised = optimize_model(exported.path, Path(tmp) / "model_optimized.onnx").output
        with Progress(console=console, transient=True) as progress:
            ort_results = benchmark_onnx(optimised, threads=(1, 2), runs=runs, warmup=50, progress=progress)
            torch_results = benchmark_torch(network, threads=(1, 2), runs=max(100, runs // 5), progress=progress)
        with console.status(f"synthesising {conversations} held-out + 2 validation conversations"):
            convs = held_out_conversations(conversations, duration_s)
            val = validation_conversations(2, duration_s)
        settings = DiarizationSettings(threshold=threshold)
        with console.status("calibrating the clustering on validation voices"):
            calibration = calibrate(optimised, val, settings) if threshold is None else None
        with Progress(console=console, transient=True) as progress:
            acc = evaluate(
                optimised,
                convs,
                settings,
                fit_conversations=val,
                calibration=calibration,
                calibration_conversations=val if calibration is not None else None,
                progress=progress,
            )
        acc["oracle_segmentation_floor"] = evaluate_oracle(convs, replace(settings, threshold=None))
        size = optimised.stat().st_size
    return {
        "params": exported.architecture.params,
        "size_bytes": size,
        "parity_max_abs_diff": exported.parity.max_abs_diff if exported.parity else None,
        "latency": [r.__dict__ for r in ort_results + torch_results],
        "accuracy": acc,
        "host": host_info(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _calibration_text(acc: dict[str, Any]) -> str:
    cal = acc.get("calibration")
    if not cal:
        return f"Clustering threshold {acc['settings']['threshold'] or 'default'} for every system."
    return (
        f"The model's clustering was calibrated on {cal['validation_conversations']} validation-voice conversations "
        f"(never the test set): it clusters `{cal['vector']}` at threshold {cal['threshold']} (validation DER "
        f"{_pct(cal['validation_der_collar_025'])} at collar 0.25 s); these values go into metadata.json's "
        "`diarization` block, which the server streams with. The MFCC baseline's threshold was calibrated the same way."
    )


def markdown(m: dict[str, Any], command: str) -> str:
    """The Markdown section for docs/PERFORMANCE_ANALYSIS.md."""
    lat = {(r["engine"], r["threads"]): r for r in m["latency"]}
    systems = m["accuracy"]["systems"]
    model = systems["model"]
    floor = m["accuracy"]["oracle_segmentation_floor"]
    best_p99 = min(lat[("onnxruntime", t)]["p99_ms"] for t in (1, 2))
    lines = [
        "| metric | fast-cnn (ONNX, EXTENDED) | target |",
        "|---|---|---|",
        f"| parameters | {m['params']:,} | ~2.3M |",
        f"| model.onnx size | {m['size_bytes'] / 1e6:.2f} MB | < 50 MB |",
        f"| parity vs PyTorch (max abs diff) | {m['parity_max_abs_diff']:.1e} | <= 1e-4 |",
    ]
    for t in (1, 2):
        r = lat[("onnxruntime", t)]
        lines.append(
            f"| ORT p50 / p99, {t} thread{'s' if t > 1 else ''}, batch 1 | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms "
            f"| p99 < {P99_TARGET_MS} ms |"
        )
    for t in (1, 2):
        r = lat.get(("torch-eager", t))
        if r:
            lines.append(
                f"| PyTorch eager p50 / p99, {t} thread{'s' if t > 1 else ''} | {r['p50_ms']:.2f} / "
                f"{r['p99_ms']:.2f} ms | (reference) |"
            )
    lines += [
        "",
        f"DER on {m['accuracy']['test_set']['conversations']} held-out two-speaker conversations "
        f"({m['accuracy']['test_set']['seconds'] / 60:.0f} min, test-split voices never seen in training), "
        "every system through the server's own `diarization.pipeline.diarize_audio` (1 s windows, 0.5 s hop, VAD "
        f"activity masks). {_calibration_text(m['accuracy'])}",
        "",
        "| system | DER collar 0 | DER collar 0.25 s | speech precision | speech recall | speakers found (true: 2) |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in systems.items():
        lines.append(
            f"| {name} | {_pct(s['der_collar_0'])} | {_pct(s['der_collar_025'])} | {s['precision']:.3f} | "
            f"{s['recall']:.3f} | {s['speakers_found_mean']:.1f} |"
        )
    lines += [
        "",
        f"One-speaker DER in theory (perfect VAD, collar 0): {_pct(m['accuracy']['one_speaker_theory_der_collar_0'])}. "
        "Segmentation floor (every window given its true majority speaker, same VAD/windows/clustering): "
        f"{_pct(floor['der_collar_0'])} at collar 0, {_pct(floor['der_collar_025'])} at collar 0.25 s.",
        "",
        f"Targets: p99 < {P99_TARGET_MS} ms: best {best_p99:.2f} ms -> "
        + ("**met**" if best_p99 < P99_TARGET_MS else f"**missed by {best_p99 - P99_TARGET_MS:.2f} ms**")
        + f"; DER (collar 0.25 s) < {_pct(DER_TARGET)}: {_pct(model['der_collar_025'])} -> "
        + (
            "**met**"
            if model["der_collar_025"] < DER_TARGET
            else f"**missed by {100 * (model['der_collar_025'] - DER_TARGET):.1f} points**"
        )
        + ".",
        "",
        f"Machine: {m['host']['cpu']}, {m['host']['cpu_count']} cores, load average {m['host']['loadavg_1m']} "
        f"(shared), onnxruntime {m['host']['onnxruntime']}; measured {m['date']}.",
        "",
        f"Reproduce: `{command}`",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: measure and print the Markdown table."""
    parser = argparse.ArgumentParser(prog="voiceflow-performance-table", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="trained checkpoint (artifacts/fast-cnn/model.ckpt)"
    )
    parser.add_argument("--runs", type=int, default=1000, help="timed ORT runs per thread setting (default 1000)")
    parser.add_argument("--conversations", type=int, default=8, help="held-out conversations (default 8)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per conversation (default 60)")
    parser.add_argument("--threshold", type=float, help="fixed clustering threshold (default: calibrated)")
    parser.add_argument("--output", type=Path, help="write the Markdown here (and the raw numbers beside it as .json)")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if not args.checkpoint.is_file():
        console.print(f"[red]checkpoint not found: {args.checkpoint}")
        return 2
    m = measure(
        args.checkpoint,
        runs=args.runs,
        conversations=args.conversations,
        duration_s=args.duration,
        threshold=args.threshold,
        console=console,
    )
    command = "python -m voiceflow_models.benchmarks.performance_table " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    text = markdown(m, command)
    print(text)
    if args.output:
        args.output.write_text(text)
        args.output.with_suffix(".json").write_text(json.dumps(m, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
