"""Issue 12 finding 5: external data hidden outside the top-level initializers is refused before any session.

Each model below is otherwise contract-valid (the good test model plus one hidden tensor) and points at ``leak.bin``
beside it and in the working directory, where ONNX Runtime used to read it from.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from voiceflow_contract.schemas.report import CheckStatus
from voiceflow_contract.validator import validate_model_contract


def _external(name: str, count: int = 4) -> TensorProto:
    tensor = numpy_helper.from_array(np.zeros(count, dtype=np.float32), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "leak.bin"), ("offset", "0"), ("length", str(4 * count))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _hide(model: onnx.ModelProto, where: str) -> None:
    """Add one external-data tensor at ``where``, feeding an output nobody reads (the graph stays valid)."""
    graph = model.graph
    if where == "constant_attribute":
        graph.node.append(helper.make_node("Constant", [], ["hidden"], value=_external("hidden_value")))
    elif where == "if_branch_initializer":
        branch = helper.make_graph(
            [helper.make_node("Identity", ["branch_weights"], ["branch_out"])],
            "then_branch",
            [],
            [helper.make_tensor_value_info("branch_out", TensorProto.FLOAT, [4])],
            initializer=[_external("branch_weights")],
        )
        graph.initializer.append(numpy_helper.from_array(np.array(True), "cond"))
        graph.node.append(helper.make_node("If", ["cond"], ["hidden"], then_branch=branch, else_branch=branch))
    elif where == "sparse_initializer":
        values = _external("sparse_values", 2)
        indices = numpy_helper.from_array(np.array([0, 3], dtype=np.int64), "sparse_indices")
        graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4]))
    else:
        raise ValueError(where)


@pytest.mark.parametrize("where", ["constant_attribute", "if_branch_initializer", "sparse_initializer"])
def test_external_data_anywhere_is_refused_before_any_session(
    where: str, model_path: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = onnx.load(model_path("good"))
    _hide(model, where)
    folder = tmp_path / "model"
    folder.mkdir()
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    for place in (folder, tmp_path):
        (place / "leak.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    monkeypatch.chdir(tmp_path)  # where ONNX Runtime resolved the location of a model loaded from bytes
    report = validate_model_contract(path, measure_latency=False)
    check = next(c for c in report.checks if c.name == "onnx.external_data")
    assert check.status is CheckStatus.FAILED, check.message
    assert not report.passed
    session = next(c for c in report.checks if c.name == "runtime.session")
    assert session.status is CheckStatus.SKIPPED  # refused before any session is built
