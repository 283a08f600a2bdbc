"""The fsspec model registry.

``<root>/<model>/v<semver>/{model.onnx, metadata.json, validation_report.json, checksum.sha256}``, ``latest``/alias
pointer objects with history, and ``<root>/manifest.json``. See docs/registry.md.
"""

from voiceflow_contract.registry.cache import PulledModel, cached_versions, load_from_cache, verify_cached
from voiceflow_contract.registry.client import ModelRegistry
from voiceflow_contract.registry.names import (
    LATEST,
    parse_version,
    validate_model_name,
    validate_pointer_name,
    validate_ref,
)
from voiceflow_contract.registry.reader import VersionInfo
from voiceflow_contract.registry.storage import Storage, default_storage_options

__all__ = [
    "LATEST",
    "ModelRegistry",
    "PulledModel",
    "Storage",
    "VersionInfo",
    "cached_versions",
    "default_storage_options",
    "load_from_cache",
    "parse_version",
    "validate_model_name",
    "validate_pointer_name",
    "validate_ref",
    "verify_cached",
]
