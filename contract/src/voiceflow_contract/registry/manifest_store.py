"""manifest.json: read it, and rebuild a model's entry from the truth (committed version folders + pointer objects).

The manifest is derived, never the only copy of anything: every version has its folder and every pointer carries its
own history. Writers rebuild the entry of the model they touched while holding the registry lock, so two publishers
racing on one model both end up in it, and a publisher that died between commit and manifest update is repaired by
the next writer (or by ``ModelRegistry.rebuild_manifest()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from pydantic import ValidationError

from voiceflow_contract.errors import RegistryError, describe_validation_error
from voiceflow_contract.registry import layout
from voiceflow_contract.registry.pointers import PointerState
from voiceflow_contract.registry.storage import Storage
from voiceflow_contract.schemas.manifest import Manifest, ManifestModel, ManifestVersion
from voiceflow_contract.schemas.metadata import ModelMetadata
from voiceflow_contract.semver import Version


def empty_manifest() -> Manifest:
    """A manifest with no models (a fresh registry)."""
    return Manifest(updated_at=datetime.now(UTC))


def read_manifest(storage: Storage, *, strict: bool = True) -> Manifest:
    """The stored manifest (empty if none yet); a corrupt one raises RegistryError unless ``strict=False``."""
    try:
        data = storage.read_bytes(layout.MANIFEST)
    except FileNotFoundError:
        return empty_manifest()
    try:
        return Manifest.from_json(data)
    except ValidationError as exc:
        if not strict:
            return empty_manifest()  # writers rebuild it from the version folders and pointer objects
        raise RegistryError(
            f"{storage.url}/{layout.MANIFEST} is corrupt ({describe_validation_error(exc)})", reason="manifest_corrupt"
        ) from exc


def manifest_version(metadata: ModelMetadata, version: Version, published_at: datetime) -> ManifestVersion:
    """The catalogue line of one version, from its metadata.json."""
    cpu = metadata.performance.get("cpu")
    return ManifestVersion(
        version=str(version),
        published_at=published_at,
        sha256=metadata.file.sha256,
        size_bytes=metadata.file.size_bytes,
        profile=metadata.profile,
        architecture=metadata.architecture.name or metadata.architecture.type,
        p99_ms=cpu.p99_ms if cpu else None,
        der=metadata.accuracy.der_test_set,
    )


def build_model_entry(
    storage: Storage,
    model: str,
    versions: Iterable[Version],
    pointer_states: Mapping[str, PointerState],
    previous: ManifestModel | None,
) -> ManifestModel:
    """Rebuild one model's manifest entry; metadata.json is read only for versions the previous entry lacks."""
    known = {v.version: v for v in (previous.versions if previous else [])}
    entries: list[ManifestVersion] = []
    for version in sorted(versions):
        line = known.get(str(version))
        if line is None:
            raw = storage.read_bytes(layout.version_file(model, version, layout.METADATA_FILE))
            try:
                metadata = ModelMetadata.from_json(raw)
            except ValidationError as exc:
                raise RegistryError(
                    f"{model} {version}: metadata.json is invalid ({describe_validation_error(exc)})",
                    reason="document_invalid",
                ) from exc
            line = manifest_version(metadata, version, datetime.now(UTC))
        entries.append(line)
    history = sorted((move for state in pointer_states.values() for move in state.history), key=lambda m: m.at)
    return ManifestModel(
        versions=entries,
        pointers={name: state.version for name, state in sorted(pointer_states.items())},
        history=history,
    )


def write_manifest(storage: Storage, manifest: Manifest) -> None:
    """Write manifest.json (atomically replacing the old one)."""
    storage.write_bytes(layout.MANIFEST, manifest.to_json().encode("utf-8"))


__all__ = ["build_model_entry", "empty_manifest", "manifest_version", "read_manifest", "write_manifest"]
