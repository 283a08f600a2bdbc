"""Run one batch on a model in the thread pool and record the per-version metrics (shared by REST, OIP, WebSocket)."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Protocol

import numpy as np
from starlette.concurrency import run_in_threadpool

from voiceflow_inference.inference_statistics import StageTimes
from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.runtime.audio_input import InputError, check_audio
from voiceflow_inference.runtime.onnx_model import InferenceEngine


class InferenceFailure(StrEnum):
    """``reason`` label of ``voiceflow_inference_failures_total`` (the values are the dashboards' labels)."""

    INVALID_INPUT = "invalid_input"
    RUNTIME = "runtime"


class ServedModel(Protocol):
    """What one batch run needs of a loaded model (``lifecycle.loader.LoadedModel`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def engine(self) -> InferenceEngine: ...


class _RefusedError(Exception):
    """An engine error and when the worker thread saw it (for the ``fail`` duration)."""

    def __init__(self, error: Exception, at_ns: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.at_ns = at_ns


def _run_staged(engine: InferenceEngine, audio: np.ndarray) -> tuple[dict[str, np.ndarray], int, tuple[int, ...]]:
    """In the worker thread: check, then run; returns the outputs, the executions and when the thread started,
    checked and ran."""
    started = time.perf_counter_ns()
    try:
        data = check_audio(audio)
        checked = time.perf_counter_ns()
        outputs, executions = engine.execute(data)
    except Exception as exc:
        raise _RefusedError(exc, time.perf_counter_ns()) from exc
    return outputs, executions, (started, checked, time.perf_counter_ns())


async def infer_batch(
    model: ServedModel, audio: np.ndarray, *, endpoint: str, metrics: ServiceMetrics
) -> dict[str, np.ndarray]:
    """Run ``audio`` float32 [B, WINDOW_SAMPLES] on ``model`` (off the event loop) and count it by model, version and
    endpoint, in the Prometheus series and in the Triton statistics (:mod:`voiceflow_inference.inference_statistics`).

    Raises InputError for bad audio (counted as ``reason="invalid_input"``); other errors are counted as
    ``reason="runtime"`` and re-raised.
    """
    labels = {"model": model.name, "version": model.version, "endpoint": endpoint}
    submitted = time.perf_counter_ns()
    try:
        outputs, executions, (started, checked, ran) = await run_in_threadpool(_run_staged, model.engine, audio)
    except _RefusedError as refused:
        metrics.statistics.record_failure(model.name, model.version, refused.at_ns - submitted)
        if isinstance(refused.error, InputError):
            metrics.count_invalid_input(model.name, model.version, endpoint)
        else:
            metrics.inference_failures.labels(**labels, reason=InferenceFailure.RUNTIME).inc()
        raise refused.error from None
    except Exception:
        metrics.inference_failures.labels(**labels, reason=InferenceFailure.RUNTIME).inc()
        raise
    done = time.perf_counter_ns()
    elapsed = (done - submitted) / 1e9
    metrics.inference_latency.labels(**labels).observe(elapsed)
    windows = int(audio.shape[0]) if audio.ndim == 2 else 1
    metrics.window_latency.labels(**labels).observe(elapsed / max(1, windows))
    metrics.inference_requests.labels(**labels).inc()
    times = StageTimes(started - submitted, checked - started, ran - checked, done - ran)
    metrics.statistics.record_success(model.name, model.version, windows, times, executions=executions)
    return outputs


__all__ = ["InferenceFailure", "ServedModel", "infer_batch"]
