"""Metrics: DER at both collars on hand-checked segments, speech precision/recall, window scores, aggregation."""

from __future__ import annotations

import pytest

from voiceflow_contract.diarization import Segment
from voiceflow_models.evaluation.metrics import (
    PYANNOTE_COLLAR_025,
    aggregate_scores,
    score_diarization,
    window_scores,
)

REFERENCE = [Segment(0.0, 10.0, "A"), Segment(10.0, 20.0, "B")]


def test_perfect_hypothesis_scores_zero_whatever_the_labels():
    scores = score_diarization(REFERENCE, [Segment(0.0, 10.0, "x"), Segment(10.0, 20.0, "y")])
    assert scores["der_collar_0"] == 0.0 and scores["der_collar_025"] == 0.0
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0 and scores["speaker_accuracy"] == 1.0


def test_boundary_error_hand_checked_at_both_collars():
    # Hypothesis moves the speaker change from 10 s to 11 s: 1 s of confusion out of 20 s of speech.
    scores = score_diarization(REFERENCE, [Segment(0.0, 11.0, "x"), Segment(11.0, 20.0, "y")])
    assert scores["der_collar_0"] == pytest.approx(1.0 / 20.0)
    assert scores["confusion_s"] == pytest.approx(1.0)
    # md-eval ±0.25 s collar (pyannote collar=0.5): [9.75, 10.25], [0, 0.25] and [19.75, 20] are not scored, so 19 s
    # remain and the confusion shrinks to [10.25, 11] = 0.75 s.
    assert PYANNOTE_COLLAR_025 == 0.5
    assert scores["der_collar_025"] == pytest.approx(0.75 / 19.0)
    assert scores["speaker_accuracy"] == pytest.approx(0.95)


def test_everything_one_speaker_baseline_is_half_wrong_on_two_equal_speakers():
    scores = score_diarization(REFERENCE, [Segment(0.0, 20.0, "x")])
    assert scores["der_collar_0"] == pytest.approx(0.5)
    assert scores["speaker_accuracy"] == pytest.approx(0.5)


def test_missed_speech_and_false_alarm_drive_recall_and_precision():
    # Hypothesis misses [0, 2] and invents speech in [20, 24] (inside the scored region given by uem).
    hypothesis = [Segment(2.0, 10.0, "x"), Segment(10.0, 24.0, "y")]
    scores = score_diarization(REFERENCE, hypothesis, uem=(0.0, 25.0))
    assert scores["missed_s"] == pytest.approx(2.0)
    assert scores["false_alarm_s"] == pytest.approx(4.0)
    assert scores["der_collar_0"] == pytest.approx((2.0 + 4.0) / 20.0)
    assert scores["recall"] == pytest.approx(18.0 / 20.0)
    assert scores["precision"] == pytest.approx(18.0 / 22.0)


def test_invalid_segments_and_uem_are_rejected():
    with pytest.raises(ValueError, match="segment 0 has end"):
        score_diarization([Segment(5.0, 1.0, "A")], REFERENCE)
    with pytest.raises(ValueError, match="uem span"):
        score_diarization(REFERENCE, REFERENCE, uem=(3.0, 3.0))


def test_aggregate_weights_by_reference_speech():
    a = score_diarization(REFERENCE, [Segment(0.0, 20.0, "x")])  # 10 s errors of 20 s
    b = score_diarization([Segment(0.0, 20.0, "A")], [Segment(0.0, 20.0, "x")])  # perfect
    corpus = aggregate_scores([a, b])
    assert corpus["der_collar_0"] == pytest.approx(10.0 / 40.0)
    assert corpus["files"] == 2.0
    with pytest.raises(ValueError, match="at least one"):
        aggregate_scores([])


def test_window_scores_accuracy_and_macro_precision_recall():
    scores = window_scores([0, 0, 1, 1, 2], [0, 1, 1, 1, 2])
    assert scores["accuracy"] == pytest.approx(4 / 5)
    # class 0: P=1/2 R=1; class 1: P=1 R=2/3; class 2: P=1 R=1
    assert scores["precision"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert scores["recall"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    with pytest.raises(ValueError, match="equal-length"):
        window_scores([0, 1], [0])
