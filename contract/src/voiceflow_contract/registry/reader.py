"""Reading a registry: list models and versions, resolve references, show one version, pull it into a cache.

Only committed versions (their ``checksum.sha256`` exists) are ever listed or resolved, so a reader never sees a
half-published version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from voiceflow_contract.errors import ModelNotFoundError, RegistryError, VersionNotFoundError, describe_validation_error
from voiceflow_contract.registry import layout
from voiceflow_contract.registry.cache import PulledModel, download_version, load_from_cache
from voiceflow_contract.registry.manifest_store import read_manifest
from voiceflow_contract.registry.names import (
    LATEST,
    is_version_ref,
    parse_version,
    validate_model_name,
    validate_pointer_name,
    validate_ref,
)
from voiceflow_contract.registry.pointers import PointerState
from voiceflow_contract.registry.storage import Storage
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


class RegistryReader:
    """The read side of a registry rooted at ``url``: no call here writes to the store."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.storage = Storage(url, storage_options)
        self.url = self.storage.url

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
            raise RegistryError(
                f"pointer {model}/{pointer} is corrupt ({describe_validation_error(exc)})", reason="pointer_corrupt"
            ) from exc

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
            raise RegistryError(
                f"{model} {version}: stored documents are invalid ({describe_validation_error(exc)})",
                reason="document_invalid",
            ) from exc
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


__all__ = ["RegistryReader", "VersionInfo"]
