"""ModelRegistry: publish, list, show, resolve, pull, promote and rollback models on any fsspec store.

Guarantees (details per backend in docs/registry.md):

* A version is visible only once committed: its files are uploaded in place and read back (size + sha256), and only
  then is ``checksum.sha256`` created ("create only if absent") as the commit marker. Listing and resolving only see
  folders that have it, so a reader never sees a half-published version, and a version can be committed once.
* Pointers move only to committed versions, under the registry lock, and each move is appended to that pointer's
  history. manifest.json is rebuilt from version folders + pointer objects under the same lock, so racing publishers
  lose nothing.

Reading lives in :mod:`.reader`, the publish transaction's steps in :mod:`.publishing`; this module holds the writes
that take the registry lock (publish's commit, pointer moves, the manifest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voiceflow_contract.errors import RegistryError, VersionExistsError
from voiceflow_contract.registry import layout
from voiceflow_contract.registry.env import registry_from_env
from voiceflow_contract.registry.lock import StorageLock, actor_name
from voiceflow_contract.registry.manifest_store import build_model_entry, read_manifest, write_manifest
from voiceflow_contract.registry.names import LATEST, parse_version, validate_model_name, validate_pointer_name
from voiceflow_contract.registry.pointers import PointerState, move_pointer, rollback_target
from voiceflow_contract.registry.publishing import VersionReservation, check_publishable, load_doc, upload_and_verify
from voiceflow_contract.registry.reader import RegistryReader, VersionInfo
from voiceflow_contract.schemas.manifest import Manifest
from voiceflow_contract.schemas.metadata import ModelMetadata
from voiceflow_contract.schemas.report import ValidationReport
from voiceflow_contract.semver import Version


class ModelRegistry(RegistryReader):
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
        """Open the registry; ``url`` defaults to $VOICEFLOW_REGISTRY_URL, else $VOICEFLOW_REGISTRY.

        No I/O happens until the first call.
        """
        super().__init__(url or registry_from_env() or "", storage_options)
        self.lock_timeout = lock_timeout
        self.lock_stale_after = lock_stale_after
        self.reservation_stale_after = reservation_stale_after

    def __repr__(self) -> str:
        return f"ModelRegistry({self.url!r})"

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
        meta: ModelMetadata = load_doc(ModelMetadata, metadata, "metadata")
        rep: ValidationReport = load_doc(ValidationReport, report, "validation report")
        local = Path(model_path)
        if not local.is_file():
            raise RegistryError(f"model file not found: {local}")
        sha, size = check_publishable(model, target, local, meta, rep)

        if self._committed(model, target):
            raise VersionExistsError(f"{model} {target} is already published in {self.url}; versions are immutable")
        reservation = VersionReservation(self.storage, model, target, stale_after=self.reservation_stale_after)
        token = reservation.claim()
        try:
            # Re-check under the reservation: a publisher that committed this version released its reservation only
            # after committing, so if it is not committed now, nobody can commit it while we hold the claim.
            if self._committed(model, target):
                raise VersionExistsError(f"{model} {target} was published concurrently by another publisher")
            upload_and_verify(self.storage, model, target, local, sha, size, meta, rep, progress)
            reservation.check(token)
            try:
                self.storage.create_bytes(
                    layout.version_file(model, target, layout.CHECKSUM_FILE), layout.checksum_line(sha).encode()
                )
            except FileExistsError as exc:
                raise VersionExistsError(f"{model} {target} was published concurrently by another publisher") from exc
        finally:
            reservation.release(token)
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


__all__ = ["ModelRegistry"]
