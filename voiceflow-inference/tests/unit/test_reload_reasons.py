"""Refusal and poll-failure labels come from an explicit table, equal to the labels the service always exported."""

from __future__ import annotations

import pytest

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
from voiceflow_inference.lifecycle.errors import ReloadError, reason_for
from voiceflow_inference.lifecycle.reasons import TRANSIENT_REASONS, Reason


@pytest.mark.parametrize(
    ("exc", "label"),
    [
        (RegistryError("x"), "registry"),
        (RegistryUnavailableError("x"), "registry_unavailable"),
        (ModelNotFoundError("x"), "model_not_found"),
        (VersionNotFoundError("x"), "version_not_found"),
        (VersionExistsError("x"), "version_exists"),
        (ChecksumMismatchError("x"), "checksum_mismatch"),
        (ValidationRequiredError("x"), "validation_required"),
        (InvalidNameError("x"), "invalid_name"),
        (ReloadError(Reason.REGISTRY, "x"), "reload"),
        (OSError("x"), "o_s"),
        (ConnectionRefusedError("x"), "connection_refused"),
        (TimeoutError("x"), "timeout"),
        (FileNotFoundError("x"), "file_not_found"),
        (PermissionError("x"), "permission"),
    ],
)
def test_each_exception_type_has_its_label(exc: BaseException, label: str) -> None:
    assert reason_for(exc) == label and str(reason_for(exc)) == label


def test_a_renamed_or_new_subclass_keeps_its_base_label() -> None:
    class SomeNewOutageError(RegistryUnavailableError):
        pass

    class WeirdError(ValueError):
        pass

    assert reason_for(SomeNewOutageError("x")) is Reason.REGISTRY_UNAVAILABLE
    assert reason_for(WeirdError("x")) is Reason.ERROR


def test_transient_reasons_are_the_registry_and_disk_ones() -> None:
    assert {str(r) for r in TRANSIENT_REASONS} == {
        "registry_unavailable",
        "registry",
        "error",
        "model_not_found",
        "version_not_found",
        "missing",
    }
    assert f"reload_refused:{Reason.AB_INVALID}" == "reload_refused:ab_invalid"  # the HTTP error code format
