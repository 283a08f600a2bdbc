"""Calibrating the clustering of a model: which output to cluster and at what threshold, chosen on validation voices.

The chosen values go into metadata.json's `diarization` block, which the server clusters with; the test set never
tunes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from voiceflow_contract.diarization.boundaries import BOUNDARIES
from voiceflow_contract.spec import OUTPUT_NAMES
from voiceflow_models.evaluation.held_out import ConversationLike
from voiceflow_models.evaluation.onnx_vectors import onnx_vectors, output_names
from voiceflow_models.evaluation.scoring import (
    CALIBRATION_METHODS,
    CALIBRATION_THRESHOLDS,
    DiarizationSettings,
    evaluate_system,
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
    boundaries: Sequence[str] = BOUNDARIES,
) -> dict[str, Any]:
    """Pick the output, final pass and clustering threshold with the lowest DER (collar 0.25 s, then collar 0) on
    `conversations` (validation voices: the test set never tunes anything), then the speaker-change rule
    (``boundary``) for that choice. Returns metadata.json's `diarization` block + both grids. Ties keep the earlier
    entry, so the original cohesion pass and the midpoint rule stay unless another is better."""
    base = settings or DiarizationSettings()
    grid = []
    vector_fns = {}
    for output in [o for o in outputs if o in output_names(model_path)]:
        fn = onnx_vectors(model_path, output)  # memoised: one model pass per output, re-clustered per threshold
        vector_fns[output] = fn
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
    # Then where speaker changes fall between windows, for the chosen output, pass and threshold (the default rule
    # first, so a tie keeps it).
    chosen = replace(base, method=best["method"], threshold=best["threshold"])
    boundary_grid = [{"boundary": base.boundary or BOUNDARIES[0], **best}]
    for boundary in [b for b in boundaries if b != boundary_grid[0]["boundary"]]:
        scores = evaluate_system(vector_fns[best["vector"]], conversations, replace(chosen, boundary=boundary))
        boundary_grid.append({**best, **scores, "boundary": boundary})
    best_boundary = min(boundary_grid, key=rank)
    return {
        "vector": best["vector"],
        "threshold": best["threshold"],
        "method": best["method"],
        "boundary": best_boundary["boundary"],
        "hop_s": base.hop_s,
        "validation_der_collar_025": best_boundary["der_collar_025"],
        "validation_conversations": len(conversations),
        "grid": grid,
        "boundary_grid": boundary_grid,
    }
