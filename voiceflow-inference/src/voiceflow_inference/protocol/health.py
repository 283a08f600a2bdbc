"""Wire types of the liveness and readiness probes (`/health`, `/ready`) and of the admin API's model status."""

from __future__ import annotations

from pydantic import BaseModel, Field


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


__all__ = ["LiveResponse", "LoadedVersion", "ReadyResponse"]
