"""The Prometheus series one `/ws/diarize` session feeds: sessions, frames, errors, and each model run's latency or
failure (``endpoint="websocket"``)."""

from __future__ import annotations

from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.runtime.audio_input import InputError
from voiceflow_inference.streaming.messages import ErrorCode

ENDPOINT = "websocket"


class StreamMetrics:
    """Counts for one session; the model labels are known once the session has pinned its model."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics
        self.model: str | None = None
        self.version: str | None = None

    def session_started(self, model: str, version: str) -> None:
        """The session pinned ``model`` ``version``: count it, and count it open."""
        self.model, self.version = model, version
        self.metrics.ws_sessions.labels(model=model, version=version).inc()
        self.metrics.ws_sessions_active.labels(model=model, version=version).inc()

    def session_ended(self) -> None:
        """The session ended (no-op when it never started)."""
        if self.model is None or self.version is None:
            return
        self.metrics.ws_sessions_active.labels(model=self.model, version=self.version).dec()

    def frame(self) -> None:
        """One binary audio frame received."""
        if self.model is None or self.version is None:
            return
        self.metrics.ws_frames.labels(model=self.model, version=self.version).inc()

    def error(self, code: ErrorCode) -> None:
        """One error sent to the client."""
        self.metrics.ws_errors.labels(code=code.value).inc()

    def observe_batch(self, seconds: float, batch: int, error: BaseException | None) -> None:
        """A model run of the session (``DiarizationSession``'s observer): latency and request, or the failure."""
        if self.model is None or self.version is None:
            return
        labels = {"model": self.model, "version": self.version, "endpoint": ENDPOINT}
        if isinstance(error, InputError):
            self.metrics.count_invalid_input(self.model, self.version, ENDPOINT)
            return
        if error is not None:
            self.metrics.inference_failures.labels(**labels, reason="runtime").inc()
            return
        self.metrics.inference_latency.labels(**labels).observe(seconds)
        self.metrics.inference_requests.labels(**labels).inc()


__all__ = ["ENDPOINT", "StreamMetrics"]
