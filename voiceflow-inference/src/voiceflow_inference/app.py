"""The FastAPI application: ``create_app(settings) -> FastAPI``.

Lifespan: start the ModelManager (registry pull or cached fallback, watcher, poller); on shutdown mark the service
unready, stop accepting streaming sessions, give open ones up to ``shutdown_grace_s``, close the rest with a clear
message, then stop the watcher and poller. ``uvicorn voiceflow_inference.app:app`` works too (settings from the
environment), as does ``voiceflow-inference serve``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator

from voiceflow_inference import __version__
from voiceflow_inference.config import Settings, load_settings
from voiceflow_inference.errors import install_error_handlers
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.request_body.size_limit import BodySizeLimitMiddleware
from voiceflow_inference.routers import admin, demo_page, health, infer, metrics, oip, oip_extensions, websocket
from voiceflow_inference.streaming.session_tracker import SessionTracker
from voiceflow_inference.streaming.shutdown import install_signal_drain

logger = logging.getLogger(__name__)

DESCRIPTION = """
VoiceFlow speaker-diarization inference service.

* `POST /infer`: JSON audio windows (1 s at 48 kHz) -> speaker probabilities, with model name and version.
* Open Inference Protocol v2 under `/v2` (JSON and the binary tensor extension; works with tritonclient's HTTP client),
  with Triton's model configuration, statistics and model repository extensions (load/unload need the admin token).
* `WebSocket /ws/diarize`: live streaming diarization.
* `/health`, `/ready`, `/metrics`; `/admin/*` (bearer token) for reload, rollback, pin and A/B weights.

Every error is JSON `{"error": "...", "code": "..."}`. See docs/serving-api.md.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    manager: ModelManager = app.state.models
    tracker: SessionTracker = app.state.sessions

    def _mark_draining() -> None:
        manager.draining = True

    restore_signals = install_signal_drain(tracker, settings.shutdown_grace_s, on_drain_start=_mark_draining)
    await manager.start(background=app.state.background_tasks)
    status = manager.status()
    logger.info(
        "voiceflow-inference ready=%s model=%s version=%s source=%s degraded=%s",
        status["ready"],
        status["model"],
        status["version"],
        status["source"],
        status["reasons"],
    )
    try:
        yield
    finally:
        manager.draining = True
        await tracker.drain(settings.shutdown_grace_s)
        await manager.stop()
        restore_signals()
        logger.info("voiceflow-inference stopped")


def create_app(settings: Settings | None = None, *, registry: Any | None = None, background: bool = True) -> FastAPI:
    """Build the service. ``registry`` (a ModelRegistry) overrides the one built from ``settings.registry_url``;
    ``background=False`` skips the watcher and poller (tests that drive reloads themselves)."""
    settings = settings or load_settings()
    app = FastAPI(
        title="VoiceFlow inference",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
        # Off unless asked for: FastAPI 0.165 otherwise checks the OpenTelemetry providers on every request, about a
        # tenth of the event loop's time under load (docs/PERFORMANCE_ANALYSIS.md, "Peers side by side").
        telemetry=None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    service_metrics = ServiceMetrics()
    # Triton's batch_stats by request batch size hold only while every request runs as its own execution.
    service_metrics.statistics.per_batch_size = not settings.batching.enabled
    app.state.settings = settings
    app.state.metrics = service_metrics
    app.state.models = ModelManager(settings, service_metrics, registry=registry)
    app.state.sessions = SessionTracker(
        settings.limits.max_concurrent_sessions, settings.limits.max_sessions_per_client
    )
    app.state.background_tasks = background

    install_error_handlers(app)
    # oip_extensions before oip: `GET /v2/models/stats` must not be read as the metadata of a model named "stats".
    for module in (health, infer, oip_extensions, oip, admin, metrics, websocket):
        app.include_router(module.router)
    if settings.demo_page:
        app.include_router(demo_page.router)
    app.router.routes.insert(0, oip.LeanInferRoute())  # first: binary OIP infer skips FastAPI's dependency solving
    Instrumentator(registry=service_metrics.registry, excluded_handlers=["/metrics"]).instrument(app)
    # Added last = outermost: oversized bodies are refused before anything else reads them.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.limits.max_body_bytes)
    return app


def __getattr__(name: str) -> Any:
    # `uvicorn voiceflow_inference.app:app`: build lazily so that importing this module has no side effects.
    if name == "app":
        return create_app()
    raise AttributeError(name)


__all__ = ["create_app"]
