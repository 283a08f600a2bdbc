"""Calibrating the clustering of a model: which output to cluster and at what threshold, chosen on validation voices.

The chosen values go into metadata.json's `diarization` block, which the server clusters with; the test set never
tunes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from voiceflow_contract.spec import OUTPUT_NAMES
from voiceflow_models.evaluation.held_out import ConversationLike
from voiceflow_models.evaluation.onnx_vectors import onnx_vectors, output_names
from voiceflow_models.evaluation.scoring import (
    CALIBRATION_METHODS,
    CALIBRATION_THRESHOLDS,
    DiarizationSettings,
    rank,
    threshold_grid,
)


def calibrate(
    model_path: str | Path,
    conversations: Sequence[ConversationLike],
    settings: DiarizationSettings | None = None,
    *,
    thresholds: Sequence[float] = CALIBRATION_THRESHOLDS,
    outputs: Sequence[str] = OUTPUT_NAMES,
    methods: Sequence[str] = CALIBRATION_METHODS,
) -> dict[str, Any]:
    """Pick the output, final pass and clustering threshold with the lowest DER (collar 0.25 s, then collar 0) on
    `conversations` (validation voices: the test set never tunes anything). Returns metadata.json's `diarization`
    block + the grid. Ties keep the earlier entry, so the original cohesion pass stays unless another is better."""
    base = settings or DiarizationSettings()
    grid = []
    for output in [o for o in outputs if o in output_names(model_path)]:
        fn = onnx_vectors(model_path, output)  # memoised: one model pass per output, re-clustered per threshold
        for method in methods:
            # The spectral pass needs no threshold: one online threshold (the shared default) is enough for it.
            method_thresholds = thresholds if method == "cohesion" else thresholds[-1:]
            method_settings = replace(base, method=method)
            grid += [
                {"vector": output, "method": method, **g}
                for g in threshold_grid(fn, conversations, method_settings, method_thresholds)
            ]
    if not grid:
        raise ValueError(f"calibrate: {model_path} has none of the outputs {list(outputs)}")
    best = min(grid, key=rank)
    return {
        "vector": best["vector"],
        "threshold": best["threshold"],
        "method": best["method"],
        "hop_s": base.hop_s,
        "validation_der_collar_025": best["der_collar_025"],
        "validation_conversations": len(conversations),
        "grid": grid,
    }
