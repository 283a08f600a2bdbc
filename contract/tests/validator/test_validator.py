"""The validator on real ONNX Runtime sessions: the good model passes; each broken model fails exactly its rule."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

from voiceflow_contract.errors import ContractError
from voiceflow_contract.hashing import sha256_file
from voiceflow_contract.schemas.report import CheckStatus, ValidationReport
from voiceflow_contract.spec import ModelContract, Profile, load_contract
from voiceflow_contract.validator import rule_names, validate_model_contract

RUNS = 5  # latency runs per validation: the numbers are not under test here, only that they are measured
# The box running the tests is shared: a generous budget keeps scheduler hiccups from failing non-latency tests.
ROOMY = Profile(name="roomy", device="cpu", p99_ms=1000.0, model_size_mb=50.0)


def _failed(report: ValidationReport) -> set[str]:
    return {c.name for c in report.failed_checks}


def _status(report: ValidationReport, rule: str) -> CheckStatus:
    return next(c.status for c in report.checks if c.name == rule)


def _check(report: ValidationReport, rule: str):
    return next(c for c in report.checks if c.name == rule)


def test_good_model_passes_every_rule(model_path: Callable[[str], Path]) -> None:
    path = model_path("good")
    report = validate_model_contract(path, profile=ROOMY, latency_runs=20)
    assert report.passed, [c.model_dump() for c in report.failed_checks]
    assert [c.name for c in report.checks] == rule_names(load_contract())
    assert all(c.status is CheckStatus.PASSED for c in report.checks)
    assert report.model_sha256 == sha256_file(path)
    assert report.profile == "roomy"
    assert report.contract_version == "1.0.0"
    assert report.num_speakers == 2
    assert report.embedding_dim == 16
    assert report.latency is not None
    assert report.latency.runs == 20
    assert report.latency.intra_op_threads == 1
    assert report.latency.provider == "CPUExecutionProvider"
    assert 0 < report.latency.p50_ms <= report.latency.p99_ms
    for key in ("cpu_count", "onnxruntime", "available_providers", "intra_op_threads"):
        assert report.host[key]
    batch8 = _check(report, "runtime.batch_8")
    assert batch8.measured == [8, 2]
    # The report is a registry document: it round-trips through JSON unchanged.
    assert ValidationReport.from_json(report.to_json()) == report


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("wrong_length", {"input.length"}),
        ("float64_input", {"input.dtype"}),
        ("int16_input", {"input.dtype"}),
        ("fixed_batch", {"input.batch_dynamic", "runtime.batch_8"}),  # declared fixed AND really refuses batch 8
        ("raw_logits", {"output.softmax"}),
        ("nan_output", {"output.finite"}),
        ("rank3_output", {"output.rank"}),
        ("bad_embedding", {"output.embedding"}),
        ("wrong_input_name", {"input.name"}),
        ("wrong_output_name", {"output.name"}),
        ("one_speaker", {"output.num_speakers"}),
        ("huge_declared_dim", {"graph.declared_dims"}),
        ("random_bytes", {"onnx.parse"}),
        ("truncated", {"onnx.parse"}),
        ("empty", {"onnx.parse"}),
    ],
)
def test_each_broken_model_fails_exactly_its_rule(
    model_path: Callable[[str], Path], variant: str, expected: set[str]
) -> None:
    report = validate_model_contract(model_path(variant), profile=ROOMY, latency_runs=RUNS)
    assert not report.passed
    assert _failed(report) == expected, [(c.name, c.message) for c in report.failed_checks]
    for rule in expected:
        assert _check(report, rule).message  # every failure says why


def test_nan_output_skips_softmax_rather_than_double_reporting(model_path: Callable[[str], Path]) -> None:
    report = validate_model_contract(model_path("nan_output"), measure_latency=False)
    assert _status(report, "output.softmax") is CheckStatus.SKIPPED
    assert "NaN" in _check(report, "output.finite").message


def test_corrupt_bytes_block_every_later_rule(model_path: Callable[[str], Path]) -> None:
    report = validate_model_contract(model_path("random_bytes"))
    after = [c for c in report.checks if c.name not in {"file.exists", "file.size", "file.readable", "onnx.parse"}]
    assert after and all(c.status is CheckStatus.SKIPPED for c in after)
    assert all("onnx.parse failed" in c.message for c in after)
    assert report.latency is None
    assert report.model_sha256  # the bytes were read, so they are identified


def test_missing_file_and_directory(model_dir: Path, tmp_path: Path) -> None:
    assert _failed(validate_model_contract(tmp_path / "nope.onnx")) == {"file.exists"}
    report = validate_model_contract(model_dir)
    assert _failed(report) == {"file.exists"}
    assert "not a regular file" in _check(report, "file.exists").message


def test_oversize_fails_file_size_against_the_profile(model_path: Callable[[str], Path]) -> None:
    path = model_path("oversize")  # ~2 MB: an unused initializer
    small = Profile(name="small", device="cpu", p99_ms=1000.0, model_size_mb=1.0)
    report = validate_model_contract(path, profile=small, latency_runs=RUNS)
    assert _failed(report) == {"file.size"}
    size = _check(report, "file.size")
    assert size.limit == 1.0
    assert size.unit == "MB"
    assert isinstance(size.measured, float)
    assert size.measured > 1.0
    # Within the default 50 MB budget the same file passes.
    assert validate_model_contract(path, measure_latency=False).passed


def test_far_oversize_file_is_never_loaded(model_path: Callable[[str], Path]) -> None:
    tiny = Profile(name="tiny", device="cpu", p99_ms=10.0, model_size_mb=0.1)  # 2 MB > 4 x 0.1 MB load cap
    report = validate_model_contract(model_path("oversize"), profile=tiny)
    assert _failed(report) == {"file.size"}
    assert _status(report, "onnx.parse") is CheckStatus.SKIPPED
    assert "load cap" in _check(report, "onnx.parse").message


def test_too_slow_fails_latency_against_the_profile(model_path: Callable[[str], Path]) -> None:
    impossible = Profile(name="impossible", device="cpu", p99_ms=0.0001, model_size_mb=50.0)
    report = validate_model_contract(model_path("good"), profile=impossible, latency_runs=RUNS)
    assert _failed(report) == {"latency.p99"}
    latency = _check(report, "latency.p99")
    assert latency.limit == 0.0001
    assert latency.unit == "ms"
    assert report.latency is not None
    assert latency.measured == report.latency.p99_ms


def test_external_data_is_refused_not_followed(model_dir: Path) -> None:
    report = validate_model_contract(model_dir / "external" / "model.onnx")
    assert _failed(report) == {"onnx.external_data"}
    assert "external_data=False" in _check(report, "onnx.external_data").message


def test_runtime_crash_is_a_failed_check(build: Callable[..., Path]) -> None:
    # The graph indexes a 3-entry table with the input's peak x 1e6: the session loads, real audio makes it raise.
    report = validate_model_contract(build("crash", activation="crash"), profile=ROOMY, latency_runs=RUNS)
    assert _failed(report) == {"runtime.batch_1", "runtime.batch_8"}
    assert "failed" in _check(report, "runtime.batch_1").message
    assert _status(report, "output.finite") is CheckStatus.SKIPPED


def test_unloadable_operator_fails_runtime_session(build: Callable[..., Path]) -> None:
    report = validate_model_contract(build("custom", activation="custom"), measure_latency=False)
    assert _failed(report) == {"runtime.session"}
    assert "NoSuchOp" in _check(report, "runtime.session").message


def test_num_speakers_argument_and_fixed_contract(model_path: Callable[[str], Path]) -> None:
    good = model_path("good")
    assert validate_model_contract(good, num_speakers=2, measure_latency=False).passed
    report = validate_model_contract(good, num_speakers=3, measure_latency=False)
    assert _failed(report) == {"output.num_speakers"}
    assert _check(report, "output.num_speakers").limit == 3

    contract = load_contract()
    fixed = contract.model_copy(update={"metadata": contract.metadata.model_copy(update={"num_speakers": 2})})
    assert isinstance(fixed, ModelContract)
    assert validate_model_contract(good, fixed, measure_latency=False).passed
    report = validate_model_contract(model_path("three_speakers"), fixed, measure_latency=False)
    assert _failed(report) == {"output.num_speakers"}
    # With the dynamic contract three speakers are fine.
    assert validate_model_contract(model_path("three_speakers"), measure_latency=False).passed


def test_symbolic_speaker_dim_is_measured_at_runtime(model_path: Callable[[str], Path]) -> None:
    report = validate_model_contract(model_path("good_dynamic_speakers"), measure_latency=False)
    assert report.passed
    assert report.num_speakers == 2


def test_optional_outputs(model_path: Callable[[str], Path]) -> None:
    report = validate_model_contract(model_path("good_no_embedding"), measure_latency=False)
    assert report.passed
    assert _status(report, "output.embedding") is CheckStatus.SKIPPED
    assert report.embedding_dim is None
    # An extra, uncontracted output (a speaker-count head) is allowed.
    assert validate_model_contract(model_path("speaker_count_head"), measure_latency=False).passed


@pytest.mark.skipif(
    "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers(), reason="needs a CPU-only host"
)
def test_gpu_profile_without_gpu_skips_latency_but_records_cpu_numbers(model_path: Callable[[str], Path]) -> None:
    report = validate_model_contract(model_path("good"), profile="gpu-large", latency_runs=RUNS)
    assert report.passed
    latency = _check(report, "latency.p99")
    assert latency.status is CheckStatus.SKIPPED
    assert "CUDAExecutionProvider" in latency.message
    assert latency.limit == 50.0
    assert report.latency is not None
    assert report.latency.provider == "CPUExecutionProvider"
    assert report.profile == "gpu-large"


def test_latency_options(model_path: Callable[[str], Path]) -> None:
    calls: list[tuple[int, int]] = []
    report = validate_model_contract(
        model_path("good"), threads=2, latency_runs=7, on_latency_run=lambda d, t: calls.append((d, t))
    )
    assert calls == [(i, 7) for i in range(1, 8)]
    assert report.latency is not None
    assert report.latency.intra_op_threads == 2
    assert report.host["intra_op_threads"] == "2"
    off = validate_model_contract(model_path("good"), measure_latency=False)
    assert off.latency is None
    assert _status(off, "latency.p99") is CheckStatus.SKIPPED
    assert off.passed


def test_default_profile_is_the_contracts(model_path: Callable[[str], Path]) -> None:
    report = validate_model_contract(model_path("good"), measure_latency=False)
    assert report.profile == "cpu-realtime"
    assert _check(report, "latency.p99").limit == 10.0
    assert _check(report, "file.size").limit == 50.0


def test_caller_errors_raise(model_path: Callable[[str], Path]) -> None:
    with pytest.raises(ContractError, match="known profiles"):
        validate_model_contract(model_path("good"), profile="nope")
    with pytest.raises(ValueError, match="threads"):
        validate_model_contract(model_path("good"), threads=0)


# ---------------------------------------------------------------------------------------------------- hostile files
def test_dims_that_multiply_into_an_absurd_probe_are_refused(model_path: Callable[[str], Path], tmp_path: Path) -> None:
    model = onnx.load(str(model_path("good")))
    model.graph.input[0].type.tensor_type.shape.dim.add().dim_value = 100_000  # [B, 48000, 100000] ~ 3.8e10 floats
    path = tmp_path / "wide.onnx"
    onnx.save(model, str(path))
    report = validate_model_contract(path)
    assert {"graph.declared_dims", "input.rank"} == _failed(report)
    assert all(c.status is CheckStatus.SKIPPED for c in report.checks if c.name.startswith("runtime."))


def test_unknown_element_type_and_non_utf8_names(model_path: Callable[[str], Path], tmp_path: Path) -> None:
    model = onnx.load(str(model_path("good")))
    model.graph.output[0].type.tensor_type.elem_type = 71  # no ONNX version defines 71
    odd_type = tmp_path / "odd_type.onnx"
    onnx.save(model, str(odd_type))
    report = validate_model_contract(odd_type, measure_latency=False)
    assert "output.dtype" in _failed(report)
    assert "unknown(71)" in _check(report, "output.dtype").message
    assert "validator.error" not in _failed(report)

    # Same-length byte patch: every 'speaker_embeddings' name becomes invalid UTF-8.
    raw = model_path("good").read_bytes().replace(b"speaker_embeddings", b"sp\xd3aker_embeddings")
    odd_name = tmp_path / "odd_name.onnx"
    odd_name.write_bytes(raw)
    report = validate_model_contract(odd_name, measure_latency=False)
    assert "output.name" in _failed(report)
    assert "validator.error" not in _failed(report)
    ValidationReport.from_json(report.to_json())


def test_byte_flip_fuzz_never_raises(model_path: Callable[[str], Path], tmp_path: Path) -> None:
    """Seeded random corruption of a valid model: every outcome is a report, never an exception or a crash."""
    good = model_path("good").read_bytes()
    rng = random.Random(20240115)
    outcomes: set[str] = set()
    path = tmp_path / "fuzzed.onnx"
    for _ in range(150):
        mutated = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        path.write_bytes(bytes(mutated))
        report = validate_model_contract(path, measure_latency=False)
        assert "validator.error" not in _failed(report), report.failed_checks
        outcomes.add(report.failed_checks[0].name if report.failed_checks else "passed")
    assert {"onnx.parse", "runtime.session"} <= outcomes  # the corruption reached past the parser too
