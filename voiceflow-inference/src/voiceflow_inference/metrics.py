"""Prometheus metrics of the service; the names are a contract with the dashboards and alerts (see the team brief).

Each app gets its own CollectorRegistry (several apps in one test process must not collide); /metrics serves it,
including the prometheus-fastapi-instrumentator HTTP metrics registered into the same registry, and the standard
``process_*`` (RSS, CPU, open file descriptors) and ``python_*`` (GC, platform) series of prometheus_client's default
collectors, registered on it too.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from voiceflow_inference.inference_statistics import InferenceStatistics

# Latency buckets for one 1 s window or a small batch: sub-millisecond up to a few seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    """All VoiceFlow serving metrics, registered in one registry.

    Labels: ``endpoint`` is ``rest``, ``oip`` or ``websocket``; ``trigger`` is ``watch``, ``poll``, ``admin`` or
    ``startup``; ``result`` is ``success`` or ``failure``; ``role`` is ``active``, ``ab`` or ``standby``.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        if registry is None:  # a caller's registry may carry its own default collectors already
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self.inference_latency = Histogram(
            "voiceflow_inference_latency_seconds",
            "Model inference latency per request (all windows of the request)",
            ["model", "version", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # What the contract's latency budget is about (per 1 s window): a batch of B windows observes its time / B.
        self.window_latency = Histogram(
            "voiceflow_inference_window_latency_seconds",
            "Model inference latency per 1 s window (request latency / windows in the request)",
            ["model", "version", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference_requests = Counter(
            "voiceflow_inference_requests_total",
            "Inference requests served",
            ["model", "version", "endpoint"],
            registry=r,
        )
        self.inference_failures = Counter(
            "voiceflow_inference_failures_total",
            "Inference requests that failed, by reason",
            ["model", "version", "endpoint", "reason"],
            registry=r,
        )
        self.ws_sessions_active = Gauge(
            "voiceflow_websocket_sessions_active", "Open WebSocket sessions", ["model", "version"], registry=r
        )
        self.ws_sessions = Counter(
            "voiceflow_websocket_sessions_total", "WebSocket sessions started", ["model", "version"], registry=r
        )
        self.ws_frames = Counter(
            "voiceflow_websocket_frames_total", "WebSocket audio frames received", ["model", "version"], registry=r
        )
        self.ws_errors = Counter("voiceflow_websocket_errors_total", "WebSocket errors by code", ["code"], registry=r)
        self.model_reloads = Counter(
            "voiceflow_model_reloads_total",
            "Model loads and reloads by result and trigger",
            ["model", "result", "trigger"],
            registry=r,
        )
        self.model_info = Gauge(
            "voiceflow_model_info",
            "Loaded model versions (value 1), by role",
            ["model", "version", "sha256", "role"],
            registry=r,
        )
        self.ab_assignments = Counter(
            "voiceflow_ab_assignments_total", "A/B assignments by version", ["model", "version"], registry=r
        )
        # A registry outage is not a refused model (voiceflow_model_reloads_total): the server keeps serving.
        self.registry_poll_failures = Counter(
            "voiceflow_registry_poll_failures_total",
            "Registry polls that could not resolve the configured ref, by error",
            ["model", "reason"],
            registry=r,
        )
        # Triton's statistics extension (counts and cumulative ns per version), beside the Prometheus series.
        self.statistics = InferenceStatistics()

    def count_invalid_input(self, model: str, version: str, endpoint: str) -> None:
        """Count one request (or WebSocket model run) refused for its audio: the one place ``reason="invalid_input"``
        of ``voiceflow_inference_failures_total`` is incremented."""
        self.inference_failures.labels(model=model, version=version, endpoint=endpoint, reason="invalid_input").inc()

    def set_model_info(self, rows: list[tuple[str, str, str, str]]) -> None:
        """Replace the model info series with ``(model, version, sha256, role)`` rows (value 1 each)."""
        self.model_info.clear()
        for model, version, sha256, role in rows:
            self.model_info.labels(model=model, version=version, sha256=sha256, role=role).set(1)


__all__ = ["LATENCY_BUCKETS", "ServiceMetrics"]
