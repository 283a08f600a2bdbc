"""The committed JSON Schemas match the pydantic models, and real documents validate against them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from voiceflow_contract.schema_export import SCHEMA_MODELS, schema_text
from voiceflow_contract.schemas.manifest import Manifest, ManifestModel, ManifestVersion, PointerMove
from voiceflow_contract.schemas.metadata import ModelMetadata
from voiceflow_contract.validator import validate_model_contract

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
REGENERATE = "regenerate with: voiceflow-contract schema --out contract/schemas"


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", list(SCHEMA_MODELS))
def test_committed_schema_is_up_to_date(name: str) -> None:
    committed = SCHEMA_DIR / f"{name}.schema.json"
    assert committed.is_file(), f"{committed} missing; {REGENERATE}"
    assert committed.read_text(encoding="utf-8") == schema_text(name), f"{committed} is stale; {REGENERATE}"


def test_no_stray_schema_files() -> None:
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json")) == sorted(f"{n}.schema.json" for n in SCHEMA_MODELS)


def test_real_report_validates(model_path: Callable[[str], Path]) -> None:
    for variant in ("good", "nan_output", "random_bytes"):
        report = validate_model_contract(model_path(variant), latency_runs=3)
        _validator("report").validate(json.loads(report.to_json()))


def test_broken_report_is_rejected(model_path: Callable[[str], Path]) -> None:
    document = json.loads(validate_model_contract(model_path("good"), measure_latency=False).to_json())
    del document["checks"]
    document["surprise"] = 1
    errors = list(_validator("report").iter_errors(document))
    messages = " ".join(e.message for e in errors)
    assert "checks" in messages
    assert "surprise" in messages


def test_packaged_contract_validates() -> None:
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "model_contract.yaml").read_text(encoding="utf-8"))
    _validator("contract").validate(data)
    data["profiles"]["cpu-realtime"]["device"] = "tpu"
    assert not _validator("contract").is_valid(data)


def _seed_metadata() -> dict[str, Any]:
    """The seed's metadata.json example, plus profile and lineage."""
    return {
        "model_name": "fast-cnn",
        "version": "1.0.0",
        "created_at": "2024-01-15T10:30:00Z",
        "git_commit": "a3f5c8d",
        "profile": "cpu-realtime",
        "training": {
            "dataset": "AMI + LibriSpeech + VoxConverse",
            "epochs": 50,
            "batch_size": 32,
            "optimizer": "AdamW",
            "learning_rate": 0.001,
        },
        "architecture": {"type": "cnn", "params": 2300000, "layers": 12},
        "performance": {
            "cpu": {"p50_ms": 3.36, "p99_ms": 4.48, "throughput_rps": 297},
            "gpu_t4": {"p50_ms": 1.5, "p99_ms": 2.8, "throughput_rps": 650},
        },
        "accuracy": {"der_test_set": 0.15, "precision": 0.92, "recall": 0.89},
        "contract": {"input_shape": [1, 48000], "output_shape": [1, 2], "sample_rate": 48000},
        "file": {
            "size_bytes": 10485760,
            "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "onnx_opset": 14,
        },
        "lineage": {
            "config_hash": "1f2e3d",
            "dataset_fingerprint": "9a8b7c",
            "seed": 42,
            "package_versions": {"torch": "2.13.0", "onnx": "1.23.2"},
        },
    }


def test_seed_metadata_validates_in_schema_and_model() -> None:
    document = _seed_metadata()
    _validator("metadata").validate(document)
    assert ModelMetadata.model_validate(document).model_name == "fast-cnn"
    document.pop("lineage")
    assert not _validator("metadata").is_valid(document)


def test_manifest_validates() -> None:
    now = datetime.now(UTC)
    move = PointerMove(pointer="latest", from_version=None, to_version="1.0.0", at=now, action="publish")
    manifest = Manifest(
        updated_at=now,
        models={
            "fast-cnn": ManifestModel(
                versions=[ManifestVersion(version="1.0.0", published_at=now, sha256="0" * 64, size_bytes=10)],
                pointers={"latest": "1.0.0"},
                history=[move],
            )
        },
    )
    _validator("manifest").validate(json.loads(manifest.to_json()))
