"""The exception hierarchy shared by the contract, the validator, semver and the registry.

Every error a caller is expected to handle derives from :class:`VoiceFlowError`, so a CLI can catch one type and print a
clear message instead of a traceback.
"""

from __future__ import annotations


class VoiceFlowError(Exception):
    """Base class of every VoiceFlow error."""


class ContractError(VoiceFlowError, ValueError):
    """The contract file, a profile name or a contract value is invalid (the message names the key)."""


class RegistryError(VoiceFlowError):
    """Base class of model-registry errors."""


class ModelNotFoundError(RegistryError, LookupError):
    """The registry holds no model of that name."""


class VersionNotFoundError(RegistryError, LookupError):
    """The model exists but not that version, alias or pointer."""


class VersionExistsError(RegistryError):
    """A published version is immutable: publishing it again is refused."""


class ChecksumMismatchError(RegistryError):
    """A downloaded or stored file does not match its recorded sha256."""


class RegistryUnavailableError(RegistryError, ConnectionError):
    """The storage behind the registry cannot be reached."""


class ValidationRequiredError(RegistryError):
    """Publishing needs a passing validation report."""


class InvalidNameError(RegistryError, ValueError):
    """A model name, version or alias is malformed (e.g. path traversal or not semver)."""


__all__ = [
    "ChecksumMismatchError",
    "ContractError",
    "InvalidNameError",
    "ModelNotFoundError",
    "RegistryError",
    "RegistryUnavailableError",
    "ValidationRequiredError",
    "VersionExistsError",
    "VersionNotFoundError",
    "VoiceFlowError",
]
