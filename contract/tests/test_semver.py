"""Semantic versions as code: parsing, ordering, bumps, and the bump decided from two real ONNX models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort
import pytest

from voiceflow_contract.errors import ContractError, InvalidNameError
from voiceflow_contract.semver import (
    Bump,
    ModelSignature,
    TensorSignature,
    Version,
    decide_bump,
    explain_bump,
    next_version,
    signature_from_onnx,
)


def test_parse_print_and_tag() -> None:
    assert Version.parse("1.2.3") == Version(1, 2, 3)
    assert Version.parse("v1.2.3") == Version(1, 2, 3)
    assert str(Version.parse("v10.0.7")) == "10.0.7"
    assert Version.parse("1.2.3").tag == "v1.2.3"
    assert Version.parse(Version(0, 1, 0)) == Version(0, 1, 0)
    assert Version.is_valid("v2.0.0")
    assert not Version.is_valid("2.0")


@pytest.mark.parametrize(
    "junk",
    ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "v", "vv1.2.3", "1.2.x", "-1.2.3", "../1.2.3", "1.2.3/..",
     "1.2.3-rc.1", "1.2.3+build", "latest", "V1.2.3", "1 .2.3", "1.2.3\n4"],
)  # fmt: skip
def test_junk_versions_are_refused(junk: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        Version.parse(junk)
    assert isinstance(info.value, ValueError)
    assert "version" in str(info.value)


def test_non_string_and_negative_parts_are_refused() -> None:
    with pytest.raises(InvalidNameError):
        Version.parse(123)  # type: ignore[arg-type]
    with pytest.raises(InvalidNameError):
        Version(1, -1, 0)


def test_ordering_is_numeric() -> None:
    versions = [Version.parse(v) for v in ["1.10.0", "1.2.0", "v2.0.0", "1.2.10", "1.2.9", "0.9.9"]]
    assert [str(v) for v in sorted(versions)] == ["0.9.9", "1.2.0", "1.2.9", "1.2.10", "1.10.0", "2.0.0"]
    assert max(versions) == Version(2, 0, 0)
    assert Version(1, 0, 0) < Version(1, 0, 1) < Version(1, 1, 0) < Version(2, 0, 0)
    assert len({Version(1, 0, 0), Version.parse("v1.0.0")}) == 1  # hashable, equal


def test_bump_and_next_version() -> None:
    base = Version(1, 2, 3)
    assert base.bump(Bump.MAJOR) == Version(2, 0, 0)
    assert base.bump(Bump.MINOR) == Version(1, 3, 0)
    assert base.bump(Bump.PATCH) == Version(1, 2, 4)
    assert base.bump("minor") == Version(1, 3, 0)
    assert next_version(None, Bump.PATCH) == Version(1, 0, 0)
    assert next_version("v1.1.0", Bump.PATCH) == Version(1, 1, 1)
    assert Bump.PATCH.rank < Bump.MINOR.rank < Bump.MAJOR.rank
    with pytest.raises(ValueError, match="huge"):
        base.bump("huge")


def test_signature_from_onnx(model_path: Callable[[str], Path]) -> None:
    sig = signature_from_onnx(model_path("good"), "cnn", "abc123")
    assert sig.inputs == {"audio": TensorSignature(dtype="float32", shape=("batch_size", 48000))}
    assert sig.outputs["speaker_embeddings"] == TensorSignature(dtype="float32", shape=("batch_size", 2))
    assert sig.outputs["embedding"].shape == ("batch_size", 16)
    assert sig.num_speakers == 2
    assert (sig.architecture_type, sig.architecture_signature) == ("cnn", "abc123")
    assert ModelSignature.model_validate_json(sig.model_dump_json()) == sig
    assert signature_from_onnx(model_path("float64_input")).inputs["audio"].dtype == "float64"
    assert signature_from_onnx(model_path("good_dynamic_speakers")).num_speakers is None


def test_signature_of_corrupt_file_is_a_contract_error(model_path: Callable[[str], Path]) -> None:
    with pytest.raises(ContractError, match="cannot read ONNX model"):
        signature_from_onnx(model_path("random_bytes"))


def _bump(model_path: Callable[[str], Path], old: str, new: str) -> Bump:
    return decide_bump(signature_from_onnx(model_path(old), "cnn"), signature_from_onnx(model_path(new), "cnn"))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("good", "good", Bump.PATCH),  # new weights, same everything
        ("good", "speaker_count_head", Bump.MINOR),  # seed v1.1.0: add speaker count detection
        ("good_no_embedding", "good", Bump.MINOR),  # new optional output
        ("good", "rank3_output", Bump.MAJOR),  # seed v2.0.0: output becomes [batch, time, speakers]
        ("good", "three_speakers", Bump.MAJOR),
        ("good", "wrong_length", Bump.MAJOR),
        ("good", "float64_input", Bump.MAJOR),
        ("good", "fixed_batch", Bump.MAJOR),
        ("good", "good_no_embedding", Bump.MAJOR),  # removed output
        ("speaker_count_head", "good", Bump.MAJOR),
        ("good", "wrong_input_name", Bump.MAJOR),
        ("good", "wrong_output_name", Bump.MAJOR),
        ("good", "good_dynamic_speakers", Bump.MAJOR),  # consumers sized buffers from the fixed count
        ("good_dynamic_speakers", "good", Bump.PATCH),  # fixing a dynamic output dim narrows nothing
        ("good", "raw_logits", Bump.PATCH),  # same signature: only the validator can tell softmax apart
    ],
)
def test_bump_rules_on_real_models(model_path: Callable[[str], Path], old: str, new: str, expected: Bump) -> None:
    assert _bump(model_path, old, new) is expected


def test_graph_optimisation_is_a_patch(model_path: Callable[[str], Path], tmp_path: Path) -> None:
    """Seed v1.1.1: an ONNX Runtime-optimised graph of the same model is a PATCH."""
    optimised = tmp_path / "optimised.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(optimised)
    ort.InferenceSession(str(model_path("good")), options, providers=["CPUExecutionProvider"])
    assert optimised.read_bytes() != model_path("good").read_bytes()
    old = signature_from_onnx(model_path("good"), "cnn", "sig-1")
    new = signature_from_onnx(optimised, "cnn", "sig-1")
    decision = explain_bump(old, new)
    assert decision.bump is Bump.PATCH
    assert "graph optimisation" in decision.reasons[0]


def test_architecture_changes_are_minor(model_path: Callable[[str], Path]) -> None:
    path = model_path("good")
    cnn = signature_from_onnx(path, "cnn", "sig-1")
    assert decide_bump(cnn, signature_from_onnx(path, "wav2vec2", "sig-9")) is Bump.MINOR
    assert decide_bump(cnn, signature_from_onnx(path, "cnn", "sig-2")) is Bump.MINOR
    assert decide_bump(cnn, signature_from_onnx(path, "cnn", "sig-1")) is Bump.PATCH
    # A breaking I/O change wins over an architecture change.
    assert decide_bump(cnn, signature_from_onnx(model_path("rank3_output"), "wav2vec2")) is Bump.MAJOR


def test_reasons_name_what_changed(model_path: Callable[[str], Path]) -> None:
    good = signature_from_onnx(model_path("good"))
    decision = explain_bump(good, signature_from_onnx(model_path("rank3_output")))
    assert decision.bump is Bump.MAJOR
    assert any("speaker_embeddings" in r and "rank" in r for r in decision.reasons)
    decision = explain_bump(good, signature_from_onnx(model_path("three_speakers")))
    assert any("dim 1 changed 2 -> 3" in r for r in decision.reasons)
    decision = explain_bump(good, signature_from_onnx(model_path("speaker_count_head")))
    assert decision.reasons == ["new output 'speaker_count' (backward compatible)"]
    # Renaming a symbolic dim is not a change a consumer can see.
    renamed = good.model_copy(update={"inputs": {"audio": TensorSignature(dtype="float32", shape=("batch", 48000))}})
    assert decide_bump(good, renamed) is Bump.PATCH
