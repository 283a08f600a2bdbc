"""Turn a model file into a serving-ready :class:`LoadedModel`: verify sha256, validate the contract, build and warm the
ONNX Runtime session. Also the two local stores the loader trusts: the verified-cache index and the watch-dir sidecar.

Everything here is synchronous and blocking (hashing, validation, session creation); the manager runs it in a thread.
Only ONNX files are ever loaded (no pickle).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voiceflow_contract.hashing import sha256_file
from voiceflow_contract.schemas import ModelMetadata, ValidationReport
from voiceflow_inference.config import Settings
from voiceflow_inference.inference import InferenceEngine

logger = logging.getLogger(__name__)

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class ModelRejectedError(Exception):
    """A model failed a load-time check; ``reason`` is a short metric-friendly label, the message explains."""

    def __init__(self, reason: str, message: str, report: ValidationReport | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.report = report


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """One validated, warmed-up model version. Immutable; requests keep a reference for as long as they run.

    Attributes:
        name: registry model name, e.g. ``fast-cnn``.
        version: ``"1.2.0"`` (or ``"local-<sha12>"`` for a watch-dir file without a sidecar).
        sha256: hex digest of the model.onnx that was validated and loaded.
        engine: the ONNX Runtime session wrapper (``engine.run(audio[B, 48000]) -> {output name: array}``).
        num_speakers: width of the probabilities output.
        embedding_dim: width of the optional ``embedding`` output, None when the model has none.
        metadata: the registry's metadata.json when known.
        report: the validation report produced at load.
        source: ``registry``, ``cache`` or ``watch``.
    """

    name: str
    version: str
    sha256: str
    engine: InferenceEngine
    num_speakers: int
    embedding_dim: int | None
    metadata: ModelMetadata | None
    report: ValidationReport
    source: str
    path: Path
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description (no engine)."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "num_speakers": self.num_speakers,
            "embedding_dim": self.embedding_dim,
            "source": self.source,
            "loaded_at": self.loaded_at.isoformat(),
            "providers": self.engine.providers,
        }


def _validate(path: Path, settings: Settings, metadata: ModelMetadata | None) -> ValidationReport:
    # Imported here so importing the app stays light; the validator pulls onnx + onnxruntime anyway.
    from voiceflow_contract.validator import validate_model_contract

    num_speakers = metadata.contract.num_speakers if metadata is not None else None
    profile = metadata.profile if metadata is not None else None
    try:
        return validate_model_contract(
            path,
            profile=profile,
            num_speakers=num_speakers,
            threads=max(1, settings.ort.intra_op_threads),
            providers=list(settings.ort.providers),
            measure_latency=settings.measure_latency,
        )
    except Exception as exc:  # the validator promises not to raise; be fail-closed if it does
        raise ModelRejectedError("validation_error", f"validator crashed on {path.name}: {exc!r}") from exc


def load_model(
    path: Path,
    settings: Settings,
    *,
    name: str,
    version: str,
    source: str,
    expected_sha256: str | None = None,
    metadata: ModelMetadata | None = None,
    registry_report: ValidationReport | None = None,
) -> LoadedModel:
    """Verify, validate, load and warm one model file. Raises ModelRejectedError naming the failed check."""
    if not path.is_file():
        raise ModelRejectedError("missing", f"model file {path} does not exist")
    actual = sha256_file(path)
    if expected_sha256 is not None and actual != expected_sha256:
        raise ModelRejectedError(
            "checksum_mismatch", f"sha256 of {path.name} is {actual}, expected {expected_sha256} (refusing it)"
        )
    if registry_report is not None and not registry_report.passed:
        failed = ", ".join(c.name for c in registry_report.failed_checks) or "unknown"
        raise ModelRejectedError("registry_report_failed", f"the registry's validation report failed: {failed}")
    report = _validate(path, settings, metadata)
    if not report.passed:
        failed = "; ".join(f"{c.name}: {c.message}" for c in report.failed_checks) or "unknown"
        raise ModelRejectedError("contract", f"{name} {version} violates the contract: {failed}", report)
    try:
        engine = InferenceEngine(
            path,
            providers=settings.ort.providers,
            intra_op_threads=settings.ort.intra_op_threads,
            inter_op_threads=settings.ort.inter_op_threads,
            batching=settings.batching,
        )
        engine.warm_up(settings.warmup_runs)
        probe = engine.run(_zeros())
    except ModelRejectedError:
        raise
    except Exception as exc:
        raise ModelRejectedError("load", f"ONNX Runtime could not load or run {path.name}: {exc}") from exc
    num_speakers = int(probe[engine.probabilities_name].shape[-1])
    embedding_dim = int(probe[engine.embedding_name].shape[-1]) if engine.embedding_name else None
    return LoadedModel(
        name=name,
        version=version,
        sha256=actual,
        engine=engine,
        num_speakers=num_speakers,
        embedding_dim=embedding_dim,
        metadata=metadata,
        report=report,
        source=source,
        path=path,
    )


def _zeros() -> Any:
    import numpy as np

    return np.zeros((1, 48000), dtype=np.float32)


# ------------------------------------------------------------------------------------------- verified cache index
class CacheEntry(BaseModel):
    """A model copy that passed every load-time check once."""

    model_config = ConfigDict(extra="forbid")

    model_name: str
    version: str
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    verified_at: datetime
    metadata: dict[str, Any] | None = None


class CacheIndex:
    """``<cache_dir>/.voiceflow-inference/<model>.json``: the verified copies, so a cold start without the registry
    can serve the newest one (after re-checking its sha256 and the contract)."""

    def __init__(self, cache_dir: Path, model_name: str) -> None:
        self.path = cache_dir / ".voiceflow-inference" / f"{model_name}.json"
        self.model_name = model_name

    def entries(self) -> list[CacheEntry]:
        """Recorded entries, newest version first; a corrupt index reads as empty (and is logged)."""
        if not self.path.is_file():
            return []
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            items = [CacheEntry.model_validate(e) for e in raw.get("entries", [])]
        except (OSError, ValueError, ValidationError) as exc:
            logger.warning("ignoring unreadable cache index %s: %s", self.path, exc)
            return []
        return sorted(items, key=lambda e: _version_key(e.version), reverse=True)

    def record(self, model: LoadedModel) -> None:
        """Add or replace the entry for ``model`` (atomic write; failures are logged, never raised)."""
        entry = CacheEntry(
            model_name=model.name,
            version=model.version,
            path=str(model.path.resolve()),
            sha256=model.sha256,
            verified_at=datetime.now(UTC),
            metadata=json.loads(model.metadata.model_dump_json()) if model.metadata else None,
        )
        entries = [e for e in self.entries() if e.version != model.version] + [entry]
        payload = {"entries": [json.loads(e.model_dump_json()) for e in entries]}
        try:
            atomic_write_text(self.path, json.dumps(payload, indent=2) + "\n")
        except OSError as exc:  # e.g. disk full: serving goes on, the fallback just knows less
            logger.warning("could not update cache index %s: %s", self.path, exc)


def _version_key(version: str) -> tuple[int, ...]:
    parts = version.removeprefix("v").split(".")
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        return (-1,)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same directory and os.replace (never a torn file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


# ------------------------------------------------------------------------------------------------ watch dir
class WatchSidecar(BaseModel):
    """``<watch_dir>/<watch_filename>.json``: which registry version the watched file is. Written before the model
    file is moved into place; when present, its sha256 must match the file or the file is refused."""

    model_config = ConfigDict(extra="forbid")

    model_name: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    metadata: dict[str, Any] | None = None


def sidecar_path(model_path: Path) -> Path:
    """The sidecar of a watched model file."""
    return model_path.with_name(model_path.name + ".json")


def read_sidecar(model_path: Path) -> WatchSidecar | None:
    """The sidecar, None when absent. Raises ModelRejectedError when it exists but is malformed."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        return WatchSidecar.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ModelRejectedError("sidecar", f"unreadable sidecar {path.name}: {exc}") from exc


