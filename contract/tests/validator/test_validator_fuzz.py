"""Fuzzing the validator with hostile ONNX files (hypothesis, fixed budget, fixed seed database-free runs).

Promises under test, for every generated file:
* it never crashes: the answer is always a ValidationReport, never an exception, never ``validator.error``;
* it never hangs: inference runs are terminated after ``RUN_TIMEOUT_S`` (``validator.runner.BoundedSession``, see
  test_runner.py), so a hang shows as this test's pytest timeout (no wall-clock assertion: that would depend on the
  machine);
* it never accepts a broken file: a mutation that breaks the contract is never ``passed``, and whenever a report does
  pass, an independent ONNX Runtime session confirms the file really honours the contract (the oracle).

Fast budgets run in ``make test``; the ``slow`` variants (10x the examples) run in ``make chaos``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from voiceflow_contract.schemas.report import CheckStatus, ValidationReport
from voiceflow_contract.validator import validate_model_contract

RUN_TIMEOUT_S = 2.0  # per-inference bound handed to the validator
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=2000, deadline=None, database=None, suppress_health_check=list(HealthCheck))


# ---------------------------------------------------------------------------------------------------------- oracle
def really_honours_contract(data: bytes) -> bool:
    """Independent of the validator: the bytes load in ONNX Runtime and map float32 [B, 48000] to finite softmax rows
    [B, S>=2] at batch 1 and 8."""
    try:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        inputs = session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != "audio":
            return False
        for batch in (1, 8):
            audio = (np.random.default_rng(batch).standard_normal((batch, 48000)) * 0.1).astype(np.float32)
            outputs = dict(
                zip([o.name for o in session.get_outputs()], session.run(None, {"audio": audio}), strict=True)
            )
            probs = np.asarray(outputs.get("speaker_embeddings"))
            if probs.dtype != np.float32 or probs.ndim != 2 or probs.shape[0] != batch or probs.shape[1] < 2:
                return False
            if not np.isfinite(probs).all() or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
                return False
    except Exception:
        return False
    return True


def judge(path: Path, data: bytes) -> ValidationReport:
    """Validate ``data`` written to ``path``; assert the three promises that hold for every file."""
    path.write_bytes(data)
    # A file that made the validator hang would end this test at pytest's timeout; how long a validation takes is
    # not asserted (it depends on the machine).
    report = validate_model_contract(path, measure_latency=False, run_timeout_s=RUN_TIMEOUT_S)
    assert isinstance(report, ValidationReport)
    failed = {c.name for c in report.failed_checks}
    assert "validator.error" not in failed, report.failed_checks
    assert report.passed == (not failed)
    assert all(c.message for c in report.checks if c.status is CheckStatus.FAILED)  # every refusal says why
    if report.passed:
        assert really_honours_contract(data), "the validator accepted a file that breaks the contract"
    ValidationReport.from_json(report.to_json())  # a registry document: always serialisable
    return report


@pytest.fixture(scope="module")
def good_bytes(model_path: Callable[[str], Path]) -> bytes:
    return model_path("good").read_bytes()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "model.onnx"


def test_the_oracle_agrees_on_the_good_model(good_bytes: bytes, scratch: Path) -> None:
    assert really_honours_contract(good_bytes)
    assert judge(scratch, good_bytes).passed


# ------------------------------------------------------------------------------------------------- raw byte attacks
def test_truncated_at_every_sampled_offset(good_bytes: bytes, scratch: Path) -> None:
    """128 offsets spread over the file plus every one of the last 32 bytes: never accepted."""
    size = len(good_bytes)
    offsets = sorted({*np.linspace(0, size - 1, 128).astype(int).tolist(), *range(size - 32, size)})
    outcomes: set[str] = set()
    for offset in offsets:
        report = judge(scratch, good_bytes[:offset])
        assert not report.passed, f"truncated at {offset}/{size} bytes was accepted"
        outcomes.add(report.failed_checks[0].name)
    assert "onnx.parse" in outcomes


def truncation_case(data: st.DataObject, good: bytes) -> bytes:
    return good[: data.draw(st.integers(0, len(good) - 1), label="offset")]


def random_bytes_case(data: st.DataObject, good: bytes) -> bytes:
    kind = data.draw(st.sampled_from(["noise", "onnx_prefix", "onnx_suffix", "splice"]), label="kind")
    noise = data.draw(st.binary(max_size=4096), label="noise")
    if kind == "noise":
        return noise
    if kind == "onnx_prefix":  # a real header followed by garbage
        return good[: data.draw(st.integers(0, 256))] + noise
    if kind == "onnx_suffix":  # garbage, then a real model's bytes
        return noise + good
    at = data.draw(st.integers(0, len(good)))
    return good[:at] + noise + good[at:]


@pytest.mark.parametrize("case", [truncation_case, random_bytes_case], ids=["truncation", "random_bytes"])
def test_raw_byte_attacks(case: Callable[[st.DataObject, bytes], bytes], good_bytes: bytes, scratch: Path) -> None:
    @FAST
    @seed(20261126)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        payload = case(data, good_bytes)
        report = judge(scratch, payload)
        if case is truncation_case:
            assert not report.passed

    run()


# ------------------------------------------------------------------------------------------ structural mutations
# Each mutator edits a copy of the good ModelProto and says whether the result must be refused.
Mutator = Callable[[st.DataObject, onnx.ModelProto], bool]
HUGE = st.sampled_from([2**31, 2**40, 2**62, 10**12, 10**18])
ODD_ELEM = st.integers(-3, 80)


def _dims(value_info: onnx.ValueInfoProto) -> onnx.TensorShapeProto:
    return value_info.type.tensor_type.shape


def input_dtype(data: st.DataObject, model: onnx.ModelProto) -> bool:
    elem = data.draw(ODD_ELEM.filter(lambda e: e != TensorProto.FLOAT), label="input elem_type")
    model.graph.input[0].type.tensor_type.elem_type = elem
    return True


def output_dtype(data: st.DataObject, model: onnx.ModelProto) -> bool:
    elem = data.draw(ODD_ELEM.filter(lambda e: e != TensorProto.FLOAT), label="output elem_type")
    model.graph.output[0].type.tensor_type.elem_type = elem
    return True


def input_length(data: st.DataObject, model: onnx.ModelProto) -> bool:
    value = data.draw(st.one_of(st.integers(-5, 96000), HUGE).filter(lambda v: v != 48000), label="length")
    dim = _dims(model.graph.input[0]).dim[1]
    dim.Clear()
    dim.dim_value = value
    return True


def huge_declared_dim(data: st.DataObject, model: onnx.ModelProto) -> bool:
    target = data.draw(st.sampled_from(["input", "output", "embedding"]), label="where")
    info = {"input": model.graph.input[0], "output": model.graph.output[0], "embedding": model.graph.output[-1]}[target]
    shape = _dims(info)
    axis = data.draw(st.integers(0, len(shape.dim)), label="axis")
    value = data.draw(HUGE, label="value")
    if axis == len(shape.dim):
        shape.dim.add().dim_value = value
    else:
        shape.dim[axis].Clear()
        shape.dim[axis].dim_value = value
    return True


def rank_change(data: st.DataObject, model: onnx.ModelProto) -> bool:
    info = data.draw(st.sampled_from([model.graph.input[0], model.graph.output[0]]), label="tensor")
    shape = _dims(info)
    if len(shape.dim) != 2:
        return True  # already off-contract: a second change could only undo the first
    if data.draw(st.booleans(), label="drop"):
        del shape.dim[-1]
    else:
        for _ in range(data.draw(st.integers(1, 64), label="extra axes")):
            shape.dim.add().dim_value = 1
    return True


def huge_initializer_dims(data: st.DataObject, model: onnx.ModelProto) -> bool:
    """An initializer that declares billions of elements but carries (almost) no data."""
    tensor = data.draw(st.sampled_from(list(model.graph.initializer)), label="initializer")
    tensor.dims[:] = [data.draw(HUGE, label="dim"), data.draw(st.integers(1, 1000), label="dim2")]
    return True


def huge_attribute(data: st.DataObject, model: onnx.ModelProto) -> bool:
    """Softmax axis / Cast 'to' set to absurd values, or a very long list or string attribute."""
    kind = data.draw(st.sampled_from(["axis", "cast_to", "ints", "string"]), label="attribute")
    by_op = {node.op_type: node for node in model.graph.node}
    if kind == "axis":
        by_op["Softmax"].attribute[0].i = data.draw(st.one_of(HUGE, st.integers(-(2**62), -3)), label="axis")
        return True
    if kind == "cast_to":
        to = data.draw(ODD_ELEM.filter(lambda e: e != TensorProto.FLOAT), label="to")
        by_op["Cast"].attribute[0].i = to
        return True
    node = by_op["Softmax"]
    if kind == "ints":
        node.attribute.append(helper.make_attribute("junk_ints", list(range(data.draw(st.integers(1, 200_000))))))
    else:
        node.attribute.append(helper.make_attribute("junk_str", "x" * data.draw(st.integers(1, 2_000_000))))
    return False  # an unknown attribute: ONNX may or may not refuse it; only the three promises are checked


def deep_subgraphs(data: st.DataObject, model: onnx.ModelProto) -> bool:
    """The primary output computed inside ``depth`` nested If branches (a deep recursive protobuf)."""
    depth = data.draw(st.integers(1, 30), label="depth")  # protobuf's own nesting limit is ~33 levels here
    out = model.graph.output[0].name
    producer = next(n for n in model.graph.node if out in n.output)
    producer.output[:] = ["deep_in"]
    model.graph.initializer.append(numpy_helper.from_array(np.array(True), "deep_cond"))

    def leaf(level: int) -> onnx.GraphProto:
        return helper.make_graph(
            [helper.make_node("Identity", ["deep_in"], [f"deep_out_{level}"])],
            f"leaf{level}",
            [],
            [helper.make_tensor_value_info(f"deep_out_{level}", TensorProto.FLOAT, None)],
        )

    inner = leaf(0)
    for level in range(1, depth + 1):  # only one branch nests: the file grows linearly with depth
        node = helper.make_node("If", ["deep_cond"], [f"deep_out_{level}"], then_branch=inner, else_branch=leaf(level))
        inner = helper.make_graph(
            [node], f"level{level}", [], [helper.make_tensor_value_info(f"deep_out_{level}", TensorProto.FLOAT, None)]
        )
    top = inner.node[0]
    top.output[:] = [out]
    model.graph.node.append(top)
    return False  # a legal (if silly) model: it may pass, and then the oracle must agree


def external_reference(data: st.DataObject, model: onnx.ModelProto) -> bool:
    """An initializer whose bytes 'live' in another file: absolute, traversal, or a device."""
    location = data.draw(
        st.sampled_from(["/etc/passwd", "../../../../etc/shadow", "/dev/zero", "/proc/self/environ", "weights.bin"]),
        label="location",
    )
    tensor = data.draw(st.sampled_from(list(model.graph.initializer)), label="initializer")
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.ClearField("int64_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", "0"), ("length", "64")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return True


def rename_io(data: st.DataObject, model: onnx.ModelProto) -> bool:
    name = data.draw(
        st.one_of(
            st.sampled_from(["", "audio ", "AUDIO", "aud\u0456o", "audio\x00", "../audio"]), st.text(max_size=40)
        ),
        label="name",
    )
    if name == "audio":
        return False
    old = model.graph.input[0].name
    model.graph.input[0].name = name
    for node in model.graph.node:
        node.input[:] = [name if i == old else i for i in node.input]
    return True


def opset_and_ir(data: st.DataObject, model: onnx.ModelProto) -> bool:
    if data.draw(st.booleans(), label="opset"):
        model.opset_import[0].version = data.draw(st.one_of(st.integers(-5, 6), HUGE), label="opset version")
    else:
        model.ir_version = data.draw(st.one_of(st.integers(-5, 2), HUGE), label="ir_version")
    return True


def dangling_or_cyclic(data: st.DataObject, model: onnx.ModelProto) -> bool:
    node = data.draw(st.sampled_from(list(model.graph.node)), label="node")
    if data.draw(st.booleans(), label="cycle"):
        node.input[0] = node.output[0]  # consumes its own output
    else:
        node.input[0] = "nobody_produces_this"
    return True


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def deep_protobuf(depth: int) -> bytes:
    """ModelProto bytes whose graph nests ``depth`` levels (graph > node > attribute > graph ...), hand-encoded so the
    nesting can exceed what the protobuf library itself would build."""
    graph = b""
    for _ in range(depth):
        attribute = _field(1, b"then_branch") + _field(6, graph)  # AttributeProto.name, .g
        node = _field(4, b"If") + _field(5, attribute)  # NodeProto.op_type, .attribute
        graph = _field(1, node)  # GraphProto.node
    return _varint(1 << 3) + _varint(10) + _field(7, graph)  # ModelProto.ir_version, .graph


@pytest.mark.parametrize("depth", [50, 200, 5000])
def test_deeply_nested_protobuf_is_refused(depth: int, scratch: Path) -> None:
    report = judge(scratch, deep_protobuf(depth))
    assert not report.passed


MUTATORS: list[Mutator] = [
    input_dtype,
    output_dtype,
    input_length,
    huge_declared_dim,
    rank_change,
    huge_initializer_dims,
    huge_attribute,
    deep_subgraphs,
    external_reference,
    rename_io,
    opset_and_ir,
    dangling_or_cyclic,
]


def structural_case(data: st.DataObject, good: bytes) -> tuple[bytes, bool, list[str]]:
    model = onnx.load_from_string(good)
    must_fail = False
    applied: list[str] = []
    for mutator in data.draw(st.lists(st.sampled_from(MUTATORS), min_size=1, max_size=3), label="mutators"):
        mutant = copy.deepcopy(model)
        try:
            breaks = mutator(data, mutant)
        except (IndexError, StopIteration):  # an earlier mutation removed what this one edits
            continue
        model, must_fail = mutant, must_fail or breaks
        applied.append(mutator.__name__)
    return model.SerializeToString(), must_fail, applied


def _structural(good: bytes, scratch: Path, budget: settings) -> None:
    @budget
    @seed(7)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        payload, must_fail, applied = structural_case(data, good)
        report = judge(scratch, payload)
        if must_fail:
            assert not report.passed, f"{applied} produced a broken model the validator accepted"

    run()


def test_structural_mutations(good_bytes: bytes, scratch: Path) -> None:
    _structural(good_bytes, scratch, FAST)


@pytest.mark.slow
def test_structural_mutations_long(good_bytes: bytes, scratch: Path) -> None:
    _structural(good_bytes, scratch, SLOW)


@pytest.mark.slow
@pytest.mark.parametrize("case", [truncation_case, random_bytes_case], ids=["truncation", "random_bytes"])
def test_raw_byte_attacks_long(case: Callable[[st.DataObject, bytes], bytes], good_bytes: bytes, scratch: Path) -> None:
    @SLOW
    @given(st.data())
    def run(data: st.DataObject) -> None:
        report = judge(scratch, case(data, good_bytes))
        if case is truncation_case:
            assert not report.passed

    run()
