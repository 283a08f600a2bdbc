"""Triton's extensions of the Open Inference Protocol that tritonclient, perf_analyzer and model_analyzer call:
model configuration, statistics and the model repository (index, load, unload).

Config, statistics and the index are open like the model metadata; load and unload are admin operations and need
the bearer token (:func:`voiceflow_inference.dependencies.require_admin`: 401 without, 403 wrong, 404 when admin is
off). Load is the manager's reload (activates the version: clears a pin or A/B split, like ``POST /admin/reload``).
Unload forgets one standby version; unloading the model itself, or a version traffic follows, is refused (409) since
this server serves exactly one model. Wire types and builders: :mod:`voiceflow_inference.protocol.oip`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from voiceflow_inference.dependencies import get_metrics, get_model_manager, require_admin
from voiceflow_inference.errors import ServiceError, responses
from voiceflow_inference.lifecycle.errors import ModelNotReadyError
from voiceflow_inference.lifecycle.loader import LoadedModel
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.protocol.oip.model_config import ModelConfig, build_model_config
from voiceflow_inference.protocol.oip.repository import (
    RepositoryIndexEntry,
    RepositoryIndexRequest,
    RepositoryLoadRequest,
    RepositoryUnloadRequest,
    load_version,
    unload_version,
)
from voiceflow_inference.protocol.oip.statistics import StatisticsResponse, model_stat
from voiceflow_inference.request_body.json_body import parse_json_body, request_body_doc
from voiceflow_inference.routers.oip import NAME_PATH, VERSION_PATH, check_model_name

router = APIRouter(prefix="/v2", tags=["open inference protocol v2: Triton extensions"])

_QUERY_VERSION = Query(None, description="The version to load or unload", max_length=64)


def _served(manager: ModelManager, name: str, version: str | None) -> LoadedModel:
    """A loaded version, or the active one."""
    check_model_name(manager, name)
    if version is not None:
        return manager.get(version)
    if manager.active is None:
        raise ModelNotReadyError("no model is loaded yet")
    return manager.active


async def _config(manager: ModelManager, name: str, version: str | None) -> ModelConfig:
    model = _served(manager, name, version)
    settings = manager.settings
    return build_model_config(
        name=model.name,
        described=model.engine.describe(),
        versions=[m.version for m in manager.loaded()],
        max_batch=settings.limits.max_batch,
        providers=model.engine.providers,
        batching=settings.batching,
        parameters={"version": model.version, "sha256": model.sha256},
    )


@router.get(
    "/models/{name}/config",
    response_model=ModelConfig,
    response_model_exclude_none=True,  # Triton leaves out what is not configured (dynamic_batching)
    summary="Model configuration",
    responses=responses(404, 503),
)
async def model_config(name: str = NAME_PATH, manager: ModelManager = Depends(get_model_manager)) -> ModelConfig:
    """Triton's configuration of the default (active) version: inputs, outputs, max batch, version policy."""
    return await _config(manager, name, None)


@router.get(
    "/models/{name}/versions/{version}/config",
    response_model=ModelConfig,
    response_model_exclude_none=True,
    summary="Model version configuration",
    responses=responses(404, 503),
)
async def model_version_config(
    name: str = NAME_PATH, version: str = VERSION_PATH, manager: ModelManager = Depends(get_model_manager)
) -> ModelConfig:
    """Triton's configuration of one loaded version."""
    return await _config(manager, name, version)


def _stats(manager: ModelManager, metrics: ServiceMetrics, versions: list[str]) -> StatisticsResponse:
    return StatisticsResponse(
        model_stats=[model_stat(manager.name, v, metrics.statistics.get(manager.name, v)) for v in versions]
    )


@router.get("/models/stats", response_model=StatisticsResponse, summary="Statistics of every model")
async def all_stats(
    manager: ModelManager = Depends(get_model_manager), metrics: ServiceMetrics = Depends(get_metrics)
) -> StatisticsResponse:
    """Counts and cumulative durations of every loaded version (REST and OIP inferences since it loaded)."""
    return _stats(manager, metrics, [m.version for m in manager.loaded()])


