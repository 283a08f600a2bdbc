"""Dynamic int8 for the recurrent layers of an exported encoder (GE2E's LSTM), kept only if the embedding holds.

At batch 1 an LSTM step is a matrix-vector product that reads every recurrent weight once per frame, so a 3-layer
LSTM(256) over 101 frames is bound by memory traffic, not arithmetic: int8 weights read a quarter of the bytes.
The first layer stays fp32: its input is mel *power* (GE2E's front end takes no log), whose range is too wide for
one dynamic uint8 scale per window (measured on the pyannote sample: embedding cosine 0.36-0.64 vs fp32 when it is
quantised too, >= 0.998 when only the upper layers are).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from voiceflow_contract.spec import EMBEDDING_OUTPUT
from voiceflow_models.evaluation.timing import benchmark_onnx
from voiceflow_models.export.parity import ort_runner

RECURRENT_OPS = ("LSTM", "GRU")
#: Smallest embedding cosine (int8 vs fp32) over the calibration windows for int8 to be kept.
MIN_EMBEDDING_COSINE = 0.995


@dataclass
class RecurrentInt8Decision:
    """What the recurrent int8 trial found and whether its model replaced the fp32 one."""

    kept: bool
    reason: str
    quantized_nodes: list[str]
    min_embedding_cosine: float
    p50_fp32_ms: float
    p50_int8_ms: float


def recurrent_nodes(model_path: Path) -> list[str]:
    """Names of the graph's LSTM/GRU nodes in graph (= layer) order."""
    model = onnx.load(str(model_path), load_external_data=False)
    return [node.name for node in model.graph.node if node.op_type in RECURRENT_OPS]


def quantize_upper_recurrent(input_path: Path, output_path: Path) -> list[str]:
    """Dynamic int8 (per-channel weights) of every recurrent layer after the first; returns the nodes quantised.

    ``input_path`` must hold the weights as initializers (an ORT-optimised graph does; the raw dynamo export may
    feed them through Concat/Transpose nodes, which the quantiser skips)."""
    upper = recurrent_nodes(input_path)[1:]
    quantize_dynamic(
        str(input_path),
        str(output_path),
        op_types_to_quantize=list(RECURRENT_OPS),
        nodes_to_quantize=upper,
        per_channel=True,
        weight_type=QuantType.QInt8,
    )
    return upper


def embedding_cosine(reference: Path, candidate: Path, windows: np.ndarray) -> float:
    """Smallest cosine between the two models' ``embedding`` outputs over ``windows``."""
    ref_run, cand_run = ort_runner(reference), ort_runner(candidate)
    worst = 1.0
    for i in range(0, len(windows), 16):
        batch = windows[i : i + 16].astype(np.float32)
        a, b = ref_run(batch)[EMBEDDING_OUTPUT], cand_run(batch)[EMBEDDING_OUTPUT]
        cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)
        worst = min(worst, float(cos.min()))
    return worst


def try_recurrent_int8(
    fp32: Path, int8: Path, windows: np.ndarray, *, min_cosine: float = MIN_EMBEDDING_COSINE, latency_runs: int = 60
) -> RecurrentInt8Decision | None:
    """Quantise the upper recurrent layers of ``fp32`` into ``int8``; None when the model has fewer than two.

    Kept when the embedding cosine stays >= ``min_cosine`` on every window and batch-1 p50 (one thread, measured
    side by side) is lower."""
    if len(recurrent_nodes(fp32)) < 2:
        return None
    nodes = quantize_upper_recurrent(fp32, int8)
    cosine = embedding_cosine(fp32, int8, windows)
    p50_fp32 = benchmark_onnx(fp32, threads=(1,), runs=latency_runs, warmup=10)[0].p50_ms
    p50_int8 = benchmark_onnx(int8, threads=(1,), runs=latency_runs, warmup=10)[0].p50_ms
    accurate, faster = cosine >= min_cosine, p50_int8 < p50_fp32
    kept = accurate and faster
    failed = [w for w, ok in (("accuracy", accurate), ("latency", faster)) if not ok]
    reason = (
        f"{'kept' if kept else 'not kept'}: int8 {len(nodes)} upper recurrent layer(s), embedding cosine >= "
        f"{cosine:.4f} (min {min_cosine}); p50 {p50_int8:.2f} ms vs fp32 {p50_fp32:.2f} ms"
        + (f" (failed: {', '.join(failed)})" if failed else "")
    )
    return RecurrentInt8Decision(kept, reason, nodes, round(cosine, 6), round(p50_fp32, 4), round(p50_int8, 4))


__all__ = [
    "MIN_EMBEDDING_COSINE",
    "RecurrentInt8Decision",
    "embedding_cosine",
    "quantize_upper_recurrent",
    "recurrent_nodes",
    "try_recurrent_int8",
]
