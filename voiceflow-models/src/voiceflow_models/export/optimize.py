"""Optimise an exported model for serving: ORT graph optimisation, optional onnxslim, optional static int8.

Graph optimisation is saved at EXTENDED, not ALL. An offline-optimised file is only valid for the execution provider,
level and hardware it was produced on; ALL adds layout transformations (NCHWc blocking) chosen for this machine's
instruction set (e.g. AVX2 vs AVX-512), so an ALL file can be slower or fail to load on another CPU. EXTENDED keeps
only hardware-independent rewrites (constant folding, BatchNorm/activation fusions), so one published file serves
every CPU; each server still applies ALL at load time for its own CPU.

Static int8 (quant_pre_process, then quantize_static with QDQ, per-channel weights, calibrated on real audio windows)
is only kept when it is accurate enough (DER within tolerance, or window-level agreement when no DER function is
given) AND not slower than fp32; the decision and its numbers are always reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from rich.console import Console

from voiceflow_contract.errors import VoiceFlowError
from voiceflow_contract.runtime import CPU_PROVIDER, Optimization, create_session
from voiceflow_contract.spec import INPUT_NAME, PROBABILITIES_OUTPUT
from voiceflow_models.evaluation.accuracy_report import der_of_model
from voiceflow_models.evaluation.held_out import calibration_windows
from voiceflow_models.evaluation.timing import benchmark_onnx
from voiceflow_models.export.parity import DEFAULT_TOLERANCE, ParityReport, compare, ort_runner
from voiceflow_models.export.recurrent_int8 import RecurrentInt8Decision, recurrent_nodes, try_recurrent_int8
from voiceflow_models.export.recurrent_plumbing import prune_recurrent_plumbing

#: Offline levels a published file may be saved at (the runtime factory's names); never "all", see the docstring.
LEVELS: dict[str, Optimization] = {"basic": "basic", "extended": "extended"}


class OptimizeError(VoiceFlowError):
    """The model cannot be optimised or quantised (the message names the step)."""


@dataclass
class QuantizationDecision:
    """Whether the int8 model replaced the fp32 one, and the evidence."""

    kept: bool
    reason: str
    method: str = "static QDQ int8, per-channel weights"
    calibration_windows: int = 0
    window_agreement: float | None = None
    max_abs_diff: float | None = None
    der_fp32: float | None = None
    der_int8: float | None = None
    p50_fp32_ms: float | None = None
    p50_int8_ms: float | None = None
    size_fp32_bytes: int | None = None
    size_int8_bytes: int | None = None


@dataclass
class OptimizeResult:
    """What optimize_model wrote and how it compares to its input."""

    input: Path
    output: Path
    level: str
    slim: bool
    size_before: int
    size_after: int
    parity: ParityReport | None
    quantization: QuantizationDecision | None = None
    recurrent_int8: RecurrentInt8Decision | None = None
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "input": str(self.input),
            "output": str(self.output),
            "level": self.level,
            "slim": self.slim,
            "size_before": self.size_before,
            "size_after": self.size_after,
            "parity": self.parity.to_dict() if self.parity else None,
            "quantization": asdict(self.quantization) if self.quantization else None,
            "recurrent_int8": asdict(self.recurrent_int8) if self.recurrent_int8 else None,
            "steps": self.steps,
        }


def _copy_metadata(source: Path, target: Path) -> None:
    """ORT and onnxslim drop metadata_props; carry the exporter's voiceflow.* description over."""
    src = onnx.load(str(source), load_external_data=False)
    if not src.metadata_props:
        return
    dst = onnx.load(str(target))
    have = {p.key for p in dst.metadata_props}
    for prop in src.metadata_props:
        if prop.key not in have:
            dst.metadata_props.add(key=prop.key, value=prop.value)
    onnx.save(dst, str(target))


def slim_model(input_path: Path, output_path: Path) -> None:
    """onnxslim: constant folding and dead-node removal at the ONNX level (usually a no-op after dynamo export)."""
    import onnxslim  # about 0.7 s of imports (sympy) for an opt-in step (--slim): loaded only when slimming

    slimmed = onnxslim.slim(onnx.load(str(input_path)))
    onnx.save(slimmed, str(output_path))


def graph_optimize(input_path: Path, output_path: Path, level: str = "extended") -> None:
    """Let ONNX Runtime optimise the graph at `level` and save the result (see the module docstring for why not ALL)."""
    if level not in LEVELS:
        raise OptimizeError(f"level: must be one of {sorted(LEVELS)} (ALL is CPU-specific), got {level!r}")
    create_session(input_path, providers=(CPU_PROVIDER,), optimization=LEVELS[level], optimized_model_path=output_path)
    if not output_path.is_file():
        raise OptimizeError(f"onnxruntime did not write the optimised model to {output_path}")


