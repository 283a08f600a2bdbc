"""FastAPI dependencies shared by the HTTP and WebSocket routes."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from voiceflow_inference.lifecycle.manager import ModelManager


async def get_model_manager(connection: HTTPConnection) -> ModelManager:
    """FastAPI dependency (HTTP and WebSocket routes): the app's ModelManager (``app.state.models``).

    ``async`` on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, a thread hop on every request.
    """
    manager: ModelManager = connection.app.state.models
    return manager


__all__ = ["get_model_manager"]
