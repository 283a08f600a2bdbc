"""Removing the shape plumbing around exported LSTM layers (export/recurrent_plumbing.py), on small real ONNX graphs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from voiceflow_contract.spec import EMBEDDING_OUTPUT, INPUT_NAME, PROBABILITIES_OUTPUT, WINDOW_SAMPLES
from voiceflow_contract.testing import contract_model_proto
from voiceflow_models.export.recurrent_plumbing import prune_recurrent_plumbing

FRAMES, FEATURES, HIDDEN, LAYERS = 100, WINDOW_SAMPLES // 100, 16, 2


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name)


def plumbed_lstm(path, *, zero_state: float = 0.0) -> None:
    """Two stacked LSTMs wired the way the dynamo export of ``nn.LSTM(batch_first=True)`` wires them: per-call zero
    states (Expand + Split), Transpose + Reshape between layers, Gather(Concat(Y_h)) for the last hidden state and an
    Expand before the normalising Div."""
    rng = np.random.default_rng(0)
    inits = [
        _const("frames_shape", np.array([0, FRAMES, FEATURES], dtype=np.int64)),
        _const("zero", np.full((1, 1, HIDDEN), zero_state, dtype=np.float32)),
        _const("layers", np.array([LAYERS], dtype=np.int64)),
        _const("hidden", np.array([HIDDEN], dtype=np.int64)),
        _const("i0", np.array([0], dtype=np.int64)),
        _const("i1", np.array([1], dtype=np.int64)),
        _const("splits", np.ones(LAYERS, dtype=np.int64)),
        _const("seq_shape", np.array([0, 0, -1], dtype=np.int64)),
        _const("last", np.array(LAYERS - 1, dtype=np.int64)),
        _const("axes1", np.array([1], dtype=np.int64)),
    ]
    nodes = [
        helper.make_node("Reshape", [INPUT_NAME, "frames_shape"], ["frames"]),
        helper.make_node("Transpose", ["frames"], ["x0"], perm=[1, 0, 2]),
        helper.make_node("Shape", [INPUT_NAME], ["audio_shape"]),
        helper.make_node("Slice", ["audio_shape", "i0", "i1"], ["batch"]),
        helper.make_node("Concat", ["layers", "batch", "hidden"], ["state_shape"], axis=0),
        helper.make_node("Expand", ["zero", "state_shape"], ["zeros"]),
        helper.make_node("Split", ["zeros", "splits"], [f"h{i}" for i in range(LAYERS)], axis=0),
    ]
    x, width = "x0", FEATURES
    for i in range(LAYERS):
        inits += [
            _const(f"W{i}", (rng.standard_normal((1, 4 * HIDDEN, width)) * 0.1).astype(np.float32)),
            _const(f"R{i}", (rng.standard_normal((1, 4 * HIDDEN, HIDDEN)) * 0.1).astype(np.float32)),
        ]
        inputs = [x, f"W{i}", f"R{i}", "", "", f"h{i}", f"h{i}"]
        nodes.append(helper.make_node("LSTM", inputs, [f"Y{i}", f"H{i}"], hidden_size=HIDDEN, name=f"lstm{i}"))
        nodes += [
            helper.make_node("Transpose", [f"Y{i}"], [f"t{i}"], perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [f"t{i}", "seq_shape"], [f"x{i + 1}"]),
        ]
        x, width = f"x{i + 1}", HIDDEN
    nodes += [
        helper.make_node("Concat", [f"H{i}" for i in range(LAYERS)], ["all_h"], axis=0),
        helper.make_node("Gather", ["all_h", "last"], ["top"], axis=0),
        helper.make_node("ReduceL2", ["top", "axes1"], ["norm"], keepdims=1),
        helper.make_node("Shape", ["top"], ["top_shape"]),
        helper.make_node("Expand", ["norm", "top_shape"], ["norm_wide"]),
        helper.make_node("Div", ["top", "norm_wide"], [EMBEDDING_OUTPUT]),
        helper.make_node("Softmax", [EMBEDDING_OUTPUT], [PROBABILITIES_OUTPUT], axis=-1),
    ]
    proto = contract_model_proto(nodes, inits, num_speakers=HIDDEN, embedding_dim=HIDDEN, graph_name="plumbed-lstm")
    onnx.save(proto, str(path))


def _outputs(path, batch: int) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    audio = (np.random.default_rng(batch).standard_normal((batch, WINDOW_SAMPLES)) * 0.1).astype(np.float32)
    return session.run(None, {INPUT_NAME: audio})


def test_the_plumbing_goes_and_the_outputs_stay_equal(tmp_path):
    src, dst = tmp_path / "plumbed.onnx", tmp_path / "pruned.onnx"
    plumbed_lstm(src)
    counts = prune_recurrent_plumbing(src, dst)
    assert counts["zero_states"] == 2 * LAYERS
    assert counts["layer_chains"] == LAYERS - 1
    assert counts["last_hidden"] == 1 and counts["broadcast_divisors"] == 1
    pruned = onnx.load(str(dst))
    onnx.checker.check_model(pruned)
    ops = [n.op_type for n in pruned.graph.node]
    assert "Expand" not in ops and "Gather" not in ops and "Split" not in ops
    assert all(list(n.input)[5:7] in ([], ["", ""]) for n in pruned.graph.node if n.op_type == "LSTM")
    assert len(ops) == len(onnx.load(str(src)).graph.node) - counts["nodes_removed"] > 0
    for batch in (1, 3):
        for before, after in zip(_outputs(src, batch), _outputs(dst, batch), strict=True):
            np.testing.assert_array_equal(before, after)


def test_a_non_zero_initial_state_is_kept(tmp_path):
    src, dst = tmp_path / "plumbed.onnx", tmp_path / "pruned.onnx"
    plumbed_lstm(src, zero_state=0.5)
    counts = prune_recurrent_plumbing(src, dst)
    assert counts["zero_states"] == 0
    for before, after in zip(_outputs(src, 2), _outputs(dst, 2), strict=True):
        np.testing.assert_allclose(before, after, atol=1e-7)


def test_a_graph_without_the_patterns_is_left_as_it_was(tmp_path):
    src, dst = tmp_path / "plumbed.onnx", tmp_path / "once.onnx"
    plumbed_lstm(src)
    prune_recurrent_plumbing(src, dst)
    again = tmp_path / "twice.onnx"
    counts = prune_recurrent_plumbing(dst, again)
    assert counts == dict.fromkeys(counts, 0)
    assert [n.op_type for n in onnx.load(str(again)).graph.node] == [n.op_type for n in onnx.load(str(dst)).graph.node]


@pytest.mark.parametrize("batch", [1, 4])
def test_the_pruned_graph_takes_any_batch(tmp_path, batch):
    src, dst = tmp_path / "plumbed.onnx", tmp_path / "pruned.onnx"
    plumbed_lstm(src)
    prune_recurrent_plumbing(src, dst)
    assert [o.shape for o in _outputs(dst, batch)] == [(batch, HIDDEN), (batch, HIDDEN)]