def snapshot(model_path: Path, cache_dir: Path) -> tuple[Path, str]:
    """Copy the watched file into the cache (so later replacements cannot change what we validate and load).

    Returns the snapshot path and its sha256.
    """
    target_dir = cache_dir / ".voiceflow-inference" / "watch"
    target_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".snapshot.", suffix=".onnx")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        shutil.copyfile(model_path, tmp_path)
        digest = sha256_file(tmp_path)
        final = target_dir / f"{digest}.onnx"
        tmp_path.replace(final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    return final, digest


def install_into_watch_dir(source: Path, watch_dir: Path, filename: str, sidecar: WatchSidecar) -> Path:
    """Atomically put ``source`` in place as ``watch_dir/filename`` (what ``hot-reload`` does).

    Copy to a temp file in the same directory, write the sidecar, then os.replace the model: one rename, so the
    watcher never sees half a file."""
    watch_dir.mkdir(parents=True, exist_ok=True)
    target = watch_dir / filename
    fd, tmp = tempfile.mkstemp(dir=watch_dir, prefix=f".{filename}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        shutil.copyfile(source, tmp_path)
        with tmp_path.open("rb+") as handle:
            os.fsync(handle.fileno())
        if not _SHA_RE.fullmatch(sidecar.sha256) or sha256_file(tmp_path) != sidecar.sha256:
            raise ModelRejectedError("checksum_mismatch", f"copy of {source} does not match sha256 {sidecar.sha256}")
        atomic_write_text(sidecar_path(target), sidecar.model_dump_json(indent=2) + "\n")
        tmp_path.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    return target


__all__ = [
    "CacheEntry",
    "CacheIndex",
    "LoadedModel",
    "ModelRejectedError",
    "WatchSidecar",
    "atomic_write_text",
    "install_into_watch_dir",
    "load_model",
    "read_sidecar",
    "sidecar_path",
    "snapshot",
]
