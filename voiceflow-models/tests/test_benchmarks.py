"""Benchmarks: latency JSON shape, PyTorch side by side, provider matrix, DER with baselines on held-out voices."""

from __future__ import annotations

import json

import pytest

from voiceflow_contract.diarization import Segment
from voiceflow_contract.schemas import DevicePerformance
from voiceflow_models.benchmarks import accuracy, hardware_matrix, latency
from voiceflow_models.training.metrics import score_diarization


def test_latency_json_shape(tiny_onnx, tmp_path):
    out = tmp_path / "bench.json"
    args = ["--model", str(tiny_onnx.path), "--threads", "1", "2", "--batch-sizes", "1", "4"]
    assert latency.main([*args, "--runs", "15", "--warmup", "2", "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["schema"] == latency.SCHEMA
    assert doc["model"]["sha256"] and doc["model"]["size_bytes"] == tiny_onnx.path.stat().st_size
    assert doc["settings"]["execution_mode"] == "ORT_SEQUENTIAL" and doc["host"]["onnxruntime"]
    assert {(r["threads"], r["batch_size"]) for r in doc["results"]} == {(1, 1), (1, 4), (2, 1), (2, 4)}
    for r in doc["results"]:
        assert 0 < r["min_ms"] <= r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] and r["runs"] == 15
        assert r["throughput_rps"] == pytest.approx(r["batch_size"] * 1000 / r["mean_ms"], rel=1e-2)
    perf = doc["performance"]
    assert {"cpu", "cpu_1t", "cpu_2t"} <= set(perf)
    for value in perf.values():
        DevicePerformance.model_validate(value)  # the block publish_model.py copies into metadata.json
    assert perf["cpu"]["p99_ms"] == min(perf["cpu_1t"]["p99_ms"], perf["cpu_2t"]["p99_ms"])


def test_bad_latency_arguments_are_refused(tiny_onnx, tmp_path):
    assert latency.main(["--model", str(tiny_onnx.path), "--threads", "0"]) == 2
    assert latency.main(["--model", str(tmp_path / "none.onnx")]) == 2


def test_torch_eager_side_by_side(tiny_network):
    (result,) = latency.benchmark_torch(tiny_network, threads=(1,), runs=10, warmup=2)
    assert result.engine == "torch-eager" and result.p50_ms > 0


def test_hardware_matrix_covers_every_provider(tiny_onnx, tmp_path):
    import onnxruntime as ort

    rows = hardware_matrix.provider_matrix(tiny_onnx.path, runs=10, warmup=2)
    assert [r["provider"] for r in rows] == ort.get_available_providers()
    cpu = next(r for r in rows if r["provider"] == "CPUExecutionProvider")
    assert cpu["status"] == "measured" and cpu["p50_ms"] <= cpu["p99_ms"]
    assert all(r["status"] in ("measured", "skipped", "failed") for r in rows)
    out = tmp_path / "matrix.json"
    assert (
        hardware_matrix.main(["--model", str(tiny_onnx.path), "--runs", "5", "--warmup", "1", "--output", str(out)])
        == 0
    )
    assert json.loads(out.read_text())["rows"]


def test_accuracy_gives_numbers_for_model_and_baselines(tiny_onnx, heldout_conversations, fit_conversations):
    settings = accuracy.DiarizationSettings()
    doc = accuracy.evaluate(tiny_onnx.path, heldout_conversations, settings, fit_conversations=fit_conversations)
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
    settings = accuracy.DiarizationSettings()
    for conv in heldout_conversations:
        theory = accuracy.one_speaker_theory_der([conv])
        assert 0.2 < theory < 0.8  # two speakers who both talk
        hyp = accuracy.diarize(conv, accuracy.one_speaker_vectors, settings)
        assert len({s.speaker for s in hyp}) == 1
        s = score_diarization(list(conv.segments), hyp, uem=(0.0, len(conv.audio) / conv.sample_rate))
        fa, miss, total = s["false_alarm_s"] / s["total_s"], s["missed_s"] / s["total_s"], s["total_s"]
        assert theory + fa - 1e-6 <= s["der_collar_0"] <= theory + fa + miss + 1e-6
        assert total == pytest.approx(sum(seg.end - seg.start for seg in conv.segments), abs=1e-3)
        # Perfect VAD: the single speaker covers exactly the reference speech -> exactly the theory.
        perfect = [Segment(seg.start, seg.end, "spk0") for seg in conv.segments]
        exact = score_diarization(list(conv.segments), perfect, uem=(0.0, len(conv.audio) / conv.sample_rate))
        assert exact["der_collar_0"] == pytest.approx(theory, abs=1e-6)


def test_accuracy_cli_writes_json(tiny_onnx, tmp_path):
    out = tmp_path / "acc.json"
    args = ["--model", str(tiny_onnx.path), "--conversations", "1", "--duration", "8", "--output", str(out)]
    assert accuracy.main([*args, "--no-baselines"]) == 0
    doc = json.loads(out.read_text())
    assert list(doc["systems"]) == ["model", "model:embedding"] and doc["test_set"]["conversations"] == 1
    assert accuracy.main(["--no-baselines"]) == 2


def test_oracle_segmentation_floor_isolates_the_speaker_error(heldout_conversations):
    floor = accuracy.evaluate_oracle(heldout_conversations, accuracy.DiarizationSettings())
    assert floor["speaker_accuracy"] > 0.97  # perfect vectors: what remains is VAD/window/turn error
    assert floor["der_collar_025"] <= floor["der_collar_0"]


def test_performance_markdown_states_targets_machine_and_command():
    from voiceflow_models.benchmarks import performance_table

    row = {"engine": "onnxruntime", "p50_ms": 1.7, "p99_ms": 2.5}
    scores = {"der_collar_0": 0.3, "der_collar_025": 0.12, "precision": 0.8, "recall": 1.0, "speakers_found_mean": 2.0}
    m = {
        "params": 2_236_776,
        "size_bytes": 10_213_411,
        "parity_max_abs_diff": 2.6e-7,
        "latency": [{**row, "threads": 1}, {**row, "threads": 2, "p99_ms": 5.0}],
        "accuracy": {
            "systems": {"model": scores, "one-speaker": scores, "mfcc-stats": scores},
            "test_set": {"conversations": 8, "seconds": 480.0},
            "settings": {"threshold": 0.5},
            "one_speaker_theory_der_collar_0": 0.4,
            "oracle_segmentation_floor": {"der_collar_0": 0.35, "der_collar_025": 0.11},
        },
        "host": {"cpu": "Xeon", "cpu_count": "2", "loadavg_1m": "1.0", "onnxruntime": "1.32.0"},
        "date": "2026-11-26 10:00 UTC",
    }
    text = performance_table.markdown(m, "python -m voiceflow_models.benchmarks.performance_table --checkpoint x")
    assert "2,236,776" in text and "1.70 / 2.50 ms" in text and "1.70 / 5.00 ms" in text
    assert "p99 < 4.48 ms: best 2.50 ms -> **met**" in text
    assert "missed by 2.0 points" in text and "Xeon" in text and "--checkpoint x" in text


def test_calibration_uses_validation_voices_and_travels_to_metadata(
    tiny_onnx, heldout_conversations, fit_conversations
):
    from voiceflow_contract.schemas import DiarizationCalibration

    cal = accuracy.calibrate(tiny_onnx.path, fit_conversations, thresholds=(0.5, 0.8))
    assert cal["vector"] in ("speaker_embeddings", "embedding") and cal["threshold"] in (0.5, 0.8)
    # 2 outputs x (cohesion at each threshold + spectral once)
    assert len(cal["grid"]) == 6 and cal["validation_conversations"] == len(fit_conversations)
    assert cal["method"] in accuracy.CALIBRATION_METHODS
    best = min(cal["grid"], key=lambda g: (g["der_collar_025"], g["der_collar_0"]))
    assert cal["validation_der_collar_025"] == best["der_collar_025"]
    doc = accuracy.evaluate(tiny_onnx.path, heldout_conversations[:1], baselines=False, calibration=cal)
    assert doc["vector_output"] == cal["vector"] and doc["calibration"]["threshold"] == cal["threshold"]
    block = DiarizationCalibration.model_validate(doc["diarization"])  # what publish_model.py writes
    assert (block.vector, block.threshold, block.hop_s) == (cal["vector"], cal["threshold"], 0.5)
    assert block.method == cal["method"]
