"""The recurrent int8 trial (export/recurrent_int8.py) and the blocked decimator, on small real ONNX graphs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from voiceflow_contract.spec import EMBEDDING_OUTPUT, INPUT_NAME, PROBABILITIES_OUTPUT, WINDOW_SAMPLES
from voiceflow_contract.testing import contract_model_proto
from voiceflow_models.export.recurrent_int8 import (
    embedding_cosine,
    quantize_upper_recurrent,
    recurrent_nodes,
    try_recurrent_int8,
)
from voiceflow_models.models.sophisticated import Decimate

FRAMES, FEATURES, HIDDEN = 100, WINDOW_SAMPLES // 100, 24


def lstm_model(path, layers: int) -> None:
    """audio [B, 48000] -> 100 frames of 480 samples -> `layers` stacked LSTMs -> last hidden state = embedding."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Reshape", [INPUT_NAME, "frames_shape"], ["frames"]),
        helper.make_node("Transpose", ["frames"], ["seq"], perm=[1, 0, 2]),  # [T, B, F]
    ]
    inits = [numpy_helper.from_array(np.array([0, FRAMES, FEATURES], dtype=np.int64), "frames_shape")]
    x, width = "seq", FEATURES
    for i in range(layers):
        w = (rng.standard_normal((1, 4 * HIDDEN, width)) * 0.1).astype(np.float32)
        r = (rng.standard_normal((1, 4 * HIDDEN, HIDDEN)) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(r, f"R{i}")]
        nodes += [
            helper.make_node("LSTM", [x, f"W{i}", f"R{i}"], [f"Y{i}", f"H{i}"], hidden_size=HIDDEN, name=f"lstm{i}"),
            helper.make_node("Squeeze", [f"Y{i}", "axis1"], [f"y{i}"]),  # [T, 1, B, H] -> [T, B, H]
        ]
        x, width = f"y{i}", HIDDEN
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"))
    inits.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"))
    nodes += [
        helper.make_node("Squeeze", [f"H{layers - 1}", "axis0"], ["last"]),  # [1, B, H] -> [B, H]
        helper.make_node("LpNormalization", ["last"], [EMBEDDING_OUTPUT], axis=-1, p=2),
        helper.make_node("Softmax", [EMBEDDING_OUTPUT], [PROBABILITIES_OUTPUT], axis=-1),
    ]
    proto = contract_model_proto(nodes, inits, num_speakers=HIDDEN, embedding_dim=HIDDEN, graph_name="tiny-lstm")
    onnx.save(proto, str(path))


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    return (np.random.default_rng(1).standard_normal((8, WINDOW_SAMPLES)) * 0.1).astype(np.float32)


def test_only_the_layers_after_the_first_are_quantised(tmp_path, windows):
    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    lstm_model(fp32, layers=3)
    assert recurrent_nodes(fp32) == ["lstm0", "lstm1", "lstm2"]
    assert quantize_upper_recurrent(fp32, int8) == ["lstm1", "lstm2"]
    ops = [n.op_type for n in onnx.load(str(int8)).graph.node]
    assert ops.count("LSTM") == 1 and ops.count("DynamicQuantizeLSTM") == 2
    assert 0.98 < embedding_cosine(fp32, int8, windows) <= 1.0 + 1e-6
    assert embedding_cosine(fp32, fp32, windows) == pytest.approx(1.0, abs=1e-6)


def test_the_decision_follows_its_two_gates(tmp_path, windows):
    fp32 = tmp_path / "fp32.onnx"
    lstm_model(fp32, layers=2)
    decision = try_recurrent_int8(fp32, tmp_path / "int8.onnx", windows, latency_runs=5)
    assert decision is not None and decision.quantized_nodes == ["lstm1"]
    accurate = decision.min_embedding_cosine >= 0.995
    assert decision.kept == (accurate and decision.p50_int8_ms < decision.p50_fp32_ms)
    refused = try_recurrent_int8(fp32, tmp_path / "int8b.onnx", windows, min_cosine=1.01, latency_runs=5)
    assert refused is not None and not refused.kept and "accuracy" in refused.reason


def test_a_single_recurrent_layer_is_left_alone(tmp_path, windows):
    fp32 = tmp_path / "fp32.onnx"
    lstm_model(fp32, layers=1)
    assert try_recurrent_int8(fp32, tmp_path / "int8.onnx", windows) is None


@pytest.mark.parametrize(
    ("taps", "cutoff", "length"), [(63, 0.9, WINDOW_SAMPLES), (255, 0.96, WINDOW_SAMPLES), (255, 0.96, 1001)]
)
def test_blocked_decimator_equals_the_strided_fir(taps, cutoff, length):
    decimate = Decimate(3, taps, cutoff)
    audio = torch.randn(2, length)
    reference = torch.nn.functional.conv1d(audio.unsqueeze(1), decimate.taps, stride=3, padding=taps // 2).squeeze(1)
    out = decimate(audio)
    assert out.shape == reference.shape
    assert torch.allclose(out, reference, atol=1e-6)
    assert "blocked_taps" not in decimate.state_dict()  # derived: old checkpoints load unchanged
