"""Issue 12 finding 1 (validator side): a runtime memory bomb is refused by ``runtime.memory``, measured in a
memory-limited child process, and the validator still writes its report.

The bomb is the good test model plus ``ConstantOfShape(Shape(audio) * [1, K])`` summed into the logits: sized at run
time (invisible to ``graph.declared_dims``), about 16 KB on disk, and ``B * 48000 * K * 4`` bytes on a batch-B probe.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from voiceflow_contract.cli import main
from voiceflow_contract.schemas.report import CheckStatus, ValidationReport
from voiceflow_contract.spec import Profile
from voiceflow_contract.validator import validate_model_contract
from voiceflow_contract.validator.isolation import judge_memory
from voiceflow_contract.validator.rules import Checks

ROOMY = Profile(name="roomy", device="cpu", p99_ms=1000.0, model_size_mb=50.0, max_memory_mb=512.0)


def memory_bomb(good: Path, path: Path, k: int) -> Path:
    """The good model whose logits depend on a run-time-sized ConstantOfShape (B x 48000K floats of 1.0)."""
    model = onnx.load(good)
    graph = model.graph
    softmax = next(i for i, n in enumerate(graph.node) if n.op_type == "Softmax")
    logits = graph.node[softmax].input[0]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([1, k], dtype=np.int64), "bomb_k"),
            numpy_helper.from_array(np.array([0.0], dtype=np.float32), "bomb_zero"),
        ]
    )
    bomb = [
        helper.make_node("Shape", ["audio"], ["bomb_shape"]),
        helper.make_node("Mul", ["bomb_shape", "bomb_k"], ["bomb_dims"]),
        helper.make_node(
            "ConstantOfShape", ["bomb_dims"], ["bomb"], value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
        ),
        helper.make_node("ReduceSum", ["bomb"], ["bomb_sum"], keepdims=0),
        helper.make_node("Mul", ["bomb_sum", "bomb_zero"], ["bomb_nothing"]),
        helper.make_node("Add", [logits, "bomb_nothing"], ["bomb_logits"]),
    ]
    for offset, node in enumerate(bomb):
        graph.node.insert(softmax + offset, node)
    graph.node[softmax + len(bomb)].input[0] = "bomb_logits"
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def test_runtime_memory_bomb_is_refused_by_runtime_memory(
    model_path: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """K = 2000: 384 MB per batch-1 probe, 3 GB on the batch-8 probe. It passed every rule before (and the validator
    was OOM-killed under a 1.5 GB limit); now the child's allocation fails under its limit and the rule names it."""
    path = memory_bomb(model_path("good"), tmp_path / "bomb.onnx", k=2000)
    assert path.stat().st_size < 16_000
    report = validate_model_contract(path, profile=ROOMY, measure_latency=False)
    memory = next(c for c in report.checks if c.name == "runtime.memory")
    assert memory.status is CheckStatus.FAILED, memory.message
    assert not report.passed
    assert "512 MiB" in memory.message and "ConstantOfShape" in memory.message
    # The CLI writes the report (in the current directory) and names the rule.
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(path), "--no-latency"]) == 1
    written = ValidationReport.read(tmp_path / "validation_report.json")
    assert "runtime.memory" in {c.name for c in written.failed_checks}


def test_peak_over_the_budget_fails_runtime_memory(model_path: Callable[[str], Path], tmp_path: Path) -> None:
    """A bomb that fits the address-space limit is still refused by the measured peak (budget 128 MiB; the batch-8
    probe touches 8 x 48000 x 80 x 4 B = 123 MB plus its sum, batch 1 stays far below)."""
    path = memory_bomb(model_path("good"), tmp_path / "bomb.onnx", k=120)
    tight = Profile(name="tight", device="cpu", p99_ms=1000.0, model_size_mb=50.0, max_memory_mb=128.0)
    report = validate_model_contract(path, profile=tight, measure_latency=False)
    memory = next(c for c in report.checks if c.name == "runtime.memory")
    assert memory.status is CheckStatus.FAILED, memory.message
    assert memory.limit == 128.0


def test_normal_model_passes_runtime_memory_with_its_peak(model_path: Callable[[str], Path]) -> None:
    report = validate_model_contract(model_path("good"), profile=ROOMY, latency_runs=5)
    memory = next(c for c in report.checks if c.name == "runtime.memory")
    assert report.passed, [c.model_dump() for c in report.failed_checks]
    assert memory.status is CheckStatus.PASSED
    assert isinstance(memory.measured, float) and 0 <= memory.measured < 512
    assert "peak RSS" in memory.message


def test_a_killed_child_fails_runtime_memory_and_blocks_the_rest() -> None:
    """The outcome of a child the OOM killer took: a failed rule with the budget, never an exception."""
    checks = Checks()
    judge_memory(checks, "the runtime checks were killed by signal 9", ROOMY, ["ConstantOfShape 'bomb'"])
    result = checks.results["runtime.memory"]
    assert result.status is CheckStatus.FAILED
    assert "signal 9" in result.message and "512 MiB" in result.message
    assert checks.blocked_by is not None
