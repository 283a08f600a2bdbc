"""Liveness (`/health`) and readiness (`/ready`) probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from voiceflow_inference.dependencies import get_model_manager
from voiceflow_inference.model_manager import ModelManager

router = APIRouter(tags=["health"])


class LiveResponse(BaseModel):
    """The process is up and answering."""

    status: str = Field(examples=["ok"])


class LoadedVersion(BaseModel):
    """One loaded model version."""

    name: str
    version: str
    sha256: str
    num_speakers: int
    embedding_dim: int | None
    source: str = Field(description="registry, cache or watch")
    loaded_at: str
    providers: list[str]
    role: str = Field(description="active, ab or standby")


class ReadyResponse(BaseModel):
    """Readiness: which model serves, where it came from, and why the service is degraded (if it is)."""

    ready: bool
    model: str = Field(examples=["fast-cnn"])
    version: str | None = Field(examples=["1.1.0"])
    sha256: str | None
    source: str | None = Field(description="registry, cache (registry was unreachable at start) or watch")
    degraded: bool
    reasons: list[str] = Field(description="Why the service is degraded or not ready")
    pinned: str | None
    ab_weights: dict[str, float]
    last_error: str | None = Field(description="The last refused reload, if any")
    loaded: list[LoadedVersion]
    history: list[str] = Field(description="Versions activated, oldest first")
    draining: bool = False


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
