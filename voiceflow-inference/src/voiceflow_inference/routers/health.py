"""Liveness (`/health`) and readiness (`/ready`) probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from voiceflow_inference.dependencies import get_model_manager
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.protocol.health import LiveResponse, ReadyResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=LiveResponse, summary="Liveness probe")
@router.post("/health", response_model=LiveResponse, summary="Liveness probe (POST, as in the seed's smoke test)")
async def health() -> LiveResponse:
    """Always 200 while the process runs (even before a model is loaded)."""
    return LiveResponse(status="ok")


@router.get(
    "/ready",
    response_model=ReadyResponse,
    summary="Readiness probe",
    responses={503: {"model": ReadyResponse, "description": "No model loaded yet, or draining"}},
)
async def ready(manager: ModelManager = Depends(get_model_manager)) -> Any:
    """200 once a validated model is loaded; 503 before that and while shutting down. Reports the model, version,
    source (`registry`, `cache` or `watch`) and degraded reasons (e.g. registry unreachable at start)."""
    status = manager.status()
    status["draining"] = manager.draining
    if manager.draining:
        status["reasons"] = [*status["reasons"], "server is shutting down"]
    body = ReadyResponse.model_validate(status)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if manager.ready else 503)