class WindowCalibrationReader:
    """ORT CalibrationDataReader over audio windows [N, WINDOW_SAMPLES], fed in small batches."""

    def __init__(self, windows: np.ndarray, input_name: str = INPUT_NAME, batch_size: int = 8) -> None:
        if windows.ndim != 2 or windows.shape[0] == 0:
            raise OptimizeError(f"calibration: need windows [N>0, samples], got shape {windows.shape}")
        self.input_name = input_name
        self._batches: Iterator[np.ndarray] = iter(
            [windows[i : i + batch_size].astype(np.float32) for i in range(0, len(windows), batch_size)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next calibration batch, or None when exhausted (the ORT protocol)."""
        batch = next(self._batches, None)
        return None if batch is None else {self.input_name: batch}


def fixed_weight_nodes(model_path: Path) -> list[str]:
    """Conv/MatMul/Gemm nodes whose weight is a fixed buffer (e.g. `frontend.dft`, `frontend.mel`), not a learned
    `*.weight` parameter: signal processing that must stay fp32."""
    model = onnx.load(str(model_path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    return [
        node.name
        for node in model.graph.node
        if node.op_type in ("Conv", "MatMul", "Gemm")
        and len(node.input) > 1
        and node.input[1] in initializers
        and not node.input[1].endswith("weight")
    ]


def quantize_int8(input_path: Path, output_path: Path, windows: np.ndarray) -> None:
    """Static int8: pre-process (shape inference, fusions), then QDQ, per-channel weights, calibrated on `windows`."""
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "preprocessed.onnx"
        quant_pre_process(str(input_path), str(pre), skip_symbolic_shape=False)
        quantize_static(
            str(pre),
            str(output_path),
            WindowCalibrationReader(windows),
            quant_format=QuantFormat.QDQ,
            # Only the learned layers. Measured on the trained fast-cnn: quantising everything (BatchNorm too, which
            # ORT 1.32 mis-handles per-channel) or the fixed DFT/mel front end (its output feeds a log, where int8
            # rounding of small powers explodes) changed the top speaker on 97% of windows; this keeps 100%.
            op_types_to_quantize=["Conv", "MatMul", "Gemm"],
            nodes_to_exclude=fixed_weight_nodes(pre),
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )


def window_agreement(reference: Path, candidate: Path, windows: np.ndarray) -> tuple[float, float]:
    """Share of windows whose top speaker agrees, and the max abs diff of the probabilities."""
    ref_run, cand_run = ort_runner(reference), ort_runner(candidate)
    agree, total, worst = 0, 0, 0.0
    for i in range(0, len(windows), 16):
        batch = windows[i : i + 16].astype(np.float32)
        a, b = ref_run(batch)[PROBABILITIES_OUTPUT], cand_run(batch)[PROBABILITIES_OUTPUT]
        agree += int((a.argmax(-1) == b.argmax(-1)).sum())
        total += len(batch)
        worst = max(worst, float(np.abs(a - b).max()))
    return agree / max(total, 1), worst


def _p50_ms(path: Path, threads: int = 1, runs: int = 60) -> float:
    return benchmark_onnx(path, threads=(threads,), runs=runs, warmup=10)[0].p50_ms


def decide_quantization(
    fp32: Path,
    int8: Path,
    windows: np.ndarray,
    *,
    der_fn: Callable[[Path], float] | None = None,
    der_tolerance: float = 0.01,
    agreement_min: float = 0.97,
    speed_slack: float = 1.0,
    latency_runs: int = 60,
) -> QuantizationDecision:
    """Keep int8 only if accuracy holds (DER +der_tolerance, or agreement >= agreement_min) and p50 is not higher."""
    agreement, diff = window_agreement(fp32, int8, windows)
    decision = QuantizationDecision(
        kept=False,
        reason="",
        calibration_windows=len(windows),
        window_agreement=round(agreement, 4),
        max_abs_diff=diff,
        size_fp32_bytes=fp32.stat().st_size,
        size_int8_bytes=int8.stat().st_size,
    )
    if der_fn is not None:
        decision.der_fp32, decision.der_int8 = der_fn(fp32), der_fn(int8)
        accurate = decision.der_int8 <= decision.der_fp32 + der_tolerance
        accuracy_text = f"DER {decision.der_int8:.4f} vs fp32 {decision.der_fp32:.4f} (tolerance +{der_tolerance})"
    else:
        accurate = agreement >= agreement_min
        accuracy_text = f"window agreement {agreement:.3f} (min {agreement_min})"
    decision.p50_fp32_ms = _p50_ms(fp32, runs=latency_runs)
    decision.p50_int8_ms = _p50_ms(int8, runs=latency_runs)
    faster = decision.p50_int8_ms <= decision.p50_fp32_ms * speed_slack
    speed_text = f"p50 {decision.p50_int8_ms:.3f} ms vs fp32 {decision.p50_fp32_ms:.3f} ms"
    decision.kept = accurate and faster
    verdict = "kept int8" if decision.kept else "kept fp32"
    why = [] if decision.kept else [w for w, ok in (("accuracy", accurate), ("latency", faster)) if not ok]
    decision.reason = f"{verdict}: {accuracy_text}; {speed_text}" + (f" (failed: {', '.join(why)})" if why else "")
    return decision


def optimize_model(
    input_path: str | Path,
    output_path: str | Path,
    *,
    level: str = "extended",
    slim: bool = False,
    quantize: bool = False,
    calibration: np.ndarray | None = None,
    der_fn: Callable[[Path], float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    der_tolerance: float = 0.01,
    agreement_min: float = 0.97,
) -> OptimizeResult:
    """Optimise `input_path` into `output_path` and check parity of the optimised fp32 graph with the original.

    With `quantize`, `calibration` windows [N, WINDOW_SAMPLES] (real audio) are required; the int8 model replaces the
    fp32 one only when decide_quantization says so. Raises ParityError if the fp32 optimisation changes outputs beyond
    `tolerance`, OptimizeError on bad arguments.
    """
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise OptimizeError(f"input: no such model {src}")
    if quantize and (calibration is None or len(calibration) == 0):
        raise OptimizeError("calibration: --quantize needs calibration windows (real audio)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    steps: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        stage = src
        if slim:
            slimmed = Path(tmp) / "slim.onnx"
            slim_model(stage, slimmed)
            stage = slimmed
            steps.append("onnxslim")
        optimized = Path(tmp) / "optimized.onnx"
        graph_optimize(stage, optimized, level)
        steps.append(f"onnxruntime graph optimisation ({level})")
        _copy_metadata(src, optimized)
        parity = compare(ort_runner(src), ort_runner(optimized), tolerance=tolerance)
        parity.raise_if_failed(f"optimised model ({', '.join(steps)}) vs original")
        if recurrent_nodes(optimized):  # an LSTM encoder: its shape plumbing out, kept only when outputs are equal
            pruned = Path(tmp) / "pruned.onnx"
            removed = prune_recurrent_plumbing(optimized, pruned)["nodes_removed"]
            if removed > 0 and compare(ort_runner(optimized), ort_runner(pruned), tolerance=tolerance).passed:
                _copy_metadata(src, pruned)
                optimized = pruned
                steps.append(f"recurrent shape plumbing removed ({removed} nodes)")

        decision = None
        final = optimized
        recurrent = None
        if len(recurrent_nodes(optimized)) >= 2:  # an LSTM encoder (GE2E): int8 upper layers, kept only if it holds
            windows = calibration if calibration is not None and len(calibration) else calibration_windows(32)
            candidate = Path(tmp) / "recurrent_int8.onnx"
            recurrent = try_recurrent_int8(optimized, candidate, windows)
            if recurrent is not None:
                steps.append(recurrent.reason)
                if recurrent.kept:
                    _copy_metadata(src, candidate)
                    final = candidate
        if quantize and calibration is not None:
            int8 = Path(tmp) / "int8.onnx"
            quantize_int8(stage, int8, calibration)
            _copy_metadata(src, int8)
            decision = decide_quantization(
                optimized, int8, calibration, der_fn=der_fn, der_tolerance=der_tolerance, agreement_min=agreement_min
            )
            steps.append(decision.reason)
            if decision.kept:
                final = int8
        shutil.copyfile(final, dst)
    return OptimizeResult(
        src, dst, level, slim, src.stat().st_size, dst.stat().st_size, parity, decision, recurrent, steps
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: optimise (and optionally quantise) a model.onnx."""
    parser = argparse.ArgumentParser(prog="voiceflow-optimize", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path, help="exported model.onnx")
    parser.add_argument("--output", required=True, type=Path, help="optimised model to write")
    parser.add_argument(
        "--level", choices=sorted(LEVELS), default="extended", help="ORT level saved (default extended)"
    )
    parser.add_argument("--slim", action="store_true", help="run onnxslim before ORT optimisation")
    parser.add_argument("--quantize", action="store_true", help="try static int8; kept only if accurate and not slower")
    parser.add_argument(
        "--calibration-windows", type=int, default=64, help="audio windows for calibration (default 64)"
    )
    parser.add_argument("--der", action="store_true", help="judge int8 by DER on held-out conversations (slower)")
    parser.add_argument("--der-tolerance", type=float, default=0.01, help="max DER increase allowed for int8")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="fp32 parity bound")
    parser.add_argument("--report", type=Path, help="write the optimisation report as JSON")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    calibration = None
    der_fn = None
    try:
        if args.quantize:
            with console.status("synthesising calibration windows"):
                calibration = calibration_windows(args.calibration_windows)
            if args.der:
                der_fn = der_of_model
        with console.status(f"optimising {args.input}"):
            result = optimize_model(
                args.input,
                args.output,
                level=args.level,
                slim=args.slim,
                quantize=args.quantize,
                calibration=calibration,
                der_fn=der_fn,
                tolerance=args.tolerance,
                der_tolerance=args.der_tolerance,
            )
    except VoiceFlowError as exc:
        console.print(f"[red]optimisation failed: {exc}")
        return 1
    parity = result.parity.max_abs_diff if result.parity else float("nan")
    console.print(
        f"[green]optimised[/] {result.output}: {result.size_before / 1e6:.2f} -> {result.size_after / 1e6:.2f} MB; "
        f"{'; '.join(result.steps)}; parity vs original {parity:.3g}"
    )
    if args.report:
        args.report.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
