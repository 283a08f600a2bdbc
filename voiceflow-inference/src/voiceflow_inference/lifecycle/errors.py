"""The lifecycle's exceptions, and the explicit table that gives each exception type its :class:`Reason` label."""

from __future__ import annotations

from voiceflow_contract.errors import (
    ChecksumMismatchError,
    InvalidNameError,
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
    ValidationRequiredError,
    VersionExistsError,
    VersionNotFoundError,
)
from voiceflow_contract.schemas import ValidationReport
from voiceflow_inference.lifecycle.reasons import Reason


class ModelNotReadyError(RuntimeError):
    """No model is loaded yet (the service answers 503)."""


class VersionNotLoadedError(LookupError):
    """The requested version is not loaded in this process (the service answers 404)."""


class ReloadError(RuntimeError):
    """A reload was refused; the previous model keeps serving. ``reason`` is a short label."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ModelRejectedError(Exception):
    """A model failed a load-time check; ``reason`` is a short metric-friendly label, the message explains."""

    def __init__(self, reason: Reason, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.report = report


# Order does not matter: reason_for walks the exception's MRO, so a subclass listed here wins over its
# base, and an unlisted subclass gets its nearest listed base's label.
_REASONS: dict[type[BaseException], Reason] = {
    ReloadError: Reason.RELOAD,
    RegistryError: Reason.REGISTRY,
    RegistryUnavailableError: Reason.REGISTRY_UNAVAILABLE,
    ModelNotFoundError: Reason.MODEL_NOT_FOUND,
    VersionNotFoundError: Reason.VERSION_NOT_FOUND,
    VersionExistsError: Reason.VERSION_EXISTS,
    ChecksumMismatchError: Reason.CHECKSUM_MISMATCH,
    ValidationRequiredError: Reason.VALIDATION_REQUIRED,
    InvalidNameError: Reason.INVALID_NAME,
    OSError: Reason.OS,
    ConnectionError: Reason.CONNECTION,
    ConnectionRefusedError: Reason.CONNECTION_REFUSED,
    ConnectionResetError: Reason.CONNECTION_RESET,
    ConnectionAbortedError: Reason.CONNECTION_ABORTED,
    BrokenPipeError: Reason.BROKEN_PIPE,
    TimeoutError: Reason.TIMEOUT,
    FileNotFoundError: Reason.FILE_NOT_FOUND,
    FileExistsError: Reason.FILE_EXISTS,
    IsADirectoryError: Reason.IS_A_DIRECTORY,
    NotADirectoryError: Reason.NOT_A_DIRECTORY,
    PermissionError: Reason.PERMISSION,
}


def reason_for(exc: BaseException) -> Reason:
    """The label of a registry, reload or OS error (``Reason.ERROR`` for anything else)."""
    for cls in type(exc).__mro__:
        reason = _REASONS.get(cls)
        if reason is not None:
            return reason
    return Reason.ERROR


__all__ = [
    "ModelNotReadyError",
    "ModelRejectedError",
    "ReloadError",
    "VersionNotLoadedError",
    "reason_for",
]
