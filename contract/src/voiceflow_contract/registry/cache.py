"""The local pull cache.

Layout: ``<cache>/<model>/<version>/{model.onnx, metadata.json, validation_report.json, checksum.sha256}``.

A download goes to a private temp folder inside the cache, is hashed while it streams, and is compared with BOTH the
registry's checksum.sha256 and metadata.json before anything is renamed into place. A mismatch or a broken transfer
leaves nothing behind, so the cache is never poisoned. model.onnx is renamed last; a cached copy counts only when its
sha256 matches its own metadata.json and checksum.sha256, which is checked again every time it is reused.

``<cache>/<model>/refs.json`` remembers which version each reference (``latest``, an alias) resolved to at the last
successful pull, so a server that starts while the registry is unreachable serves what it served before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from voiceflow_contract.errors import (
    ChecksumMismatchError,
    ContractError,
    ModelNotFoundError,
    RegistryError,
    VersionNotFoundError,
    describe_validation_error,
)
from voiceflow_contract.hashing import sha256_file
from voiceflow_contract.registry import layout
from voiceflow_contract.registry.names import LATEST, is_version_ref, parse_version, validate_model_name, validate_ref
from voiceflow_contract.registry.storage import Storage
from voiceflow_contract.schemas.metadata import ModelMetadata
from voiceflow_contract.schemas.report import ValidationReport
from voiceflow_contract.semver import Version
from voiceflow_contract.spec import CONTRACT

REFS_FILE = "refs.json"


@dataclass(frozen=True)
class PulledModel:
    """A verified local copy of one registry version."""

    model_name: str
    version: Version
    path: Path
    metadata: ModelMetadata
    report: ValidationReport
    sha256: str
    from_cache: bool = False


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def check_consistent(
    model: str, version: Version, checksum_sha: str, metadata: ModelMetadata, report: ValidationReport
) -> None:
    """checksum.sha256, metadata.json and validation_report.json must name the same sha256 (else someone tampered)."""
    if metadata.file.sha256 != checksum_sha or report.model_sha256 != checksum_sha:
        raise ChecksumMismatchError(
            f"{model} {version}: checksum.sha256 says {checksum_sha[:12]}…, metadata.json says "
            f"{metadata.file.sha256[:12]}…, validation_report.json says {report.model_sha256[:12]}…: "
            "the registry copy was altered; refusing it"
        )


def verify_cached(cache_dir: str | Path, model: str, version: Version) -> PulledModel:
    """Re-verify a cached copy (sha256 of model.onnx against its checksum.sha256 and metadata.json).

    Raises FileNotFoundError when it is not cached and ChecksumMismatchError when the cached bytes are wrong.
    """
    folder = Path(cache_dir) / model / str(version)
    model_path = folder / layout.MODEL_FILE
    if not model_path.is_file():
        raise FileNotFoundError(str(model_path))
    try:
        metadata = ModelMetadata.read(folder / layout.METADATA_FILE)
        report = ValidationReport.read(folder / layout.REPORT_FILE)
        expected = layout.parse_checksum((folder / layout.CHECKSUM_FILE).read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as exc:
        raise ChecksumMismatchError(
            f"cached {model} {version} has unreadable sidecar files ({describe_validation_error(exc)})",
            reason="cache_sidecar_invalid",
        ) from exc
    check_consistent(model, version, expected, metadata, report)
    actual = sha256_file(model_path)
    if actual != expected:
        raise ChecksumMismatchError(
            f"cached {model} {version} model.onnx has sha256 {actual[:12]}…, expected {expected[:12]}…"
        )
    return PulledModel(model, version, model_path, metadata, report, actual, from_cache=True)


def cached_versions(cache_dir: str | Path, model: str) -> list[Version]:
    """Versions of ``model`` in the cache whose model.onnx verifies, oldest first."""
    model = validate_model_name(model)
    base = Path(cache_dir) / model
    found: list[Version] = []
    if not base.is_dir():
        return found
    for child in base.iterdir():
        if not child.is_dir() or not is_version_ref(child.name):
            continue
        version = parse_version(child.name)
        with contextlib.suppress(FileNotFoundError, ChecksumMismatchError):
            verify_cached(cache_dir, model, version)
            found.append(version)
    return sorted(found)


def _read_refs(cache_dir: str | Path, model: str) -> dict[str, str]:
    try:
        data = json.loads((Path(cache_dir) / model / REFS_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def record_ref(cache_dir: str | Path, model: str, ref: str, version: Version) -> None:
    """Remember that ``ref`` resolved to ``version`` (used by the offline fallback)."""
    refs = _read_refs(cache_dir, model)
    refs[ref] = str(version)
    _atomic_write(Path(cache_dir) / model / REFS_FILE, json.dumps(refs, indent=2, sort_keys=True).encode())


def load_from_cache(cache_dir: str | Path, model: str, ref: str | Version | None = None) -> PulledModel:
    """The best verified cached copy, for when the registry cannot be reached.

    ``ref`` an exact version: that version only. ``ref`` a pointer (default ``latest``): the version it resolved to at
    the last successful pull, else the newest verified cached version. Raises ModelNotFoundError / VersionNotFoundError.
    """
    model = validate_model_name(model)
    parsed = validate_ref(LATEST if ref is None else ref)
    if isinstance(parsed, Version):
        try:
            return verify_cached(cache_dir, model, parsed)
        except FileNotFoundError as exc:
            raise VersionNotFoundError(f"{model} {parsed} is not in the cache {cache_dir}") from exc
    candidates: list[Version] = []
    remembered = _read_refs(cache_dir, model).get(parsed)
    if remembered is not None and is_version_ref(remembered):
        candidates.append(parse_version(remembered))
    candidates.extend(sorted(cached_versions(cache_dir, model), reverse=True))
    for version in candidates:
        with contextlib.suppress(FileNotFoundError, ChecksumMismatchError):
            return verify_cached(cache_dir, model, version)
    raise ModelNotFoundError(f"no verified cached copy of model {model!r} in {cache_dir}")


def download_version(
    storage: Storage,
    model: str,
    version: Version,
    cache_dir: str | Path,
    *,
    ref: str | None = None,
    progress: bool = False,
) -> PulledModel:
    """Download a committed version into the cache (or reuse a verified cached copy) and return it verified."""
    try:
        checksum_text = storage.read_text(layout.version_file(model, version, layout.CHECKSUM_FILE))
        metadata_raw = storage.read_bytes(layout.version_file(model, version, layout.METADATA_FILE))
        report_raw = storage.read_bytes(layout.version_file(model, version, layout.REPORT_FILE))
    except FileNotFoundError as exc:
        raise VersionNotFoundError(f"{model} {version} is not (completely) published in {storage.url}") from exc
    expected = layout.parse_checksum(checksum_text)
    try:
        metadata = ModelMetadata.from_json(metadata_raw)
        report = ValidationReport.from_json(report_raw)
    except ValidationError as exc:
        detail = describe_validation_error(exc)
        raise ChecksumMismatchError(
            f"{model} {version}: stored metadata/report are invalid ({detail})", reason="document_invalid"
        ) from exc
    check_consistent(model, version, expected, metadata, report)
    budget = size_budget_bytes(metadata.profile)
    if metadata.file.size_bytes > budget:
        raise ChecksumMismatchError(
            f"{model} {version}: metadata.json records {metadata.file.size_bytes} bytes, over profile "
            f"{metadata.profile!r}'s {budget} byte budget; not downloaded",
            reason="size_exceeded",
        )

    base = Path(cache_dir) / model
    target = base / str(version)
    with contextlib.suppress(FileNotFoundError, ChecksumMismatchError):
        cached = verify_cached(cache_dir, model, version)
        if cached.sha256 == expected:
            if ref is not None:
                record_ref(cache_dir, model, ref, version)
            return cached

    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".tmp-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        staged_model = staging / layout.MODEL_FILE
        remote_model = layout.version_file(model, version, layout.MODEL_FILE)
        # Reading stops as soon as the bytes pass the recorded size (a link to /dev/zero is refused before that).
        actual, size = _stream_to(storage, remote_model, staged_model, progress, limit=metadata.file.size_bytes)
        if actual != expected or size != metadata.file.size_bytes:
            raise ChecksumMismatchError(
                f"{model} {version}: downloaded model.onnx has sha256 {actual[:12]}… ({size} bytes), registry records "
                f"{expected[:12]}… ({metadata.file.size_bytes} bytes); discarded, cache untouched"
            )
        (staging / layout.METADATA_FILE).write_bytes(metadata_raw)
        (staging / layout.REPORT_FILE).write_bytes(report_raw)
        (staging / layout.CHECKSUM_FILE).write_text(layout.checksum_line(expected), encoding="utf-8")
        target.mkdir(parents=True, exist_ok=True)
        # Sidecars first, model.onnx last: a copy is only "cached" once model.onnx matches its sidecars.
        for name in (layout.METADATA_FILE, layout.REPORT_FILE, layout.CHECKSUM_FILE, layout.MODEL_FILE):
            (staging / name).replace(target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if ref is not None:
        record_ref(cache_dir, model, ref, version)
    return PulledModel(model, version, target / layout.MODEL_FILE, metadata, report, expected, from_cache=False)


def size_budget_bytes(profile: str | None) -> int:
    """The largest model.onnx a version of ``profile`` may have: the profile's ``model_size_mb`` (the largest profile's
    for a profile this contract does not know)."""
    try:
        chosen = CONTRACT.profile(profile)
    except ContractError:
        return max(round(p.model_size_mb * 1e6) for p in CONTRACT.profiles.values())
    return round(chosen.model_size_mb * 1e6)


def _stream_to(storage: Storage, rel: str, local: Path, progress: bool, limit: int) -> tuple[str, int]:
    """Copy one object to ``local`` while hashing it, reading at most ``limit`` bytes; returns (sha256, size)."""
    digest = hashlib.sha256()
    total = 0
    expected_size: int | None = None
    if progress:
        with contextlib.suppress(RegistryError, FileNotFoundError):
            expected_size = storage.size(rel)
    bar = tqdm(total=expected_size, unit="B", unit_scale=True, desc=f"pull {rel}", disable=not progress, leave=False)
    try:
        with local.open("wb") as handle:
            for chunk in storage.iter_chunks(rel, limit=limit):
                digest.update(chunk)
                handle.write(chunk)
                total += len(chunk)
                bar.update(len(chunk))
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        bar.close()
    return digest.hexdigest(), total


__all__ = [
    "PulledModel",
    "cached_versions",
    "download_version",
    "load_from_cache",
    "record_ref",
    "size_budget_bytes",
    "verify_cached",
]
