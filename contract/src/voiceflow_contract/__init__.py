"""VoiceFlow's shared contract: what a model is (contract, validator, schemas, versions), where it lives (registry).

Importing the package is cheap: the names below load their module on first use (PEP 562), so
``import voiceflow_contract`` pulls in neither onnxruntime nor onnx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "1.0.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "VoiceFlowError": "voiceflow_contract.errors",
    "ContractError": "voiceflow_contract.errors",
    "RegistryError": "voiceflow_contract.errors",
    "ModelNotFoundError": "voiceflow_contract.errors",
    "VersionNotFoundError": "voiceflow_contract.errors",
    "VersionExistsError": "voiceflow_contract.errors",
    "ChecksumMismatchError": "voiceflow_contract.errors",
    "RegistryUnavailableError": "voiceflow_contract.errors",
    "ValidationRequiredError": "voiceflow_contract.errors",
    "InvalidNameError": "voiceflow_contract.errors",
    "sha256_file": "voiceflow_contract.hashing",
    "sha256_bytes": "voiceflow_contract.hashing",
    "ModelContract": "voiceflow_contract.spec",
    "Profile": "voiceflow_contract.spec",
    "TensorSpec": "voiceflow_contract.spec",
    "load_contract": "voiceflow_contract.spec",
    "Version": "voiceflow_contract.semver",
    "Bump": "voiceflow_contract.semver",
    "ModelSignature": "voiceflow_contract.semver",
    "signature_from_onnx": "voiceflow_contract.semver",
    "decide_bump": "voiceflow_contract.semver",
    "explain_bump": "voiceflow_contract.semver",
    "next_version": "voiceflow_contract.semver",
    "validate_model_contract": "voiceflow_contract.validator",
    "CheckResult": "voiceflow_contract.schemas.report",
    "CheckStatus": "voiceflow_contract.schemas.report",
    "LatencyStats": "voiceflow_contract.schemas.report",
    "ValidationReport": "voiceflow_contract.schemas.report",
    "ModelMetadata": "voiceflow_contract.schemas.metadata",
    "Manifest": "voiceflow_contract.schemas.manifest",
}

if TYPE_CHECKING:
    from voiceflow_contract.errors import (
        ChecksumMismatchError,
        ContractError,
        InvalidNameError,
        ModelNotFoundError,
        RegistryError,
        RegistryUnavailableError,
        ValidationRequiredError,
        VersionExistsError,
        VersionNotFoundError,
        VoiceFlowError,
    )
    from voiceflow_contract.hashing import sha256_bytes, sha256_file
    from voiceflow_contract.schemas.manifest import Manifest
    from voiceflow_contract.schemas.metadata import ModelMetadata
    from voiceflow_contract.schemas.report import CheckResult, CheckStatus, LatencyStats, ValidationReport
    from voiceflow_contract.semver import (
        Bump,
        ModelSignature,
        Version,
        decide_bump,
        explain_bump,
        next_version,
        signature_from_onnx,
    )
    from voiceflow_contract.spec import ModelContract, Profile, TensorSpec, load_contract
    from voiceflow_contract.validator import validate_model_contract


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'voiceflow_contract' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "Bump",
    "CheckResult",
    "CheckStatus",
    "ChecksumMismatchError",
    "ContractError",
    "InvalidNameError",
    "LatencyStats",
    "Manifest",
    "ModelContract",
    "ModelMetadata",
    "ModelNotFoundError",
    "ModelSignature",
    "Profile",
    "RegistryError",
    "RegistryUnavailableError",
    "TensorSpec",
    "ValidationReport",
    "ValidationRequiredError",
    "Version",
    "VersionExistsError",
    "VersionNotFoundError",
    "VoiceFlowError",
    "__version__",
    "decide_bump",
    "explain_bump",
    "load_contract",
    "next_version",
    "sha256_bytes",
    "sha256_file",
    "signature_from_onnx",
    "validate_model_contract",
]
