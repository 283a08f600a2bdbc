"""Admin API (`/admin/*`): inspect, reload, roll back, pin and A/B-split models. Bearer token required.

No token configured: every admin route answers 404 (disabled). Missing token: 401. Wrong token: 403
(:func:`voiceflow_inference.dependencies.require_admin`). The handlers only; request and response types:
:mod:`voiceflow_inference.protocol.admin`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from voiceflow_inference.dependencies import get_model_manager, require_admin
from voiceflow_inference.errors import responses
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.protocol.admin import ABRequest, ABResponse, ReloadRequest, VersionRequest
from voiceflow_inference.protocol.health import ReadyResponse
from voiceflow_inference.request_body.json_body import parse_json_body, request_body_doc

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)], responses=responses(401, 403, 404)
)


def _status(manager: ModelManager) -> dict[str, Any]:
    status = manager.status()
    status["draining"] = manager.draining
    return status


@router.get("/models", response_model=ReadyResponse, summary="Loaded models")
async def list_models(manager: ModelManager = Depends(get_model_manager)) -> dict[str, Any]:
    """Every loaded version with its role (active, ab, standby), the pin, the A/B split and the activation history."""
    return _status(manager)


@router.post(
    "/reload",
    response_model=ReadyResponse,
    summary="Reload from the registry",
    responses=responses(409, 422),
    openapi_extra=request_body_doc(ReloadRequest, required=False),
)
async def reload(request: Request, manager: ModelManager = Depends(get_model_manager)) -> dict[str, Any]:
    """Pull, validate, warm and activate a version (same code path as the watcher and poller). 409 if refused; the
    current model keeps serving."""
    body = await parse_json_body(request, ReloadRequest, empty_ok=True)
    await manager.reload("admin", version=body.version)
    return _status(manager)


@router.post(
    "/rollback",
    response_model=ReadyResponse,
    summary="Roll back",
    responses=responses(409, 422),
    openapi_extra=request_body_doc(VersionRequest, required=False),
)
async def rollback(request: Request, manager: ModelManager = Depends(get_model_manager)) -> dict[str, Any]:
    """Activate the previously active version (instant: it is still loaded), or `version`. Clears any A/B split."""
    body = await parse_json_body(request, VersionRequest, empty_ok=True)
    await manager.rollback(body.version)
    return _status(manager)


@router.post(
    "/pin",
    response_model=ReadyResponse,
    summary="Pin or unpin a version",
    responses=responses(409, 422),
    openapi_extra=request_body_doc(VersionRequest),
)
async def pin(request: Request, manager: ModelManager = Depends(get_model_manager)) -> dict[str, Any]:
    """Serve exactly `version` until unpinned (`{"version": null}`): watch and poll reloads are loaded but not
    activated. Clears any A/B split."""
    body = await parse_json_body(request, VersionRequest)
    await manager.pin(body.version)
    return _status(manager)


@router.get("/ab", response_model=ABResponse, summary="Current A/B split")
async def get_ab(manager: ModelManager = Depends(get_model_manager)) -> ABResponse:
    """The weights in force (empty: no split)."""
    return ABResponse(weights=manager.ab_weights)


@router.post(
    "/ab",
    response_model=ABResponse,
    summary="Set the A/B split",
    responses=responses(409, 422),
    openapi_extra=request_body_doc(ABRequest),
)
async def set_ab(request: Request, manager: ModelManager = Depends(get_model_manager)) -> ABResponse:
    """Split traffic by weight; missing versions are pulled, validated and warmed first. Requests are assigned by
    a hash of `X-Request-ID` (WebSocket: the session id), so the same id always gets the same version."""
    body = await parse_json_body(request, ABRequest)
    return ABResponse(weights=await manager.set_ab(body.weights))
