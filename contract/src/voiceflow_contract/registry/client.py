"""ModelRegistry: publish, list, show, resolve, pull, promote and rollback models on any fsspec store.

Guarantees (details per backend in docs/registry.md):

* A version is visible only once committed: its files are uploaded in place and read back (size + sha256), and only
  then is ``checksum.sha256`` created ("create only if absent") as the commit marker. Listing and resolving only see
  folders that have it, so a reader never sees a half-published version, and a version can be committed once.
* Pointers move only to committed versions, under the registry lock, and each move is appended to that pointer's
  history. manifest.json is rebuilt from version folders + pointer objects under the same lock, so racing publishers
  lose nothing.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fsspec.callbacks import TqdmCallback
from pydantic import ValidationError

from voiceflow_contract.errors import (
    ChecksumMismatchError,
    ModelNotFoundError,
    RegistryError,
    ValidationRequiredError,
    VersionExistsError,
    VersionNotFoundError,
)
from voiceflow_contract.hashing import sha256_bytes, sha256_file
from voiceflow_contract.registry import layout
from voiceflow_contract.registry.cache import PulledModel, download_version, load_from_cache
from voiceflow_contract.registry.lock import StorageLock, actor_name
from voiceflow_contract.registry.manifest_store import build_model_entry, read_manifest, write_manifest
from voiceflow_contract.registry.names import (
    LATEST,
    is_version_ref,
    parse_version,
    validate_model_name,
    validate_pointer_name,
    validate_ref,
)
from voiceflow_contract.registry.pointers import PointerState, move_pointer, rollback_target
from voiceflow_contract.registry.storage import ENV_REGISTRY, Storage
from voiceflow_contract.schemas.manifest import Manifest
from voiceflow_contract.schemas.metadata import ModelMetadata
from voiceflow_contract.schemas.report import ValidationReport
from voiceflow_contract.semver import Version


@dataclass(frozen=True)
class VersionInfo:
    """One committed version: its documents, checksum and the pointers naming it."""

    model_name: str
    version: Version
    metadata: ModelMetadata
    report: ValidationReport
    sha256: str
    size_bytes: int
    pointers: list[str] = field(default_factory=list)
    location: str = ""


def _load_doc(kind: type[ModelMetadata] | type[ValidationReport], value: object, what: str) -> Any:
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


class ModelRegistry:
    """A model registry rooted at ``url`` (plain path, file://, s3://, gs://, az://); see the module docstring."""

    def __init__(
        self,
        url: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        *,
        lock_timeout: float = 60.0,
        lock_stale_after: float = 30.0,
        reservation_stale_after: float = 900.0,
    ) -> None:
        """Open the registry; ``url`` defaults to $VOICEFLOW_REGISTRY. No I/O happens until the first call."""
        resolved = url or os.environ.get(ENV_REGISTRY, "")
        self.storage = Storage(resolved, storage_options)
        self.url = self.storage.url
        self.lock_timeout = lock_timeout
        self.lock_stale_after = lock_stale_after
        self.reservation_stale_after = reservation_stale_after

    def __repr__(self) -> str:
        return f"ModelRegistry({self.url!r})"

    # ------------------------------------------------------------------ reading
    def _committed(self, model: str, version: Version) -> bool:
        return self.storage.exists(layout.version_file(model, version, layout.CHECKSUM_FILE))

    def _versions(self, model: str) -> list[Version]:
        found: list[Version] = []
        for rel in self.storage.find(layout.model_dir(model), maxdepth=2):
            folder, _, name = rel.partition("/")
            if name == layout.CHECKSUM_FILE and folder.startswith("v") and is_version_ref(folder):
                found.append(parse_version(folder))
        return sorted(found)

    def list_models(self) -> list[str]:
        """Names of every model with at least one committed version, sorted."""
        models: set[str] = set()
        for rel in self.storage.find("", maxdepth=3):
            parts = rel.split("/")
            if len(parts) == 3 and parts[2] == layout.CHECKSUM_FILE and is_version_ref(parts[1]):
                models.add(parts[0])
        return sorted(m for m in models if _valid_model(m))

    def list_versions(self, model: str) -> list[Version]:
        """Committed versions of ``model``, oldest first; ModelNotFoundError when it has none."""
        model = validate_model_name(model)
        versions = self._versions(model)
        if not versions:
            known = ", ".join(self.list_models()) or "none"
            raise ModelNotFoundError(f"model {model!r} not found in registry {self.url} (models: {known})")
        return versions

    def _read_pointer(self, model: str, pointer: str) -> PointerState | None:
        try:
            raw = self.storage.read_bytes(layout.pointer_path(model, pointer))
        except FileNotFoundError:
            return None
        try:
            return PointerState.from_json(raw)
        except ValidationError as exc:
            raise RegistryError(f"pointer {model}/{pointer} is corrupt: {exc.errors()[0]['msg']}") from exc

    def _pointer_states(self, model: str) -> dict[str, PointerState]:
        names = [LATEST] + [
            n for n in self.storage.list_dir(f"{model}/{layout.ALIASES_DIR}") if _valid_pointer(n) and n != LATEST
        ]
        states: dict[str, PointerState] = {}
        for name in names:
            state = self._read_pointer(model, name)
            if state is not None:
                states[name] = state
        return states

    def pointers(self, model: str) -> dict[str, Version]:
        """Every pointer of ``model`` (``latest`` and aliases) and the version it names."""
        model = validate_model_name(model)
        states = self._pointer_states(model)
        if not states:
            self.list_versions(model)  # raises ModelNotFoundError for an unknown model
        return {name: parse_version(state.version) for name, state in states.items()}

    def resolve(self, model: str, ref: str | Version = LATEST) -> Version:
        """The version ``ref`` names: ``latest``, an alias, ``1.2.3`` or ``v1.2.3``."""
        model = validate_model_name(model)
        parsed = validate_ref(ref)
        if isinstance(parsed, Version):
            if self._committed(model, parsed):
                return parsed
            versions = self.list_versions(model)
            raise VersionNotFoundError(
                f"model {model!r} has no version {parsed} (versions: {', '.join(map(str, versions))})"
            )
        state = self._read_pointer(model, parsed)
        if state is None:
            self.list_versions(model)
            names = ", ".join(sorted(self._pointer_states(model))) or "none"
            raise VersionNotFoundError(f"model {model!r} has no pointer {parsed!r} (pointers: {names})")
        return parse_version(state.version)

    def show(self, model: str, ref: str | Version = LATEST) -> VersionInfo:
        """Metadata, validation report, checksum and pointers of one version."""
        model = validate_model_name(model)
        version = self.resolve(model, ref)
        try:
            checksum_text = self.storage.read_text(layout.version_file(model, version, layout.CHECKSUM_FILE))
            checksum = layout.parse_checksum(checksum_text)
            metadata_raw = self.storage.read_bytes(layout.version_file(model, version, layout.METADATA_FILE))
            report_raw = self.storage.read_bytes(layout.version_file(model, version, layout.REPORT_FILE))
            metadata = ModelMetadata.from_json(metadata_raw)
            report = ValidationReport.from_json(report_raw)
        except FileNotFoundError as exc:
            raise VersionNotFoundError(f"{model} {version} is incomplete in {self.url}: {exc}") from exc
        except ValidationError as exc:
            raise RegistryError(f"{model} {version}: stored documents are invalid: {exc.errors()[0]['msg']}") from exc
        names = sorted(name for name, state in self._pointer_states(model).items() if state.version == str(version))
        return VersionInfo(
            model_name=model,
            version=version,
            metadata=metadata,
            report=report,
            sha256=checksum,
            size_bytes=metadata.file.size_bytes,
            pointers=names,
            location=f"{self.url}/{layout.version_dir(model, version)}",
        )

    def manifest(self) -> Manifest:
        """The stored manifest.json (an empty manifest for a fresh registry)."""
        return read_manifest(self.storage)

    # ------------------------------------------------------------------ pulling
    def pull(
        self,
        model: str,
        ref: str | Version = LATEST,
        cache_dir: str | Path = ".voiceflow-cache",
        *,
        progress: bool = False,
    ) -> PulledModel:
        """Download ``ref`` into ``cache_dir``, verified against checksum.sha256 and metadata.json.

        A cached copy that still verifies is reused without downloading; a mismatch raises ChecksumMismatchError and
        leaves the cache as it was.
        """
        model = validate_model_name(model)
        version = self.resolve(model, ref)
        ref_name = None if is_version_ref(ref) else str(ref)
        return download_version(self.storage, model, version, cache_dir, ref=ref_name, progress=progress)

    @staticmethod
    def local_cache_lookup(cache_dir: str | Path, model: str, ref: str | Version | None = None) -> PulledModel:
        """Offline fallback: the best verified cached copy of ``model`` (see cache.load_from_cache)."""
        return load_from_cache(cache_dir, model, ref)

    # ------------------------------------------------------------------ writing
    def _lock(self) -> StorageLock:
        return StorageLock(self.storage, layout.LOCK, timeout=self.lock_timeout, stale_after=self.lock_stale_after)

    def _sync_manifest(self, model: str, states: Mapping[str, PointerState]) -> None:
        """Rebuild ``model``'s manifest entry from the truth; the caller holds the lock."""
        manifest = read_manifest(self.storage, strict=False)
        entry = build_model_entry(self.storage, model, self._versions(model), states, manifest.models.get(model))
        manifest.models[model] = entry
        manifest.updated_at = datetime.now(UTC)
        write_manifest(self.storage, manifest)

    def _move(self, model: str, moves: Iterable[tuple[str, str | None, str]]) -> dict[str, PointerState]:
        """Apply pointer moves ``(pointer, to_version or None for rollback, action)`` under the lock."""
        with self._lock():
            states = self._pointer_states(model)
            for pointer, to_version, action in moves:
                current = states.get(pointer)
                target = to_version if to_version is not None else rollback_target(model, current, pointer)
                if current is not None and current.version == target:
                    continue  # already there: no move, no history entry
                state, _ = move_pointer(current, pointer, target, action, actor_name())
                self.storage.write_bytes(layout.pointer_path(model, pointer), state.to_json().encode("utf-8"))
                states[pointer] = state
            self._sync_manifest(model, states)
            return states

    def promote(self, model: str, version: str | Version, alias: str = LATEST) -> Version:
        """Point ``alias`` (default ``latest``) at an already published version."""
        model = validate_model_name(model)
        alias = validate_pointer_name(alias)
        target = parse_version(version)
        if not self._committed(model, target):
            self.resolve(model, target)  # raises ModelNotFoundError / VersionNotFoundError with the known versions
        self._move(model, [(alias, str(target), "promote")])
        return target

    def rollback(self, model: str, pointer: str = LATEST) -> Version:
        """Move ``pointer`` back to the version it named before its last move; history keeps every move."""
        model = validate_model_name(model)
        pointer = validate_pointer_name(pointer)
        self.list_versions(model)
        states = self._move(model, [(pointer, None, "rollback")])
        return parse_version(states[pointer].version)

    def rebuild_manifest(self) -> Manifest:
        """Rebuild manifest.json for every model from the version folders and pointer objects (repair tool)."""
        with self._lock():
            manifest = read_manifest(self.storage, strict=False)
            for model in self.list_models():
                states = self._pointer_states(model)
                manifest.models[model] = build_model_entry(
                    self.storage, model, self._versions(model), states, manifest.models.get(model)
                )
            manifest.updated_at = datetime.now(UTC)
            write_manifest(self.storage, manifest)
            return manifest

    def publish(
        self,
        model_name: str,
        version: str | Version,
        model_path: str | Path,
        metadata: ModelMetadata | str | Path,
        report: ValidationReport | str | Path,
        *,
        aliases: Iterable[str] = (LATEST,),
        progress: bool = False,
    ) -> VersionInfo:
        """Publish a validated model as ``<model>/v<version>`` and move ``aliases`` to it.

        Refuses (before uploading anything) a failed or foreign validation report (ValidationRequiredError), metadata
        that does not describe the file (ChecksumMismatchError) and an existing version (VersionExistsError).
        """
        model = validate_model_name(model_name)
        target = parse_version(version)
        alias_names = [validate_pointer_name(a) for a in aliases]
        meta: ModelMetadata = _load_doc(ModelMetadata, metadata, "metadata")
        rep: ValidationReport = _load_doc(ValidationReport, report, "validation report")
        local = Path(model_path)
        if not local.is_file():
            raise RegistryError(f"model file not found: {local}")
        sha, size = self._check_publishable(model, target, local, meta, rep)

        if self._committed(model, target):
            raise VersionExistsError(f"{model} {target} is already published in {self.url}; versions are immutable")
        token = self._reserve(model, target)
        try:
            # Re-check under the reservation: a publisher that committed this version released its reservation only
            # after committing, so if it is not committed now, nobody can commit it while we hold the claim.
            if self._committed(model, target):
                raise VersionExistsError(f"{model} {target} was published concurrently by another publisher")
            self._upload_and_verify(model, target, local, sha, size, meta, rep, progress)
            self._check_reservation(model, target, token)
            try:
                self.storage.create_bytes(
                    layout.version_file(model, target, layout.CHECKSUM_FILE), layout.checksum_line(sha).encode()
                )
            except FileExistsError as exc:
                raise VersionExistsError(f"{model} {target} was published concurrently by another publisher") from exc
        finally:
            self._release_reservation(model, target, token)
        states = self._move(model, [(alias, str(target), "publish") for alias in alias_names])
        return VersionInfo(
            model_name=model,
            version=target,
            metadata=meta,
            report=rep,
            sha256=sha,
            size_bytes=size,
            pointers=sorted(name for name, state in states.items() if state.version == str(target)),
            location=f"{self.url}/{layout.version_dir(model, target)}",
        )

    def _check_publishable(
        self, model: str, target: Version, local: Path, meta: ModelMetadata, rep: ValidationReport
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

    def _reserve(self, model: str, target: Version) -> str:
        """Claim the version folder for this publisher; a live claim by someone else is VersionExistsError."""
        rel = layout.version_file(model, target, layout.RESERVATION_FILE)
        token = uuid.uuid4().hex
        body = json.dumps({"token": token, "created": time.time(), "actor": actor_name()}).encode()
        try:
            self.storage.create_bytes(rel, body)
            return token
        except FileExistsError:
            pass
        try:
            holder = json.loads(self.storage.read_bytes(rel))
            age = time.time() - float(holder["created"])
            actor = str(holder.get("actor", "?"))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            age, actor = self.reservation_stale_after + 1, "?"
        if age <= self.reservation_stale_after:
            raise VersionExistsError(f"{model} {target} is being published by {actor} (started {age:.0f} s ago)")
        # An abandoned publish (crashed publisher): take it over; its uncommitted files are overwritten below.
        self.storage.write_bytes(rel, body)
        return token

    def _check_reservation(self, model: str, target: Version, token: str) -> None:
        try:
            holder = json.loads(self.storage.read_bytes(layout.version_file(model, target, layout.RESERVATION_FILE)))
        except (FileNotFoundError, ValueError) as exc:
            raise VersionExistsError(f"{model} {target}: lost the publish reservation") from exc
        if holder.get("token") != token:
            raise VersionExistsError(f"{model} {target}: another publisher took over this version")

    def _release_reservation(self, model: str, target: Version, token: str) -> None:
        rel = layout.version_file(model, target, layout.RESERVATION_FILE)
        try:
            holder = json.loads(self.storage.read_bytes(rel))
            if holder.get("token") == token:
                self.storage.remove(rel)
        except (FileNotFoundError, ValueError, RegistryError):
            pass  # best effort: a leftover reservation goes stale and is taken over

    def _upload_and_verify(
        self,
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
        self.storage.put_file(local, model_rel, callback=callback)
        docs = {
            layout.METADATA_FILE: meta.to_json().encode("utf-8"),
            layout.REPORT_FILE: rep.to_json().encode("utf-8"),
        }
        for name, data in docs.items():
            self.storage.write_bytes(layout.version_file(model, target, name), data)
        remote_sha, remote_size = self.storage.sha256(model_rel)
        if remote_sha != sha or remote_size != size:
            raise ChecksumMismatchError(
                f"upload of {model} {target} model.onnx verified wrong ({remote_size} bytes, {remote_sha[:12]}…); "
                "not committed"
            )
        for name, data in docs.items():
            back = self.storage.read_bytes(layout.version_file(model, target, name))
            if sha256_bytes(back) != sha256_bytes(data):
                raise ChecksumMismatchError(f"upload of {model} {target} {name} verified wrong; not committed")


def _valid_model(name: str) -> bool:
    try:
        validate_model_name(name)
    except RegistryError:
        return False
    return True


def _valid_pointer(name: str) -> bool:
    try:
        validate_pointer_name(name)
    except RegistryError:
        return False
    return True


__all__ = ["ModelRegistry", "VersionInfo"]
