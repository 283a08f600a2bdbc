"""Wire types of the admin API (`/admin/*`): reload, rollback/pin and A/B-split request bodies, the A/B response."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_VERSION_RE = re.compile(r"^v?\d{1,9}\.\d{1,9}\.\d{1,9}$")
_REF_RE = re.compile(r"^(v?\d{1,9}\.\d{1,9}\.\d{1,9}|[a-z0-9][a-z0-9._-]{0,63})$")


class ReloadRequest(BaseModel):
    """Which version or alias to load and activate (default: the configured ref, e.g. `latest`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": "1.1.0"}, {}]})

    version: str | None = Field(default=None, description="'1.2.0', 'v1.2.0' or an alias such as 'latest'")

    @field_validator("version")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        if value is not None and not _REF_RE.fullmatch(value):
            raise ValueError("must be a version like '1.2.0' or an alias like 'latest'")
        return value


class VersionRequest(BaseModel):
    """A version (rollback: default is the previously active one; pin: null unpins)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": "1.0.0"}, {"version": None}]})

    version: str | None = Field(default=None, description="'1.2.0' or 'v1.2.0'")

    @field_validator("version")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        if value is not None and not _VERSION_RE.fullmatch(value):
            raise ValueError("must be a version like '1.2.0'")
        return value


class ABRequest(BaseModel):
    """Traffic weights per version (two or more; normalised); `{}` clears the split."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"weights": {"1.0.0": 0.9, "1.1.0": 0.1}}, {"weights": {}}]}
    )

    weights: dict[str, float] = Field(description="version -> weight")

    @field_validator("weights")
    @classmethod
    def _check(cls, value: dict[str, float]) -> dict[str, float]:
        for version, weight in value.items():
            if not _VERSION_RE.fullmatch(version):
                raise ValueError(f"{version!r} is not a version like '1.2.0'")
            if not weight >= 0 or weight == float("inf"):
                raise ValueError(f"weight of {version} must be a finite number >= 0")
        if len(value) == 1:
            raise ValueError("an A/B split needs two or more versions (or {} to clear)")
        if value and sum(value.values()) <= 0:
            raise ValueError("weights must not all be zero")
        return value


class ABResponse(BaseModel):
    """The A/B split in force (normalised weights)."""

    weights: dict[str, float]


__all__ = ["ABRequest", "ABResponse", "ReloadRequest", "VersionRequest"]
