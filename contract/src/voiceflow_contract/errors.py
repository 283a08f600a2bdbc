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
    """Base class of model-registry errors.

    ``reason`` is a stable, machine-readable code (``checksum_malformed``, ``size_exceeded``...) that a public endpoint
    may show. Messages name files, sizes and hashes but never echo a registry file's contents (issue 12 finding 6: a
    ``checksum.sha256`` symlinked to a secret ended up in ``/ready``); details go to the log.
    """

    reason: str = "registry_error"

    def __init__(self, *args: object, reason: str | None = None) -> None:
        super().__init__(*args)
        if reason is not None:
            self.reason = reason


class ModelNotFoundError(RegistryError, LookupError):
    """The registry holds no model of that name."""

    reason = "model_not_found"


class VersionNotFoundError(RegistryError, LookupError):
    """The model exists but not that version, alias or pointer."""

    reason = "version_not_found"


class VersionExistsError(RegistryError):
    """A published version is immutable: publishing it again is refused."""

    reason = "version_exists"


class ChecksumMismatchError(RegistryError):
    """A downloaded or stored file does not match its recorded sha256."""

    reason = "checksum_mismatch"


class RegistryUnavailableError(RegistryError, ConnectionError):
    """The storage behind the registry cannot be reached."""

    reason = "registry_unavailable"


class ValidationRequiredError(RegistryError):
    """Publishing needs a passing validation report."""

    reason = "validation_required"


class InvalidNameError(RegistryError, ValueError):
    """A model name, version or alias is malformed (e.g. path traversal or not semver)."""

    reason = "invalid_name"


def describe_validation_error(exc: object) -> str:
    """A pydantic ValidationError as ``field: error type`` only: no input values (they are file contents)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return type(exc).__name__
    try:
        first = errors(include_input=False, include_url=False, include_context=False)[0]
    except (TypeError, IndexError):
        return type(exc).__name__
    loc = ".".join(str(part) for part in first.get("loc", ())) or "<document>"
    return f"{loc}: {first.get('type', 'invalid')}"


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
    "describe_validation_error",
]
