"""VoiceFlow's shared contract: what a model is (contract, validator, schemas, versions), where it lives (registry).

Importing the package is cheap: each name below loads its module on first use (PEP 562), so
``import voiceflow_contract`` pulls in neither onnxruntime nor onnx. Type checkers see these names as ``Any``;
import from the defining module (``voiceflow_contract.spec`` ...) where the type matters.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "1.0.0"

# submodule -> the public names it defines, each listed once
_EXPORTS: dict[str, tuple[str, ...]] = {
    "errors": (
        "VoiceFlowError", "ContractError", "RegistryError", "ModelNotFoundError", "VersionNotFoundError",
        "VersionExistsError", "ChecksumMismatchError", "RegistryUnavailableError", "ValidationRequiredError",
        "InvalidNameError",
    ),
    "hashing": ("sha256_file", "sha256_bytes"),
    "spec": ("ModelContract", "Profile", "TensorSpec", "load_contract"),
    "semver": (
        "Version", "Bump", "ModelSignature", "signature_from_onnx", "decide_bump", "explain_bump", "next_version",
    ),
    "validator": ("validate_model_contract",),
    "schemas.report": ("CheckResult", "CheckStatus", "LatencyStats", "ValidationReport"),
    "schemas.metadata": ("ModelMetadata",),
    "schemas.manifest": ("Manifest",),
}  # fmt: skip
_MODULE_OF = {name: f"{__name__}.{module}" for module, names in _EXPORTS.items() for name in names}
__all__ = ["__version__", *_MODULE_OF]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])
