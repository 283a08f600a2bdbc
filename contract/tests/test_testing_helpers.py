"""voiceflow_contract.testing: the shared toy model passes the real validator, its broken knobs fail the named
rules, and publish_model_file round-trips through a real file:// registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from voiceflow_contract.errors import ContractError
from voiceflow_contract.registry import ModelRegistry
from voiceflow_contract.testing import build_contract_model, contract_metadata, publish_model_file
from voiceflow_contract.validator import validate_model_contract


def test_toy_model_passes_and_seeds_give_different_outputs(tmp_path: Path) -> None:
    audio = np.random.default_rng(0).standard_normal((2, 48000)).astype(np.float32)
    outputs = []
    for seed in (1, 2):
        path = build_contract_model(tmp_path / f"m{seed}.onnx", num_speakers=3, seed=seed)
        assert validate_model_contract(path, num_speakers=3, measure_latency=False).passed
        probs, embedding = ort.InferenceSession(str(path)).run(None, {"audio": audio})
        assert probs.shape == (2, 3) and embedding.shape == (2, 8)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
        outputs.append(probs)
    assert not np.allclose(outputs[0], outputs[1])


@pytest.mark.parametrize("knobs", [{"softmax": False}, {"window": 16000}])
def test_broken_knobs_fail_the_contract(tmp_path: Path, knobs: dict[str, object]) -> None:
    path = build_contract_model(tmp_path / "bad.onnx", **knobs)  # type: ignore[arg-type]
    report = validate_model_contract(path, measure_latency=False)
    assert not report.passed and report.failed_checks


def test_publish_model_file_round_trips_and_refuses_bad_models(tmp_path: Path) -> None:
    url = (tmp_path / "registry").as_uri()
    path = build_contract_model(tmp_path / "good.onnx", square=True, seed=3)
    info, report = publish_model_file(url, "fast-cnn", "1.0.0", path)
    assert report.passed and str(info.version) == "1.0.0"
    shown = ModelRegistry(url).show("fast-cnn")
    assert shown.metadata == contract_metadata(path, "fast-cnn", "1.0.0").model_copy(
        update={"created_at": shown.metadata.created_at}
    )
    bad = build_contract_model(tmp_path / "bad.onnx", softmax=False)
    with pytest.raises(ContractError, match="fails the contract"):
        publish_model_file(url, "fast-cnn", "1.1.0", bad)
    assert [str(v) for v in ModelRegistry(url).list_versions("fast-cnn")] == ["1.0.0"]
