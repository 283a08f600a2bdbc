"""Diarization accuracy (DER at collar 0 and 0.25 s, precision, recall) on held-out two-speaker conversations.

The CLI over voiceflow_models.evaluation: scores a model.onnx (its calibrated output and threshold with --calibrate)
beside the "one-speaker" and "mfcc-stats" baselines through the server's own streaming path, prints a table and
writes the accuracy JSON that publish reads (its `metadata_accuracy` and `diarization` blocks); then the same
model, clustered the same way, on the real development recording (benchmarks.real_sample_onnx).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from voiceflow_contract.spec import OUTPUT_NAMES, PROBABILITIES_OUTPUT
from voiceflow_models.benchmarks.real_sample import DEFAULT_SAMPLE_DIR
from voiceflow_models.benchmarks.real_sample_onnx import real_sample_accuracy, real_sample_table
from voiceflow_models.evaluation.accuracy_report import evaluate
from voiceflow_models.evaluation.calibration import calibrate
from voiceflow_models.evaluation.held_out import held_out_conversations, validation_conversations
from voiceflow_models.evaluation.scoring import DiarizationSettings


def accuracy_table(doc: dict[str, Any]) -> Table:
    """Systems x metrics."""
    table = Table(
        title=f"Diarization on {doc['test_set']['conversations']} held-out conversations "
        f"({doc['test_set']['seconds']:.0f} s)"
    )
    for col in ("system", "DER c=0", "DER c=0.25", "precision", "recall", "spk acc", "speakers"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for name, s in doc["systems"].items():
        table.add_row(
            name,
            f"{s['der_collar_0']:.2%}",
            f"{s['der_collar_025']:.2%}",
            f"{s['precision']:.3f}",
            f"{s['recall']:.3f}",
            f"{s['speaker_accuracy']:.3f}",
            f"{s['speakers_found_mean']:.1f}",
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: score a model.onnx and the two baselines on held-out conversations; print a table, write JSON."""
    parser = argparse.ArgumentParser(prog="voiceflow-accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="ONNX model (omit to score only the baselines)")
    parser.add_argument("--output", type=Path, default=Path("accuracy.json"), help="JSON to write")
    parser.add_argument("--conversations", type=int, default=8, help="held-out conversations (default 8)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per conversation (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="test-set seed (default 0)")
    parser.add_argument("--hop", type=float, default=0.5, help="window hop in seconds (default 0.5)")
    parser.add_argument("--threshold", type=float, help="clustering cosine threshold (default: the shared default)")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="choose the model's output and threshold on validation-voice conversations first (what publish records)",
    )
    parser.add_argument("--calibration-conversations", type=int, default=2, help="validation conversations (default 2)")
    parser.add_argument("--max-speakers", type=int, help="cap on speakers per conversation (default: none)")
    parser.add_argument(
        "--vector",
        choices=list(OUTPUT_NAMES),
        default=PROBABILITIES_OUTPUT,
        help="model output the headline 'model' row clusters (default speaker_embeddings, the softmax)",
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip the one-speaker and MFCC baselines")
    parser.add_argument(
        "--real-sample",
        type=Path,
        default=DEFAULT_SAMPLE_DIR,
        help="also score the real development recording there (make real-sample); skipped when absent",
    )
    args = parser.parse_args(argv)
    console = Console()
    if args.model is not None and not args.model.is_file():
        console.print(f"[red]model not found: {args.model}")
        return 2
    if args.model is None and args.no_baselines:
        console.print("[red]nothing to score: give --model or drop --no-baselines")
        return 2
    settings = DiarizationSettings(hop_s=args.hop, threshold=args.threshold, max_speakers=args.max_speakers)
    with console.status("synthesising held-out conversations"):
        conversations = held_out_conversations(args.conversations, args.duration, args.seed)
    with Progress(console=console, transient=True) as progress:
        calibration = None
        if args.calibrate and args.model is not None:
            val = validation_conversations(args.calibration_conversations, args.duration)
            calibration = calibrate(args.model, val, settings)
        else:
            val = None
        doc = evaluate(
            args.model,
            conversations,
            settings,
            output=args.vector,
            baselines=not args.no_baselines,
            calibration=calibration,
            calibration_conversations=val,
            progress=progress,
        )
    console.print(accuracy_table(doc))
    console.print(f"one-speaker DER in theory (perfect VAD, collar 0): {doc['one_speaker_theory_der_collar_0']:.2%}")
    if "diarization" in doc:
        real = real_sample_accuracy(args.model, doc["diarization"], args.real_sample)
        console.print(real_sample_table(real))
        doc["real_speech"] = real
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
