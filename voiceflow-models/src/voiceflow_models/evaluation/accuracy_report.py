"""The accuracy document of a model: DER at collar 0 and 0.25 s, precision and recall on held-out two-speaker
conversations, beside the baselines (voiceflow_models.evaluation.baselines).

* the ONNX model ("model"): the output and clustering threshold of its calibration (evaluation.calibration: chosen
  on validation-voice conversations, never the test set; the same values go into metadata.json's
  `diarization` block, which the server clusters with); the model's other output is scored too as "model:<output>";
* baseline "one-speaker" and baseline "mfcc-stats".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.progress import Progress

from voiceflow_contract.spec import EMBEDDING_OUTPUT, PROBABILITIES_OUTPUT
from voiceflow_models.evaluation.baselines import MfccStats, one_speaker_theory_der, one_speaker_vectors
from voiceflow_models.evaluation.held_out import ConversationLike, held_out_conversations, validation_conversations
from voiceflow_models.evaluation.onnx_vectors import VectorFn, onnx_vectors, output_names
from voiceflow_models.evaluation.scoring import DiarizationSettings, evaluate_system, rank, threshold_grid

SCHEMA = "voiceflow.accuracy/1"


def evaluate(
    model_path: str | Path | None,
    conversations: Sequence[ConversationLike],
    settings: DiarizationSettings | None = None,
    *,
    output: str = PROBABILITIES_OUTPUT,
    both_outputs: bool = True,
    baselines: bool = True,
    fit_conversations: Sequence[ConversationLike] | None = None,
    calibration: dict[str, Any] | None = None,
    calibration_conversations: Sequence[ConversationLike] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score the model (if given) and the baselines; returns the accuracy JSON document.

    `calibration` (from `calibrate`) sets the model's output and threshold for the headline "model" row and is
    recorded as the document's `diarization` block (metadata.json's). `fit_conversations` (default: two
    validation-voice conversations) fit the MFCC baseline's standardisation; with `calibration_conversations`
    (validation voices) the MFCC baseline's threshold is calibrated there too, as the model's was.
    """
    settings = settings or DiarizationSettings()
    model_settings = settings
    if calibration is not None:
        output = calibration["vector"]
        model_settings = replace(
            settings,
            threshold=calibration["threshold"],
            method=calibration.get("method", settings.method),
            boundary=calibration.get("boundary", settings.boundary),
        )
    systems: dict[str, tuple[VectorFn, DiarizationSettings]] = {}
    if model_path is not None:
        systems["model"] = (onnx_vectors(model_path, output), model_settings)
        other = EMBEDDING_OUTPUT if output == PROBABILITIES_OUTPUT else PROBABILITIES_OUTPUT
        if both_outputs and other in output_names(model_path):
            systems[f"model:{other}"] = (onnx_vectors(model_path, other), model_settings)
    if baselines:
        systems["one-speaker"] = (one_speaker_vectors, settings)
        fit_set = fit_conversations or validation_conversations(2, 30.0, seed=settings.baseline_fit_seed)
        mfcc = MfccStats().fit(fit_set, settings.hop_s)
        mfcc_settings = settings
        if calibration_conversations:
            best = min(threshold_grid(mfcc, calibration_conversations, settings), key=rank)
            mfcc_settings = replace(settings, threshold=best["threshold"])
        systems["mfcc-stats"] = (mfcc, mfcc_settings)
    results: dict[str, dict[str, float]] = {}
    for name, (fn, system_settings) in systems.items():
        task = progress.add_task(f"diarizing with {name}", total=len(conversations)) if progress else None

        def tick(task: Any = task) -> None:
            if progress is not None and task is not None:
                progress.advance(task)

        results[name] = evaluate_system(fn, conversations, system_settings, tick)
    threshold = model_settings.threshold
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "created_at": datetime.now(UTC).isoformat(),
        "model": str(model_path) if model_path else None,
        "vector_output": output,
        "test_set": {
            "conversations": len(conversations),
            "seconds": round(sum(len(c.audio) / c.sample_rate for c in conversations), 2),
            "uris": [c.uri for c in conversations],
        },
        "settings": asdict(settings),
        "collars": {"der_collar_0": "none", "der_collar_025": "md-eval +-0.25 s (pyannote collar=0.5)"},
        "one_speaker_theory_der_collar_0": one_speaker_theory_der(conversations),
        "systems": results,
    }
    if calibration is not None:
        doc["calibration"] = calibration
    if "model" in results:
        m = results["model"]
        doc["metadata_accuracy"] = {
            "der_test_set": m["der_collar_025"],
            "precision": min(1.0, max(0.0, m["precision"])),
            "recall": min(1.0, max(0.0, m["recall"])),
            "der_collar_0": m["der_collar_0"],
            "der_collar_025": m["der_collar_025"],
        }
        # metadata.json's `diarization` block: what the server must cluster with to get the DER above.
        doc["diarization"] = {"vector": output, "hop_s": settings.hop_s}
        if threshold is not None:
            doc["diarization"]["threshold"] = threshold
        if model_settings.method is not None:
            doc["diarization"]["method"] = model_settings.method
        if model_settings.boundary is not None:
            doc["diarization"]["boundary"] = model_settings.boundary
    return doc


def der_of_model(model_path: str | Path, conversations: Sequence[ConversationLike] | None = None) -> float:
    """DER (collar 0.25 s) of one model on the default held-out set (used by export.optimize to judge int8)."""
    convs = conversations if conversations is not None else held_out_conversations(8, 30.0)
    return evaluate_system(onnx_vectors(model_path), convs, DiarizationSettings())["der_collar_025"]
