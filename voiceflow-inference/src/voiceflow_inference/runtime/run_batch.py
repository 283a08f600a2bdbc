"""Run one batch on a model in the thread pool and record the per-version metrics (shared by REST, OIP, WebSocket)."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Protocol

import numpy as np
from starlette.concurrency import run_in_threadpool

from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.runtime.audio_input import InputError
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


async def infer_batch(
    model: ServedModel, audio: np.ndarray, *, endpoint: str, metrics: ServiceMetrics
) -> dict[str, np.ndarray]:
    """Run ``audio`` float32 [B, WINDOW_SAMPLES] on ``model`` (off the event loop) and count it by model, version and
    endpoint.

    Raises InputError for bad audio (counted as ``reason="invalid_input"``); other errors are counted as
    ``reason="runtime"`` and re-raised.
    """
    labels = {"model": model.name, "version": model.version, "endpoint": endpoint}
    started = time.perf_counter()
    try:
        outputs = await run_in_threadpool(model.engine.run, audio)
    except InputError:
        metrics.count_invalid_input(model.name, model.version, endpoint)
        raise
    except Exception:
        metrics.inference_failures.labels(**labels, reason=InferenceFailure.RUNTIME).inc()
        raise
    elapsed = time.perf_counter() - started
    metrics.inference_latency.labels(**labels).observe(elapsed)
    windows = int(audio.shape[0]) if audio.ndim == 2 else 1
    metrics.window_latency.labels(**labels).observe(elapsed / max(1, windows))
    metrics.inference_requests.labels(**labels).inc()
    return outputs


__all__ = ["InferenceFailure", "ServedModel", "infer_batch"]
