"""Evaluation: DER of a model and the baselines on held-out voices, the oracle floor, calibration, eager timing."""

from __future__ import annotations

import json

import pytest

from voiceflow_contract.diarization import BOUNDARIES, Segment
from voiceflow_contract.schemas import DiarizationCalibration
from voiceflow_models.evaluation.accuracy_report import evaluate
from voiceflow_models.evaluation.baselines import evaluate_oracle, one_speaker_theory_der, one_speaker_vectors
from voiceflow_models.evaluation.calibration import calibrate
from voiceflow_models.evaluation.metrics import score_diarization
from voiceflow_models.evaluation.scoring import CALIBRATION_METHODS, DiarizationSettings, diarize
from voiceflow_models.evaluation.timing import benchmark_torch


def test_accuracy_gives_numbers_for_model_and_baselines(tiny_onnx, heldout_conversations, fit_conversations):
    settings = DiarizationSettings()
    doc = evaluate(tiny_onnx.path, heldout_conversations, settings, fit_conversations=fit_conversations)
    assert set(doc["systems"]) == {"model", "model:embedding", "one-speaker", "mfcc-stats"}
    assert doc["vector_output"] == "speaker_embeddings"
    for scores in doc["systems"].values():
        for key in ("der_collar_0", "der_collar_025", "precision", "recall"):
            assert 0.0 <= scores[key] <= 2.0
        assert scores["der_collar_025"] <= scores["der_collar_0"] + 1e-9  # a collar only forgives errors
    assert doc["systems"]["one-speaker"]["speakers_found_mean"] == 1.0
    meta = doc["metadata_accuracy"]
    assert meta["der_test_set"] == doc["systems"]["model"]["der_collar_025"]
    json.dumps(doc)


def test_one_speaker_baseline_der_is_what_theory_says(heldout_conversations):
    """One hypothesis speaker maps to the dominant reference speaker, so at collar 0:
    DER = (total - dominant)/total + false alarm/total + (dominant speaker's missed time)/total,
    i.e. theory + FA/total <= DER <= theory + (FA + miss)/total; with a perfect VAD exactly the theory."""
    settings = DiarizationSettings()
    for conv in heldout_conversations:
        theory = one_speaker_theory_der([conv])
        assert 0.2 < theory < 0.8  # two speakers who both talk
        hyp = diarize(conv, one_speaker_vectors, settings)
        assert len({s.speaker for s in hyp}) == 1
        s = score_diarization(list(conv.segments), hyp, uem=(0.0, len(conv.audio) / conv.sample_rate))
        fa, miss, total = s["false_alarm_s"] / s["total_s"], s["missed_s"] / s["total_s"], s["total_s"]
        assert theory + fa - 1e-6 <= s["der_collar_0"] <= theory + fa + miss + 1e-6
        assert total == pytest.approx(sum(seg.end - seg.start for seg in conv.segments), abs=1e-3)
        # Perfect VAD: the single speaker covers exactly the reference speech -> exactly the theory.
        perfect = [Segment(seg.start, seg.end, "spk0") for seg in conv.segments]
        exact = score_diarization(list(conv.segments), perfect, uem=(0.0, len(conv.audio) / conv.sample_rate))
        assert exact["der_collar_0"] == pytest.approx(theory, abs=1e-6)


def test_oracle_segmentation_floor_isolates_the_speaker_error(heldout_conversations):
    floor = evaluate_oracle(heldout_conversations, DiarizationSettings())
    assert floor["speaker_accuracy"] > 0.97  # perfect vectors: what remains is VAD/window/turn error
    assert floor["der_collar_025"] <= floor["der_collar_0"]


def test_calibration_uses_validation_voices_and_travels_to_metadata(
    tiny_onnx, heldout_conversations, fit_conversations
):
    cal = calibrate(tiny_onnx.path, fit_conversations, thresholds=(0.5, 0.8))
    assert cal["vector"] in ("speaker_embeddings", "embedding") and cal["threshold"] in (0.5, 0.8)
    # 2 outputs x (cohesion at each threshold + spectral once)
    assert len(cal["grid"]) == 6 and cal["validation_conversations"] == len(fit_conversations)
    assert cal["method"] in CALIBRATION_METHODS
    best = min(cal["grid"], key=lambda g: (g["der_collar_025"], g["der_collar_0"]))
    # Then the speaker-change rule for that choice: the default first (a tie keeps it), the chosen one's DER recorded.
    assert [g["boundary"] for g in cal["boundary_grid"]] == list(BOUNDARIES)
    assert cal["boundary_grid"][0]["der_collar_025"] == best["der_collar_025"]
    chosen = min(cal["boundary_grid"], key=lambda g: (g["der_collar_025"], g["der_collar_0"]))
    assert cal["boundary"] == chosen["boundary"] and cal["validation_der_collar_025"] == chosen["der_collar_025"]
    assert all((g["vector"], g["method"]) == (cal["vector"], cal["method"]) for g in cal["boundary_grid"])
    doc = evaluate(tiny_onnx.path, heldout_conversations[:1], baselines=False, calibration=cal)
    assert doc["vector_output"] == cal["vector"] and doc["calibration"]["threshold"] == cal["threshold"]
    block = DiarizationCalibration.model_validate(doc["diarization"])  # what release.publish writes
    assert (block.vector, block.threshold, block.hop_s) == (cal["vector"], cal["threshold"], 0.5)
    assert block.method == cal["method"] and block.boundary == cal["boundary"]


def test_torch_eager_side_by_side(tiny_network):
    (result,) = benchmark_torch(tiny_network, threads=(1,), runs=10, warmup=2)
    assert result.engine == "torch-eager" and result.p50_ms > 0
