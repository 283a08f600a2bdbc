"""JSON Schema for every document the contract defines, generated from the pydantic models.

The generated files are committed under contract/schemas/ (a test keeps them in sync), so non-Python consumers and
``check-jsonschema`` can validate metadata.json, validation_report.json, manifest.json and model_contract.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from voiceflow_contract.schemas.manifest import Manifest
from voiceflow_contract.schemas.metadata import ModelMetadata
from voiceflow_contract.schemas.report import ValidationReport
from voiceflow_contract.spec import ModelContract

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "metadata": ModelMetadata,
    "report": ValidationReport,
    "manifest": Manifest,
    "contract": ModelContract,
}
"""Schema name -> the pydantic model it is generated from (file: ``<name>.schema.json``)."""

SCHEMA_TITLES = {
    "metadata": "metadata.json",
    "report": "validation_report.json",
    "manifest": "manifest.json",
    "contract": "model_contract.yaml",
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema for document ``name`` (one of :data:`SCHEMA_MODELS`); unknown names raise KeyError."""
    if name not in SCHEMA_MODELS:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_MODELS)}")
    schema = SCHEMA_MODELS[name].model_json_schema(mode="validation")
    if name == "contract":
        # In the YAML a profile's name is its mapping key (spec._coerce_profiles fills it in), so it is optional there.
        profile = schema["$defs"]["Profile"]
        profile["required"] = [key for key in profile["required"] if key != "name"]
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": SCHEMA_TITLES[name],
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text(name: str) -> str:
    """The schema as the committed file holds it (indented JSON, trailing newline)."""
    return json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n"


def write_schemas(out_dir: str | Path, names: list[str] | None = None) -> list[Path]:
    """Write ``<name>.schema.json`` for each name (default: all) into ``out_dir``; returns the paths written."""
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(SCHEMA_MODELS):
        path = target / f"{name}.schema.json"
        path.write_text(schema_text(name), encoding="utf-8")
        written.append(path)
    return written


__all__ = ["JSON_SCHEMA_DIALECT", "SCHEMA_MODELS", "json_schema", "schema_text", "write_schemas"]
