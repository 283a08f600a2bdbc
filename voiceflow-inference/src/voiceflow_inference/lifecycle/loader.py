"""Turn a model file into a serving-ready :class:`LoadedModel`: verify sha256, validate the contract (in a
memory-capped child process), build and warm the ONNX Runtime session, then run a short stream through the real
streaming pipeline.

Everything here is synchronous and blocking (hashing, validation, session creation); callers run it in a thread.
Only ONNX files are ever loaded (no pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from voiceflow_contract.hashing import sha256_file
from voiceflow_contract.schemas import ModelMetadata, ValidationReport
from voiceflow_contract.spec import WINDOW_SAMPLES
from voiceflow_inference.config import Settings
from voiceflow_inference.lifecycle import isolated_validation
from voiceflow_inference.lifecycle.errors import ModelRejectedError
from voiceflow_inference.lifecycle.isolated_validation import ValidationProcessError
from voiceflow_inference.lifecycle.reasons import Reason
from voiceflow_inference.lifecycle.stream_check import StreamCheckError, check_stream
from voiceflow_inference.runtime.onnx_model import InferenceEngine


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """One validated, warmed-up model version. Immutable; requests keep a reference for as long as they run.

    Attributes:
        name: registry model name, e.g. ``fast-cnn``.
        version: ``"1.2.0"`` (or ``"local-<sha12>"`` for a watch-dir file without a sidecar).
        sha256: hex digest of the model.onnx that was validated and loaded.
        engine: the ONNX Runtime session wrapper (``engine.run(audio[B, WINDOW_SAMPLES]) -> {output name: array}``).
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
    """The contract check, in a memory-capped child process: a model that crashes or exhausts it is refused here
    and never touches the serving process (called through the module so tests can patch it)."""
    num_speakers = metadata.contract.num_speakers if metadata is not None else None
    profile = metadata.profile if metadata is not None else None
    try:
        return isolated_validation.validate_in_child(
            path,
            profile=profile,
            num_speakers=num_speakers,
            threads=max(1, settings.ort.intra_op_threads),
            providers=list(settings.ort.providers),
            measure_latency=settings.measure_latency,
            memory_mb=settings.limits.validation_memory_mb,
            timeout_s=settings.limits.validation_timeout_s,
        )
    except ValidationProcessError as exc:
        raise ModelRejectedError(Reason.VALIDATION_ERROR, f"{path.name} refused: {exc}") from exc
    except Exception as exc:  # fail closed whatever went wrong
        raise ModelRejectedError(Reason.VALIDATION_ERROR, f"validator crashed on {path.name}: {exc!r}") from exc


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
        raise ModelRejectedError(Reason.MISSING, f"model file {path} does not exist")
    actual = sha256_file(path)
    if expected_sha256 is not None and actual != expected_sha256:
        raise ModelRejectedError(
            Reason.CHECKSUM_MISMATCH,
            f"sha256 of {path.name} is {actual}, expected {expected_sha256} (refusing it)",
        )
    if registry_report is not None and not registry_report.passed:
        failed = ", ".join(c.name for c in registry_report.failed_checks) or "unknown"
        raise ModelRejectedError(Reason.REGISTRY_REPORT_FAILED, f"the registry's validation report failed: {failed}")
    report = _validate(path, settings, metadata)
    if not report.passed:
        failed = "; ".join(f"{c.name}: {c.message}" for c in report.failed_checks) or "unknown"
        raise ModelRejectedError(Reason.CONTRACT, f"{name} {version} violates the contract: {failed}", report)
    try:
        engine = InferenceEngine(
            path,
            providers=settings.ort.providers,
            intra_op_threads=settings.ort.intra_op_threads,
            inter_op_threads=settings.ort.inter_op_threads,
            batching=settings.batching,
            arena_max_mb=settings.ort.arena_max_mb,
        )
        engine.warm_up(settings.warmup_runs)
        probe = engine.run(np.zeros((1, WINDOW_SAMPLES), dtype=np.float32))
    except ModelRejectedError:
        raise
    except Exception as exc:
        raise ModelRejectedError(Reason.LOAD, f"ONNX Runtime could not load or run {path.name}: {exc}") from exc
    num_speakers = int(probe[engine.probabilities_name].shape[-1])
    embedding_dim = int(probe[engine.embedding_name].shape[-1]) if engine.embedding_name else None
    loaded = LoadedModel(
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
    try:
        check_stream(loaded, max_batch=settings.limits.max_batch)
    except StreamCheckError as exc:
        raise ModelRejectedError(Reason.STREAM_CHECK, f"{name} {version} cannot stream: {exc}") from exc
    return loaded


__all__ = ["LoadedModel", "load_model"]
