"""Optimisation: EXTENDED graph optimisation keeps parity and metadata; int8 is a reported, conditional decision."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from voiceflow_models.evaluation.held_out import calibration_windows
from voiceflow_models.export import optimize
from voiceflow_models.export.parity import compare, ort_runner
from voiceflow_models.export.to_onnx import read_onnx_metadata


def test_optimised_model_keeps_parity_and_metadata(fast_onnx, tmp_path):
    out = tmp_path / "opt.onnx"
    result = optimize.optimize_model(fast_onnx.path, out, slim=True)
    assert result.parity is not None and result.parity.passed and result.parity.max_abs_diff <= 1e-4
    assert result.steps[0] == "onnxslim" and "extended" in result.steps[1]
    # Independent re-check at batch 1 and 8 against the un-optimised export.
    again = compare(ort_runner(fast_onnx.path), ort_runner(out), tolerance=1e-4)
    assert again.passed and {c.batch_size for c in again.cases} == {1, 8}
    assert read_onnx_metadata(out) == read_onnx_metadata(fast_onnx.path)
    json.dumps(result.to_dict())


def test_level_all_is_refused_because_it_is_cpu_specific(fast_onnx, tmp_path):
    with pytest.raises(optimize.OptimizeError, match="level"):
        optimize.optimize_model(fast_onnx.path, tmp_path / "x.onnx", level="all")
    with pytest.raises(optimize.OptimizeError, match="calibration"):
        optimize.optimize_model(fast_onnx.path, tmp_path / "x.onnx", quantize=True)


def test_int8_trial_is_decided_and_reported(fast_onnx, tmp_path, heldout_conversations):
    windows = calibration_windows(16, conversations=heldout_conversations)
    out = tmp_path / "q.onnx"
    result = optimize.optimize_model(fast_onnx.path, out, quantize=True, calibration=windows, agreement_min=0.9)
    decision = result.quantization
    assert decision is not None and decision.calibration_windows == 16
    assert 0.0 <= decision.window_agreement <= 1.0 and decision.p50_int8_ms > 0 and decision.p50_fp32_ms > 0
    assert decision.size_int8_bytes > 0 and decision.size_fp32_bytes > 0
    assert decision.reason.startswith("kept int8" if decision.kept else "kept fp32")
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert ("QuantizeLinear" in ops) == decision.kept  # the file written is the one the decision names
    # The rule itself: accurate AND not slower.
    expected = decision.window_agreement >= 0.9 and decision.p50_int8_ms <= decision.p50_fp32_ms
    assert decision.kept == expected


def test_fixed_front_end_stays_fp32(fast_onnx):
    graph = onnx.load(str(fast_onnx.path)).graph
    fixed = optimize.fixed_weight_nodes(fast_onnx.path)
    weights = {n.name: n.input[1] for n in graph.node if n.name in fixed}
    assert sorted(weights.values()) == ["network.frontend.dft", "network.frontend.mel"]


def test_int8_is_rejected_when_accuracy_does_not_hold(fast_onnx, tmp_path, heldout_conversations):
    windows = calibration_windows(8, conversations=heldout_conversations)
    fp32 = tmp_path / "fp32.onnx"
    optimize.graph_optimize(fast_onnx.path, fp32)
    int8 = tmp_path / "int8.onnx"
    optimize.quantize_int8(fast_onnx.path, int8, windows)
    ders = {fp32: 0.10, int8: 0.30}  # a DER function where int8 is clearly worse
    decision = optimize.decide_quantization(fp32, int8, windows, der_fn=lambda p: ders[p], latency_runs=10)
    assert not decision.kept and "accuracy" in decision.reason and decision.der_int8 == 0.30


def test_optimize_cli(fast_onnx, tmp_path):
    out, report = tmp_path / "cli.onnx", tmp_path / "opt.json"
    assert optimize.main(["--input", str(fast_onnx.path), "--output", str(out), "--report", str(report)]) == 0
    assert json.loads(report.read_text())["parity"]["passed"] is True
    assert optimize.main(["--input", str(tmp_path / "missing.onnx"), "--output", str(out)]) == 1
    run = ort_runner(out)
    assert run(np.zeros((3, 48000), np.float32))["speaker_embeddings"].shape == (3, 4)
