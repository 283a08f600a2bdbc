"""Diarization and window-classification metrics.

Collar convention (named explicitly because the two communities differ):
    pyannote.metrics' ``collar`` is the *total* width of the no-score zone centred on every reference boundary, while
    md-eval's ``-c`` is the half-width. ``der_collar_0`` is DER with no collar (pyannote/DIHARD convention) and
    ``der_collar_025`` is DER with md-eval's ±0.25 s collar (CALLHOME/NeMo convention), i.e. pyannote
    ``collar=0.5``. Overlapped speech is scored in both (``skip_overlap=False``).

Precision and recall in :func:`score_diarization` are *speech detection* precision/recall over time: of the time the
hypothesis marks as speech, the fraction that is reference speech (precision), and of the reference speech, the
fraction the hypothesis marks as speech (recall). ``speaker_accuracy`` is speaker attribution: the fraction of
correctly detected reference speech that is given to the right speaker under the optimal (Hungarian) mapping,
``1 - confusion / (total - missed)``.

Window metrics (:func:`window_scores`) are for the classifier's 1 s windows: accuracy = fraction of windows whose
arg-max speaker equals the label; precision/recall are macro-averaged over the speakers that occur in the labels or
predictions.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
from pyannote.core import Annotation, Timeline
from pyannote.core import Segment as PSegment

#: md-eval half-width collar of the "0.25 s" DER, in seconds.
MDEVAL_COLLAR_S = 0.25
#: The same collar in pyannote's total-width convention.
PYANNOTE_COLLAR_025 = 2 * MDEVAL_COLLAR_S


class SegmentLike(Protocol):
    """Anything with ``start``/``end`` seconds and a ``speaker`` label (``voiceflow_contract.diarization.Segment``)."""

    start: float
    end: float
    speaker: str


def to_annotation(segments: Iterable[SegmentLike], uri: str = "file") -> Annotation:
    """pyannote ``Annotation`` from segments; raises ``ValueError`` naming a segment with ``end < start``."""
    annotation = Annotation(uri=uri)
    for index, seg in enumerate(segments):
        if seg.end < seg.start:
            raise ValueError(f"segment {index} has end ({seg.end}) < start ({seg.start})")
        if seg.end > seg.start:
            annotation[PSegment(float(seg.start), float(seg.end)), index] = str(seg.speaker)
    return annotation


def _uem_timeline(
    uem: tuple[float, float] | Sequence[tuple[float, float]] | None, reference: Annotation, hypothesis: Annotation
) -> Timeline:
    """The scored region: given, or [0, last end of either side] (avoids pyannote's approximated-UEM warning)."""
    if uem is None:
        end = max(
            reference.get_timeline().extent().end if reference else 0.0,
            hypothesis.get_timeline().extent().end if hypothesis else 0.0,
        )
        return Timeline([PSegment(0.0, max(end, 1e-3))])
    spans = [uem] if isinstance(uem[0], int | float) else uem  # type: ignore[index]
    timeline = Timeline()
    for start, end in spans:  # type: ignore[misc]
        if end <= start:
            raise ValueError(f"uem span ({start}, {end}) must have end > start")
        timeline.add(PSegment(float(start), float(end)))
    return timeline


def score_diarization(
    reference_segments: Sequence[SegmentLike],
    hypothesis_segments: Sequence[SegmentLike],
    uem: tuple[float, float] | Sequence[tuple[float, float]] | None = None,
) -> dict[str, float]:
    """Score one recording: DER at both collars, its components, speech precision/recall, speaker accuracy.

    Args:
        reference_segments: reference turns (e.g. parsed RTTM).
        hypothesis_segments: system turns.
        uem: scored region as ``(start, end)`` or a list of them; default ``(0, last end of either side)``.

    Returns:
        ``der_collar_0``, ``der_collar_025`` (md-eval ±0.25 s, pyannote collar 0.5), ``false_alarm_s``, ``missed_s``,
        ``confusion_s``, ``total_s`` (collar 0), ``precision``, ``recall``, ``speaker_accuracy``.
    """
    # pyannote.metrics pulls in scipy.stats and pandas (about 2 s): imported on first scoring, not with this module,
    # so the training module, the exporter and the CLIs that only import the scoring helpers start fast.
    from pyannote.metrics.detection import DetectionPrecision, DetectionRecall
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference = to_annotation(reference_segments, uri="ref")
    hypothesis = to_annotation(hypothesis_segments, uri="ref")
    timeline = _uem_timeline(uem, reference, hypothesis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyannote warns about UEM approximations and empty annotations
        der0 = DiarizationErrorRate(collar=0.0, skip_overlap=False)
        components = der0(reference, hypothesis, uem=timeline, detailed=True)
        der025 = DiarizationErrorRate(collar=PYANNOTE_COLLAR_025, skip_overlap=False)(
            reference, hypothesis, uem=timeline
        )
        precision = DetectionPrecision()(reference, hypothesis, uem=timeline)
        recall = DetectionRecall()(reference, hypothesis, uem=timeline)
    total = float(components["total"])
    missed = float(components["missed detection"])
    confusion = float(components["confusion"])
    detected = total - missed
    return {
        "der_collar_0": float(components["diarization error rate"]),
        "der_collar_025": float(der025),
        "false_alarm_s": float(components["false alarm"]),
        "missed_s": missed,
        "confusion_s": confusion,
        "total_s": total,
        "precision": float(precision),
        "recall": float(recall),
        "speaker_accuracy": 1.0 - confusion / detected if detected > 0 else 0.0,
    }


def aggregate_scores(per_file: Sequence[dict[str, float]]) -> dict[str, float]:
    """Corpus-level scores: DER and speaker accuracy duration-weighted (sum of errors / sum of speech); precision and
    recall as means over files. Only DER at collar 0 can be recomputed exactly from the components; the 0.25 s DER is
    weighted by each file's reference speech."""
    if not per_file:
        raise ValueError("per_file must contain at least one file's scores")
    total = sum(s["total_s"] for s in per_file)
    errors = sum(s["false_alarm_s"] + s["missed_s"] + s["confusion_s"] for s in per_file)
    detected = sum(s["total_s"] - s["missed_s"] for s in per_file)
    confusion = sum(s["confusion_s"] for s in per_file)
    weights = np.array([s["total_s"] for s in per_file]) / max(total, 1e-9)
    return {
        "der_collar_0": errors / total if total > 0 else 0.0,
        "der_collar_025": float(np.dot(weights, [s["der_collar_025"] for s in per_file])),
        "precision": float(np.mean([s["precision"] for s in per_file])),
        "recall": float(np.mean([s["recall"] for s in per_file])),
        "speaker_accuracy": 1.0 - confusion / detected if detected > 0 else 0.0,
        "total_s": total,
        "files": float(len(per_file)),
    }


def window_scores(predictions: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray) -> dict[str, float]:
    """Window accuracy plus macro precision/recall over the classes present (see the module docstring)."""
    pred = np.asarray(predictions)
    true = np.asarray(labels)
    if pred.shape != true.shape or pred.ndim != 1:
        raise ValueError(f"predictions and labels must be equal-length 1-D, got {pred.shape} and {true.shape}")
    if pred.size == 0:
        raise ValueError("predictions must not be empty")
    classes = np.union1d(pred, true)
    precisions, recalls = [], []
    for c in classes:
        tp = float(np.sum((pred == c) & (true == c)))
        predicted, actual = float(np.sum(pred == c)), float(np.sum(true == c))
        precisions.append(tp / predicted if predicted else 0.0)
        recalls.append(tp / actual if actual else 0.0)
    return {
        "accuracy": float(np.mean(pred == true)),
        "precision": float(np.mean(precisions)),
        "recall": float(np.mean(recalls)),
    }
