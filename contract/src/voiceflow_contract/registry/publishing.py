"""The publish transaction's steps: refuse what must not be published, claim the version, upload and verify.

:meth:`ModelRegistry.publish <voiceflow_contract.registry.client.ModelRegistry.publish>` runs them in order and only
then creates ``checksum.sha256``, the commit marker.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from fsspec.callbacks import TqdmCallback
from pydantic import ValidationError

from voiceflow_contract.errors import ChecksumMismatchError, RegistryError, ValidationRequiredError, VersionExistsError
from voiceflow_contract.hashing import sha256_bytes, sha256_file
from voiceflow_contract.registry import layout
from voiceflow_contract.registry.lock import actor_name
from voiceflow_contract.registry.names import is_version_ref, parse_version
from voiceflow_contract.registry.storage import Storage
from voiceflow_contract.schemas.metadata import ModelMetadata
from voiceflow_contract.schemas.report import ValidationReport
from voiceflow_contract.semver import Version


def load_doc(kind: type[ModelMetadata] | type[ValidationReport], value: object, what: str) -> Any:
    """Accept a schema object, or a path to its JSON file."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str | Path):
        try:
            return kind.read(value)
        except FileNotFoundError as exc:
            raise RegistryError(f"{what} file not found: {value}") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            raise RegistryError(f"{what} {value} is invalid: {first['loc']}: {first['msg']}") from exc
    raise RegistryError(f"{what} must be a {kind.__name__} or a path, got {type(value).__name__}")


def check_publishable(
    model: str, target: Version, local: Path, meta: ModelMetadata, rep: ValidationReport
) -> tuple[str, int]:
    """Every refusal that needs no I/O on the registry; returns the file's (sha256, size)."""
    if not rep.passed or rep.failed_checks:
        failed = ", ".join(c.name for c in rep.failed_checks) or "report.passed is false"
        raise ValidationRequiredError(f"refusing to publish {model} {target}: validation failed ({failed})")
    sha = sha256_file(local)
    size = local.stat().st_size
    if rep.model_sha256 != sha:
        raise ValidationRequiredError(
            f"refusing to publish {model} {target}: the validation report is for another file "
            f"(report sha256 {rep.model_sha256[:12]}…, file {sha[:12]}…); validate this file first"
        )
    if meta.file.sha256 != sha or meta.file.size_bytes != size:
        raise ChecksumMismatchError(
            f"refusing to publish {model} {target}: metadata.file (sha256 {meta.file.sha256[:12]}…, "
            f"{meta.file.size_bytes} bytes) does not describe {local.name} ({sha[:12]}…, {size} bytes)"
        )
    if meta.model_name != model:
        raise RegistryError(f"refusing to publish: metadata.model_name is {meta.model_name!r}, not {model!r}")
    if not is_version_ref(meta.version) or parse_version(meta.version) != target:
        raise RegistryError(f"refusing to publish: metadata.version is {meta.version!r}, not {target}")
    return sha, size


class VersionReservation:
    """A publisher's claim on one version folder (``<model>/v<version>/.publishing``) while it uploads."""

    def __init__(self, storage: Storage, model: str, target: Version, *, stale_after: float) -> None:
        self._storage = storage
        self._path = layout.version_file(model, target, layout.RESERVATION_FILE)
        self._what = f"{model} {target}"
        self._stale_after = stale_after

    def claim(self) -> str:
        """Claim the version folder for this publisher; a live claim by someone else is VersionExistsError."""
        token = uuid.uuid4().hex
        body = json.dumps({"token": token, "created": time.time(), "actor": actor_name()}).encode()
        try:
            self._storage.create_bytes(self._path, body)
            return token
        except FileExistsError:
            pass
        try:
            holder = json.loads(self._storage.read_bytes(self._path))
            age = time.time() - float(holder["created"])
            actor = str(holder.get("actor", "?"))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            age, actor = self._stale_after + 1, "?"
        if age <= self._stale_after:
            raise VersionExistsError(f"{self._what} is being published by {actor} (started {age:.0f} s ago)")
        # An abandoned publish (crashed publisher): take it over; its uncommitted files are overwritten below.
        self._storage.write_bytes(self._path, body)
        return token

    def check(self, token: str) -> None:
        """VersionExistsError unless this publisher (``token``) still holds the claim."""
        try:
            holder = json.loads(self._storage.read_bytes(self._path))
        except (FileNotFoundError, ValueError) as exc:
            raise VersionExistsError(f"{self._what}: lost the publish reservation") from exc
        if holder.get("token") != token:
            raise VersionExistsError(f"{self._what}: another publisher took over this version")

    def release(self, token: str) -> None:
        """Drop the claim if it is still ours."""
        try:
            holder = json.loads(self._storage.read_bytes(self._path))
            if holder.get("token") == token:
                self._storage.remove(self._path)
        except (FileNotFoundError, ValueError, RegistryError):
            pass  # best effort: a leftover reservation goes stale and is taken over


def upload_and_verify(
    storage: Storage,
    model: str,
    target: Version,
    local: Path,
    sha: str,
    size: int,
    meta: ModelMetadata,
    rep: ValidationReport,
    progress: bool,
) -> None:
    """Upload the three payload files, then read each back and compare (size + sha256) before the commit."""
    model_rel = layout.version_file(model, target, layout.MODEL_FILE)
    callback = None
    if progress:
        callback = TqdmCallback(tqdm_kwargs={"desc": f"upload {model} {target}", "unit": "B", "unit_scale": True})
    storage.put_file(local, model_rel, callback=callback)
    docs = {
        layout.METADATA_FILE: meta.to_json().encode("utf-8"),
        layout.REPORT_FILE: rep.to_json().encode("utf-8"),
    }
    for name, data in docs.items():
        storage.write_bytes(layout.version_file(model, target, name), data)
    remote_sha, remote_size = storage.sha256(model_rel)
    if remote_sha != sha or remote_size != size:
        raise ChecksumMismatchError(
            f"upload of {model} {target} model.onnx verified wrong ({remote_size} bytes, {remote_sha[:12]}…); "
            "not committed"
        )
    for name, data in docs.items():
        back = storage.read_bytes(layout.version_file(model, target, name))
        if sha256_bytes(back) != sha256_bytes(data):
            raise ChecksumMismatchError(f"upload of {model} {target} {name} verified wrong; not committed")


__all__ = ["VersionReservation", "check_publishable", "load_doc", "upload_and_verify"]
