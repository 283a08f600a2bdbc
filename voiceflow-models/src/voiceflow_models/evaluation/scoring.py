"""Scoring one diarization system on conversations through exactly the path the server streams with.

voiceflow_contract.diarization.pipeline.diarize_audio: 1 s windows at a hop, the shared VAD gate and frame-level
activity mask, the system's vector per speech window, StreamingDiarizer's online clustering and finalize; then
voiceflow_models.evaluation.metrics scores the turns. Systems differ only in the vector function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from voiceflow_contract.diarization import Segment
from voiceflow_contract.diarization.pipeline import diarize_audio
from voiceflow_models.evaluation.held_out import ConversationLike
from voiceflow_models.evaluation.metrics import aggregate_scores, score_diarization
from voiceflow_models.evaluation.onnx_vectors import VectorFn

#: Thresholds tried by calibration (StreamingDiarizer's cosine similarity for opening a new speaker).
CALIBRATION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
#: Final passes tried by `calibrate` (StreamingDiarizer ``method``): the original cohesion refinement at every
#: threshold, and spectral re-clustering (eigengap speaker count; the online threshold only shapes live labels).
CALIBRATION_METHODS = ("cohesion", "spectral")


@dataclass
class DiarizationSettings:
    """How windows are cut, gated and clustered (identical for every system). threshold None = the shared default."""

    hop_s: float = 0.5
    vad_threshold_db: float = -40.0
    threshold: float | None = None
    method: str | None = None  # StreamingDiarizer's final pass; None = its default
    boundary: str | None = None  # StreamingDiarizer's speaker-change placement; None = its default (midpoint)
    max_speakers: int | None = None
    baseline_fit_seed: int = 7  # validation-voice conversations the MFCC standardisation is fitted on
    options: dict[str, Any] = field(default_factory=dict)

    def diarizer_options(self) -> dict[str, Any]:
        """Keyword arguments for StreamingDiarizer."""
        opts = dict(self.options)
        if self.threshold is not None:
            opts["threshold"] = self.threshold
        if self.method is not None:
            opts["method"] = self.method
        if self.boundary is not None:
            opts["boundary"] = self.boundary
        if self.max_speakers is not None:
            opts["max_speakers"] = self.max_speakers
        return opts


def diarize(conversation: ConversationLike, vector_fn: VectorFn, settings: DiarizationSettings) -> list[Segment]:
    """Turns for one conversation through the shared serving pipeline."""
    return diarize_audio(
        conversation.audio,
        conversation.sample_rate,
        vector_fn,
        hop_s=settings.hop_s,
        threshold_db=settings.vad_threshold_db,
        **settings.diarizer_options(),
    )


def score_conversation(conv: ConversationLike, hypothesis: list[Segment]) -> dict[str, float]:
    return score_diarization(list(conv.segments), hypothesis, uem=(0.0, len(conv.audio) / conv.sample_rate))


def evaluate_system(
    vector_fn: VectorFn,
    conversations: Sequence[ConversationLike],
    settings: DiarizationSettings,
    tick: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Corpus scores of one system (DER both collars, precision, recall, speaker accuracy, mean speakers found)."""
    per_file, found = [], []
    for conv in conversations:
        hypothesis = diarize(conv, vector_fn, settings)
        per_file.append(score_conversation(conv, hypothesis))
        found.append(len({s.speaker for s in hypothesis}))
        if tick is not None:
            tick()
    scores = aggregate_scores(per_file)
    scores["speakers_found_mean"] = float(np.mean(found))
    return scores


def threshold_grid(
    vector_fn: VectorFn,
    conversations: Sequence[ConversationLike],
    settings: DiarizationSettings,
    thresholds: Sequence[float] = CALIBRATION_THRESHOLDS,
) -> list[dict[str, Any]]:
    """Scores of one vector at every clustering threshold."""
    return [
        {"threshold": t, **evaluate_system(vector_fn, conversations, replace(settings, threshold=t))}
        for t in thresholds
    ]


def rank(scores: dict[str, Any]) -> tuple[float, float]:
    return round(scores["der_collar_025"], 6), round(scores["der_collar_0"], 6)
