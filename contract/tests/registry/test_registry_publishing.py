"""The publish transaction's steps on their own: the version reservation and the refusals that need no registry I/O."""

from __future__ import annotations

from pathlib import Path

import pytest

from voiceflow_contract.errors import ChecksumMismatchError, ValidationRequiredError, VersionExistsError
from voiceflow_contract.registry import layout
from voiceflow_contract.registry.publishing import VersionReservation, check_publishable
from voiceflow_contract.registry.storage import Storage
from voiceflow_contract.semver import Version
from voiceflow_contract.testing import build_contract_model, contract_metadata
from voiceflow_contract.validator import validate_model_contract

V1 = Version(1, 0, 0)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(str(tmp_path / "registry"))


def test_a_live_claim_refuses_a_second_publisher(storage: Storage) -> None:
    mine = VersionReservation(storage, "toy", V1, stale_after=900)
    token = mine.claim()
    mine.check(token)
    with pytest.raises(VersionExistsError, match="is being published by"):
        VersionReservation(storage, "toy", V1, stale_after=900).claim()
    with pytest.raises(VersionExistsError, match="took over"):
        mine.check("someone-else")
    mine.release(token)
    assert not storage.exists(layout.version_file("toy", V1, layout.RESERVATION_FILE))


def test_a_stale_claim_is_taken_over(storage: Storage) -> None:
    first = VersionReservation(storage, "toy", V1, stale_after=-1.0).claim()
    second = VersionReservation(storage, "toy", V1, stale_after=-1.0)
    token = second.claim()
    assert token != first
    second.check(token)
    VersionReservation(storage, "toy", V1, stale_after=900).release(first)  # not ours any more: left in place
    assert storage.exists(layout.version_file("toy", V1, layout.RESERVATION_FILE))


def test_check_publishable_refuses_foreign_reports_and_lying_metadata(tmp_path: Path) -> None:
    model = build_contract_model(tmp_path / "a" / "model.onnx")
    other = build_contract_model(tmp_path / "b" / "model.onnx", seed=1)
    report = validate_model_contract(model, measure_latency=False)
    meta = contract_metadata(model, "toy", "1.0.0")
    sha, size = check_publishable("toy", V1, model, meta, report)
    assert size == model.stat().st_size and sha == meta.file.sha256
    with pytest.raises(ValidationRequiredError, match="another file"):
        check_publishable("toy", V1, other, meta, report)
    with pytest.raises(ChecksumMismatchError, match="does not describe"):
        check_publishable("toy", V1, model, contract_metadata(other, "toy", "1.0.0"), report)
