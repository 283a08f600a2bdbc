"""FastAPI dependencies shared by the routers: the limits in force, the metrics, the model manager, the session tracker
and the admin bearer-token check.

Each one reads ``app.state`` (filled by :func:`voiceflow_inference.app.create_app`) from an ``HTTPConnection``, so the
same dependency serves HTTP and WebSocket routes. The getters are ``async`` on purpose: FastAPI runs a plain ``def``
dependency in the thread pool, a thread hop on every request.
"""

from __future__ import annotations

import hmac
import logging

from starlette.requests import HTTPConnection, Request

from voiceflow_inference.config import Limits, Settings
from voiceflow_inference.errors import ServiceError
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.streaming.session_tracker import SessionTracker

logger = logging.getLogger(__name__)


def limits_of(connection: HTTPConnection) -> Limits:
    """The request and session limits in force (``Settings.limits``; the ``Limits`` defaults without settings)."""
    settings: Settings | None = getattr(connection.app.state, "settings", None)
    return settings.limits if settings is not None else Limits()


async def get_limits(connection: HTTPConnection) -> Limits:
    """Dependency form of :func:`limits_of`."""
    return limits_of(connection)


async def get_metrics(connection: HTTPConnection) -> ServiceMetrics:
    """The app's ServiceMetrics (``app.state.metrics``)."""
    metrics: ServiceMetrics = connection.app.state.metrics
    return metrics


async def get_model_manager(connection: HTTPConnection) -> ModelManager:
    """The app's ModelManager (``app.state.models``)."""
    manager: ModelManager = connection.app.state.models
    return manager


async def get_session_tracker(connection: HTTPConnection) -> SessionTracker:
    """The app's streaming SessionTracker (``app.state.sessions``), created on first use if the lifespan did not."""
    state = connection.app.state
    tracker: SessionTracker | None = getattr(state, "sessions", None)
    if tracker is None:
        tracker = SessionTracker(
            limits_of(connection).max_concurrent_sessions, limits_of(connection).max_sessions_per_client
        )
        state.sessions = tracker
    return tracker


def require_admin(request: Request) -> None:
    """Dependency: 404 when admin is disabled, 401 without a bearer token, 403 with a wrong one.

    The token is compared in constant time (hmac.compare_digest).
    """
    expected = request.app.state.settings.admin_token
    if expected is None:
        raise ServiceError(404, "admin_disabled", "the admin API is disabled (no admin token configured)")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceError(
            401,
            "unauthorized",
            "admin API needs 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(token.strip().encode("utf-8"), expected.get_secret_value().encode("utf-8")):
        logger.warning("admin request with a wrong token from %s", request.client.host if request.client else "?")
        raise ServiceError(403, "forbidden", "wrong admin token")


__all__ = [
    "get_limits",
    "get_metrics",
    "get_model_manager",
    "get_session_tracker",
    "limits_of",
    "require_admin",
]
