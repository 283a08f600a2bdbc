"""Window vectors from an exported ONNX model, for clustering: one of its outputs per 1 s window."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from voiceflow_contract.onnx_io import graph_outputs
from voiceflow_contract.runtime import create_session
from voiceflow_contract.spec import PROBABILITIES_OUTPUT

VectorFn = Callable[[np.ndarray], np.ndarray]


def onnx_vectors(
    model_path: str | Path, output: str = PROBABILITIES_OUTPUT, threads: int = 1, batch: int = 16
) -> VectorFn:
    """Window vectors from an ONNX model's `output` (falls back to the probabilities if `output` is absent).

    Results are memoised per batch of windows, so re-clustering the same audio (calibration) runs the model once.
    """
    session = create_session(model_path, intra_op_threads=threads)
    names = [o.name for o in session.get_outputs()]
    name = output if output in names else PROBABILITIES_OUTPUT
    input_name = session.get_inputs()[0].name
    cache: dict[str, np.ndarray] = {}

    def vectors(windows: np.ndarray) -> np.ndarray:
        key = hashlib.sha1(np.ascontiguousarray(windows, dtype=np.float32).tobytes()).hexdigest()
        if key not in cache:
            outs = [
                session.run([name], {input_name: windows[i : i + batch].astype(np.float32)})[0]
                for i in range(0, len(windows), batch)
            ]
            cache[key] = np.concatenate(outs) if outs else np.zeros((0, 1), dtype=np.float32)
        return cache[key]

    return vectors


def output_names(model_path: str | Path) -> list[str]:
    """The ONNX model's output names."""
    return [o.name for o in graph_outputs(onnx.load(str(model_path), load_external_data=False))]
