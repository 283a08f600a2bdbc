"""manifest.json: the registry's catalogue of every model, version and pointer move."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from voiceflow_contract.schemas.base import StrictModel


class ManifestVersion(StrictModel):
    """One published version, as listed in the catalogue."""

    version: str
    published_at: datetime
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(ge=0)
    profile: str = "cpu-realtime"
    architecture: str | None = None
    p99_ms: float | None = None
    der: float | None = None


class PointerMove(StrictModel):
    """One move of a pointer (latest or a named alias): the append-only audit trail."""

    pointer: str
    from_version: str | None
    to_version: str
    at: datetime
    action: str = Field(description="publish, promote or rollback")
    actor: str | None = None


class ManifestModel(StrictModel):
    """A model's entry: versions, current pointers and their history."""

    versions: list[ManifestVersion] = Field(default_factory=list)
    pointers: dict[str, str] = Field(default_factory=dict, description="pointer name -> version, e.g. latest -> 1.1.0")
    history: list[PointerMove] = Field(default_factory=list)


class Manifest(StrictModel):
    """<root>/manifest.json."""

    schema_version: str = "1.0"
    updated_at: datetime
    models: dict[str, ManifestModel] = Field(default_factory=dict)
