"""The time-bounded runner: a graph that never finishes is terminated and fails its rule instead of hanging."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from voiceflow_contract.runtime import CPU_PROVIDER
from voiceflow_contract.spec import load_contract
from voiceflow_contract.validator import RunTimeoutError, validate_model_contract
from voiceflow_contract.validator.runner import BoundedSession, choose_providers, open_session, run_outputs

RUN_TIMEOUT_S = 2.0  # per-inference bound handed to the validator


@pytest.fixture(scope="module")
def good_bytes(model_path: Callable[[str], Path]) -> bytes:
    return model_path("good").read_bytes()


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path / "endless.onnx"


def endless_loop_model(good: bytes) -> bytes:
    """The good model plus a Loop of 10^15 iterations feeding the output: valid ONNX that never finishes."""
    model = onnx.load_from_string(good)
    graph = model.graph
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "zero"], ["acc_out"]),
        ],
        "spin",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1]),
        ],
        [numpy_helper.from_array(np.array([0.0], np.float32), "zero")],
    )
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(10**15, np.int64), "trips"),
            numpy_helper.from_array(np.array(True), "go"),
            numpy_helper.from_array(np.array([0.0], np.float32), "acc0"),
        ]
    )
    out = graph.output[0].name
    next(n for n in graph.node if out in n.output).output[:] = ["before_loop"]
    graph.node.append(helper.make_node("Loop", ["trips", "go", "acc0"], ["spun"], body=body))
    graph.node.append(helper.make_node("Add", ["before_loop", "spun"], [out]))
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.timeout(60, method="thread")  # a regression hangs inside C code, where the signal method cannot fire
def test_endless_graph_is_terminated_not_hung(good_bytes: bytes, scratch: Path) -> None:
    """Without the run bound this call never returns (checked by hand: `timeout 60` killed it); with it, the model
    fails runtime.batch_1 within seconds and the message says why."""
    scratch.write_bytes(endless_loop_model(good_bytes))
    report = validate_model_contract(scratch, measure_latency=False, run_timeout_s=RUN_TIMEOUT_S)
    assert not report.passed
    failed = {c.name: c for c in report.failed_checks}
    assert "runtime.batch_1" in failed and "terminated" in failed["runtime.batch_1"].message
    assert failed["runtime.batch_1"].measured == "timeout"


def test_run_timeout_must_be_positive(good_bytes: bytes, scratch: Path) -> None:
    scratch.write_bytes(good_bytes)
    with pytest.raises(ValueError, match="run_timeout_s"):
        validate_model_contract(scratch, run_timeout_s=0)


@pytest.mark.timeout(60, method="thread")
def test_bounded_session_raises_run_timeout_error(good_bytes: bytes) -> None:
    session = BoundedSession(open_session(endless_loop_model(good_bytes), 1, [CPU_PROVIDER]), 0.5)
    audio = np.zeros((1, load_contract().window_samples), np.float32)
    try:
        with pytest.raises(RunTimeoutError, match="terminated"):
            run_outputs(session, "audio", audio)
    finally:
        session.close()


def test_bounded_session_runs_a_good_model(good_bytes: bytes) -> None:
    session = BoundedSession(open_session(good_bytes, 1, [CPU_PROVIDER]), 30.0)
    try:
        outputs = run_outputs(session, "audio", np.zeros((2, load_contract().window_samples), np.float32))
    finally:
        session.close()
    assert outputs["speaker_embeddings"].shape[0] == 2
    assert session.get_providers() == [CPU_PROVIDER]


def test_choose_providers_falls_back_to_cpu() -> None:
    contract = load_contract()
    use, available = choose_providers(contract.profile(None), ["NoSuchExecutionProvider"])
    assert use == [CPU_PROVIDER] and CPU_PROVIDER in available
