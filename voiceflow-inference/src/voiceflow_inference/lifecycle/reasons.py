"""Why a model change was refused or a registry poll failed: one explicit label set.

The values are the strings the service has always exported (``reload_refused:<reason>`` error codes, the ``reason``
label of ``voiceflow_registry_poll_failures_total``), so dashboards and alerts keep working; they are written out here
instead of being derived from exception class names, so renaming an exception can no longer change a label.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """A short, metric-friendly label; ``str(reason)`` is the label."""

    # a model file failed a load-time check (ModelRejectedError)
    MISSING = "missing"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    REGISTRY_REPORT_FAILED = "registry_report_failed"
    CONTRACT = "contract"
    VALIDATION_ERROR = "validation_error"
    LOAD = "load"
    STREAM_CHECK = "stream_check"
    SIDECAR = "sidecar"
    WRONG_MODEL = "wrong_model"
    # the registry answered with an error (voiceflow_contract.errors.RegistryError and its subclasses)
    REGISTRY = "registry"
    REGISTRY_UNAVAILABLE = "registry_unavailable"
    MODEL_NOT_FOUND = "model_not_found"
    VERSION_NOT_FOUND = "version_not_found"
    VERSION_EXISTS = "version_exists"
    VALIDATION_REQUIRED = "validation_required"
    INVALID_NAME = "invalid_name"
    # an admin request could not be carried out
    NO_PREVIOUS = "no_previous"
    AB_INVALID = "ab_invalid"
    AB_EVICTED = "ab_evicted"
    SERVING = "serving"  # an unload of a version that traffic follows (active, A/B arm or pinned)
    # anything unexpected (fail closed)
    ERROR = "error"
    # a registry poll failed before resolving: the client could not be built (ReloadError) or the OS said no
    RELOAD = "reload"
    OS = "o_s"  # OSError: the historical label, kept so existing series continue
    CONNECTION = "connection"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"
    CONNECTION_ABORTED = "connection_aborted"
    BROKEN_PIPE = "broken_pipe"
    TIMEOUT = "timeout"
    FILE_NOT_FOUND = "file_not_found"
    FILE_EXISTS = "file_exists"
    IS_A_DIRECTORY = "is_a_directory"
    NOT_A_DIRECTORY = "not_a_directory"
    PERMISSION = "permission"


# Refusals worth retrying on the next poll (the registry or the local disk, not the model). Any other refusal
# (contract, checksum, ...) is lasting: the poller skips that version until the pointer moves again.
TRANSIENT_REASONS: frozenset[Reason] = frozenset(
    {
        Reason.REGISTRY_UNAVAILABLE,
        Reason.REGISTRY,
        Reason.ERROR,
        Reason.MODEL_NOT_FOUND,
        Reason.VERSION_NOT_FOUND,
        Reason.MISSING,
    }
)

__all__ = ["TRANSIENT_REASONS", "Reason"]
