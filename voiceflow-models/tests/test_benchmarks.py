"""Benchmark CLIs: latency JSON shape, provider matrix, the accuracy CLI, the performance table's Markdown."""

from __future__ import annotations

import json

import onnxruntime as ort
import pytest

from voiceflow_contract.schemas import DevicePerformance
from voiceflow_models.benchmarks import accuracy, hardware_matrix, latency, performance_table


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
        DevicePerformance.model_validate(value)  # the block release.publish copies into metadata.json
    assert perf["cpu"]["p99_ms"] == min(perf["cpu_1t"]["p99_ms"], perf["cpu_2t"]["p99_ms"])


def test_bad_latency_arguments_are_refused(tiny_onnx, tmp_path):
    assert latency.main(["--model", str(tiny_onnx.path), "--threads", "0"]) == 2
    assert latency.main(["--model", str(tmp_path / "none.onnx")]) == 2


def test_hardware_matrix_covers_every_provider(tiny_onnx, tmp_path):
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


def test_accuracy_cli_writes_json(tiny_onnx, tmp_path):
    out = tmp_path / "acc.json"
    args = ["--model", str(tiny_onnx.path), "--conversations", "1", "--duration", "8", "--output", str(out)]
    assert accuracy.main([*args, "--no-baselines"]) == 0
    doc = json.loads(out.read_text())
    assert list(doc["systems"]) == ["model", "model:embedding"] and doc["test_set"]["conversations"] == 1
    assert accuracy.main(["--no-baselines"]) == 2


def test_performance_markdown_states_targets_machine_and_command():
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
