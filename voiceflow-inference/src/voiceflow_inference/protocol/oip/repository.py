"""Triton's model repository extension (pydantic wire types): ``POST /v2/repository/index`` and
``POST /v2/repository/models/{name}/load`` / ``unload``.

The repository is the model registry: the index lists the versions this process holds (``READY``) and the registry's
other versions (``UNAVAILABLE``, with the reason). Load and unload are the admin operations (bearer token).
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voiceflow_inference.errors import ServiceError
from voiceflow_inference.protocol.admin import ReloadRequest, VersionRequest


class RepositoryIndexRequest(BaseModel):
    """The index request body (tritonclient sends an empty body: everything)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"ready": True}]})

    ready: bool = Field(default=False, description="Only versions ready for inference")


class RepositoryIndexEntry(BaseModel):
    """One model version of the repository."""

    name: str
    version: str
    state: Literal["READY", "UNAVAILABLE"]
    reason: str = ""


class RepositoryLoadRequest(BaseModel):
    """Load (or reload) and activate a version: ``parameters.version``, or Triton's ``parameters.config`` (a JSON
    model configuration) whose ``version_policy`` names one version in ``specific.versions``. Neither: the configured
    ref (e.g. ``latest``). Triton's file overrides (``file:...`` parameters) are refused: models come from the
    registry."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {},
                {"parameters": {"version": "1.0.0"}},
                {"parameters": {"config": '{"version_policy": {"specific": {"versions": ["1.0.0"]}}}'}},
            ]
        },
    )

    parameters: dict[str, Any] = Field(default_factory=dict)


class RepositoryUnloadRequest(BaseModel):
    """Unload one standby version, ``parameters.version`` (or the ``version`` query parameter). ``unload_dependents``
    (what tritonclient sends) is accepted and has no effect: there are no ensembles."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"parameters": {"version": "1.0.0"}}, {"parameters": {"unload_dependents": False}}]
        },
    )

    parameters: dict[str, Any] = Field(default_factory=dict)


class LoadConfigOverride(BaseModel):
    """The part of Triton's ``config`` load parameter this server honours: the name and the version to load."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    version_policy: dict[str, Any] | None = None


def _invalid(message: str) -> ServiceError:
    return ServiceError(400, "invalid_parameters", message)


def _checked(model: type[ReloadRequest] | type[VersionRequest], version: Any, what: str) -> str | None:
    if version is not None and not isinstance(version, str):
        raise _invalid(f"{what}: a version string is required, got {version!r}")
    try:
        return model(version=version).version
    except ValidationError as exc:
        raise _invalid(f"{what}: {exc.errors()[0]['msg']}") from None


def _config_version(raw: Any, name: str) -> str | None:
    """The one version a Triton ``config`` load parameter asks for (None: the configured ref)."""
    if not isinstance(raw, str):
        raise _invalid("parameters.config: a JSON model configuration string is required")
    try:
        override = LoadConfigOverride.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise _invalid(f"parameters.config is not JSON: {exc}") from None
    except ValidationError as exc:
        keys = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise _invalid(
            f"parameters.config: only 'name' and 'version_policy' can be set here (got {keys}); the configuration "
            "is derived from the published model"
        ) from None
    if override.name is not None and override.name != name:
        raise _invalid(f"parameters.config.name {override.name!r} is not {name!r}")
    policy = override.version_policy or {}
    if not policy or set(policy) == {"latest"}:
        return None
    versions = policy.get("specific", {}).get("versions") if set(policy) == {"specific"} else None
    if not isinstance(versions, list) or len(versions) != 1:
        raise _invalid(
            "parameters.config.version_policy: use {'specific': {'versions': ['<one version>']}} or {'latest': {}}"
        )
    return _checked(ReloadRequest, str(versions[0]), "parameters.config.version_policy.specific.versions[0]")


def load_version(request: RepositoryLoadRequest, name: str, query_version: str | None) -> str | None:
    """The version a load request names (None: the configured ref); 400 for anything this server cannot honour."""
    params = dict(request.parameters)
    files = sorted(k for k in params if k.startswith("file:"))
    if files:
        raise _invalid(f"file overrides are not supported ({files}): models are loaded from the registry")
    unknown = sorted(set(params) - {"version", "config"})
    if unknown:
        raise _invalid(f"unsupported load parameters {unknown} (supported: version, config)")
    candidates = {
        "parameters.version": _checked(ReloadRequest, params.get("version"), "parameters.version"),
        "the version query parameter": _checked(ReloadRequest, query_version, "version"),
        "parameters.config": _config_version(params["config"], name) if "config" in params else None,
    }
    named = {where: v.removeprefix("v") for where, v in candidates.items() if v is not None}
    if len(set(named.values())) > 1:
        raise _invalid(f"conflicting versions: {named}")
    return next(iter(named.values()), None)


def unload_version(request: RepositoryUnloadRequest, query_version: str | None) -> str | None:
    """The version an unload request names (None: the whole model); 400 for unknown parameters."""
    params = dict(request.parameters)
    unknown = sorted(set(params) - {"version", "unload_dependents"})
    if unknown:
        raise _invalid(f"unsupported unload parameters {unknown} (supported: version, unload_dependents)")
    body_version = _checked(VersionRequest, params.get("version"), "parameters.version")
    query = _checked(VersionRequest, query_version, "version")
    if body_version is not None and query is not None and body_version.removeprefix("v") != query.removeprefix("v"):
        raise _invalid(f"conflicting versions: parameters.version={body_version!r}, version={query!r}")
    return body_version or query


__all__ = [
    "LoadConfigOverride",
    "RepositoryIndexEntry",
    "RepositoryIndexRequest",
    "RepositoryLoadRequest",
    "RepositoryUnloadRequest",
    "load_version",
    "unload_version",
]