@router.get(
    "/models/{name}/stats", response_model=StatisticsResponse, summary="Model statistics", responses=responses(404)
)
async def model_stats(
    name: str = NAME_PATH,
    manager: ModelManager = Depends(get_model_manager),
    metrics: ServiceMetrics = Depends(get_metrics),
) -> StatisticsResponse:
    """Statistics of every loaded version of the model."""
    check_model_name(manager, name)
    return _stats(manager, metrics, [m.version for m in manager.loaded()])


@router.get(
    "/models/{name}/versions/{version}/stats",
    response_model=StatisticsResponse,
    summary="Model version statistics",
    responses=responses(404),
)
async def model_version_stats(
    name: str = NAME_PATH,
    version: str = VERSION_PATH,
    manager: ModelManager = Depends(get_model_manager),
    metrics: ServiceMetrics = Depends(get_metrics),
) -> StatisticsResponse:
    """Statistics of one loaded version."""
    return _stats(manager, metrics, [_served(manager, name, version).version])


@router.post(
    "/repository/index",
    response_model=list[RepositoryIndexEntry],
    summary="Repository index",
    responses=responses(400, 422),
    openapi_extra=request_body_doc(RepositoryIndexRequest, required=False),
)
async def repository_index(
    request: Request, manager: ModelManager = Depends(get_model_manager)
) -> list[RepositoryIndexEntry]:
    """The versions held here (`READY`) and the registry's other versions (`UNAVAILABLE`, with the reason)."""
    body = await parse_json_body(request, RepositoryIndexRequest, empty_ok=True)
    loaded = [m.version for m in manager.loaded()]
    entries = [RepositoryIndexEntry(name=manager.name, version=v, state="READY") for v in loaded]
    if body.ready:
        return entries
    published = await manager.registry_versions()
    if published is None:
        reason = "registry unreachable: its other versions are unknown"
        return [*entries, RepositoryIndexEntry(name=manager.name, version="", state="UNAVAILABLE", reason=reason)]
    not_loaded = [v for v in published if v not in loaded]
    reason = f"in the registry, not loaded (POST /v2/repository/models/{manager.name}/load with the version)"
    return [
        *entries,
        *(RepositoryIndexEntry(name=manager.name, version=v, state="UNAVAILABLE", reason=reason) for v in not_loaded),
    ]


@router.post(
    "/repository/models/{name}/load",
    summary="Load a version",
    dependencies=[Depends(require_admin)],
    responses=responses(400, 401, 403, 404, 409, 422),
    openapi_extra=request_body_doc(RepositoryLoadRequest, required=False),
)
async def repository_load(
    request: Request,
    name: str = NAME_PATH,
    version: str | None = _QUERY_VERSION,
    manager: ModelManager = Depends(get_model_manager),
) -> Response:
    """Pull, validate, warm and activate a version (default: the configured ref), as `POST /admin/reload`. 409 if
    refused; the current model keeps serving."""
    body = await parse_json_body(request, RepositoryLoadRequest, empty_ok=True)
    check_model_name(manager, name)
    await manager.reload("admin", version=load_version(body, manager.name, version))
    return Response(status_code=200)


@router.post(
    "/repository/models/{name}/unload",
    summary="Unload a standby version",
    dependencies=[Depends(require_admin)],
    responses=responses(400, 401, 403, 404, 409, 422),
    openapi_extra=request_body_doc(RepositoryUnloadRequest, required=False),
)
async def repository_unload(
    request: Request,
    name: str = NAME_PATH,
    version: str | None = _QUERY_VERSION,
    manager: ModelManager = Depends(get_model_manager),
) -> Response:
    """Forget one loaded version that no traffic follows. The model itself, and the active, pinned or A/B versions,
    are refused (409): this server would stop serving."""
    body = await parse_json_body(request, RepositoryUnloadRequest, empty_ok=True)
    check_model_name(manager, name)
    target = unload_version(body, version)
    if target is None:
        raise ServiceError(
            409,
            "unload_refused",
            f"{name} is the only model this server serves; unloading it would stop inference. Unload a standby "
            "version (parameters.version or ?version=), or roll back / pin through the admin API",
        )
    await manager.unload(target)
    return Response(status_code=200)
