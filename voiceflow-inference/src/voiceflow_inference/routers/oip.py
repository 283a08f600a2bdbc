"""Open Inference Protocol v2 (KServe / Triton REST), including the binary tensor extension, so tritonclient's HTTP
client works unchanged. Errors are ``{"error": "..."}`` with a 4xx status (tritonclient reads ``error``).

The handlers only; wire types and codec: :mod:`voiceflow_inference.protocol.oip`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from voiceflow_inference import __version__
from voiceflow_inference.config import Limits
from voiceflow_inference.dependencies import get_limits, get_metrics, get_model_manager, limits_of
from voiceflow_inference.errors import ServiceError, responses
from voiceflow_inference.lifecycle.loader import LoadedModel
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.protocol.oip.codec import (
    HEADER_LENGTH,
    decode_request,
    encode_response,
    input_tensor,
    requested_outputs,
)
from voiceflow_inference.protocol.oip.types import (
    InferenceRequest,
    InferenceResponse,
    LiveStatus,
    ModelMetadataResponse,
    ModelReadyResponse,
    ReadyStatus,
    ServerMetadata,
    TensorMetadata,
)
from voiceflow_inference.request_body.json_body import inline_schema
from voiceflow_inference.runtime.run_batch import infer_batch

router = APIRouter(prefix="/v2", tags=["open inference protocol v2"])

ENDPOINT = "oip"
_NAME_MAX = 128
NAME_PATH = Path(description="Model name", examples=["fast-cnn"], max_length=_NAME_MAX)
VERSION_PATH = Path(description="Model version", examples=["1.1.0"], max_length=64)


def check_model_name(manager: ModelManager, name: str) -> None:
    """404 unless ``name`` is the model this server serves."""
    if name != manager.name:
        raise ServiceError(404, "model_not_found", f"model {name!r} is not served here (serving {manager.name!r})")


def _model_for(manager: ModelManager, name: str, version: str | None, key: str | None = None) -> LoadedModel:
    """The model for a request: a specific version, or (for inference) the sticky A/B arm of ``key``."""
    check_model_name(manager, name)
    if version is not None:
        return manager.get(version)
    if key is None and manager.active is not None:
        return manager.active  # metadata/readiness: the default version, not an A/B draw
    return manager.acquire(key)


def _metadata(model: LoadedModel, manager: ModelManager) -> ModelMetadataResponse:
    described = model.engine.describe()
    return ModelMetadataResponse(
        name=model.name,
        versions=[m.version for m in manager.loaded()],
        platform="onnxruntime_onnx",
        inputs=[TensorMetadata.model_validate(t) for t in described["inputs"]],
        outputs=[TensorMetadata.model_validate(t) for t in described["outputs"]],
    )


@router.get("", response_model=ServerMetadata, summary="Server metadata")
async def server_metadata() -> ServerMetadata:
    """Server name, version and supported extensions."""
    return ServerMetadata(
        name="voiceflow-inference",
        version=__version__,
        extensions=["binary_tensor_data", "model_configuration", "statistics", "model_repository"],
    )


@router.get("/health/live", response_model=LiveStatus, summary="Server live")
async def server_live() -> LiveStatus:
    """200 while the process runs."""
    return LiveStatus(live=True)


@router.get(
    "/health/ready",
    response_model=ReadyStatus,
    summary="Server ready",
    responses={503: {"model": ReadyStatus, "description": "Not ready"}},
)
async def server_ready(manager: ModelManager = Depends(get_model_manager)) -> Any:
    """200 once a model is loaded (503 before, and while draining)."""
    return JSONResponse({"ready": manager.ready}, status_code=200 if manager.ready else 503)


@router.get(
    "/models/{name}", response_model=ModelMetadataResponse, summary="Model metadata", responses=responses(404, 503)
)
async def model_metadata(
    name: str = NAME_PATH, manager: ModelManager = Depends(get_model_manager)
) -> ModelMetadataResponse:
    """Inputs and outputs of the default (active) version."""
    return _metadata(_model_for(manager, name, None), manager)


@router.get(
    "/models/{name}/versions/{version}",
    response_model=ModelMetadataResponse,
    summary="Model version metadata",
    responses=responses(404),
)
async def model_version_metadata(
    name: str = NAME_PATH, version: str = VERSION_PATH, manager: ModelManager = Depends(get_model_manager)
) -> ModelMetadataResponse:
    """Inputs and outputs of one loaded version."""
    return _metadata(_model_for(manager, name, version), manager)


def _ready(manager: ModelManager, name: str, version: str | None) -> JSONResponse:
    model = _model_for(manager, name, version)
    return JSONResponse({"name": model.name, "ready": manager.ready}, status_code=200 if manager.ready else 503)


@router.get(
    "/models/{name}/ready", response_model=ModelReadyResponse, summary="Model ready", responses=responses(404, 503)
)
async def model_ready(name: str = NAME_PATH, manager: ModelManager = Depends(get_model_manager)) -> Any:
    """200 when the model is loaded and ready."""
    return _ready(manager, name, None)


@router.get(
    "/models/{name}/versions/{version}/ready",
    response_model=ModelReadyResponse,
    summary="Model version ready",
    responses=responses(404, 503),
)
async def model_version_ready(
    name: str = NAME_PATH, version: str = VERSION_PATH, manager: ModelManager = Depends(get_model_manager)
) -> Any:
    """200 when that version is loaded and ready."""
    return _ready(manager, name, version)


_INFER_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "JSON, or (binary tensor extension) a JSON header of `Inference-Header-Content-Length` bytes "
        "followed by the raw little-endian tensor bytes.",
        "content": {
            "application/json": {"schema": inline_schema(InferenceRequest)},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/models/{name}/infer",
    response_model=InferenceResponse,
    summary="Infer (default version)",
    responses=responses(400, 404, 413, 422, 503),
    openapi_extra=_INFER_DOC,
)
async def infer(
    request: Request,
    name: str = NAME_PATH,
    manager: ModelManager = Depends(get_model_manager),
    limits: Limits = Depends(get_limits),
    metrics: ServiceMetrics = Depends(get_metrics),
) -> Response:
    """Run the model; the request `id` (or `X-Request-ID`) picks a sticky A/B arm."""
    return await _infer(request, _Target(manager, name, None), limits, metrics)


@router.post(
    "/models/{name}/versions/{version}/infer",
    response_model=InferenceResponse,
    summary="Infer (specific version)",
    responses=responses(400, 404, 413, 422, 503),
    openapi_extra=_INFER_DOC,
)
async def infer_version(
    request: Request,
    name: str = NAME_PATH,
    version: str = VERSION_PATH,
    manager: ModelManager = Depends(get_model_manager),
    limits: Limits = Depends(get_limits),
    metrics: ServiceMetrics = Depends(get_metrics),
) -> Response:
    """Run one loaded version."""
    return await _infer(request, _Target(manager, name, version), limits, metrics)


@dataclass(frozen=True)
class _Target:
    """Which model an inference request names: the manager, the model name and an optional version."""

    manager: ModelManager
    name: str
    version: str | None


async def _infer(request: Request, target: _Target, limits: Limits, metrics: ServiceMetrics) -> Response:
    req, binary = await decode_request(
        await request.body(), request.headers.get(HEADER_LENGTH.lower()), limits.max_batch
    )
    key = req.id or request.headers.get("x-request-id") or ""  # "" = no key: random A/B draw by weight
    model = _model_for(target.manager, target.name, target.version, key)
    try:
        # Name, datatype, shape and sizes here; the values (NaN/Inf, float32 range) in the engine, off the event loop.
        audio = input_tensor(req, binary, model.engine.input_name, limits.max_batch)
    except ServiceError:
        metrics.count_invalid_input(model.name, model.version, ENDPOINT)
        raise
    wanted = requested_outputs(req, model.engine.output_names)  # refused before paying for an inference
    outputs = await infer_batch(model, audio, endpoint=ENDPOINT, metrics=metrics)
    content, extra_headers = encode_response(req, model.name, model.version, outputs, wanted)
    headers = {"X-Model-Version": model.version, **extra_headers}
    media_type = "application/octet-stream" if extra_headers else "application/json"
    return Response(content, media_type=media_type, headers=headers)


async def _infer_lean(request: Request) -> Response:
    """``POST /v2/models/{name}/infer`` without FastAPI's dependency solving (see :class:`LeanInferRoute`)."""
    state = request.app.state
    name: str = request.path_params["name"]
    return await _infer(request, _Target(state.models, name, None), limits_of(request), state.metrics)


class LeanInferRoute(Route):
    """The hot path, ``POST /v2/models/{name}/infer``, as a plain Starlette route placed ahead of the FastAPI one.

    Same handler (``_infer``: A/B draw, pins, versions, codec, metrics), same exception handlers (the app's
    ExceptionMiddleware), same route template for the HTTP metrics; it only skips FastAPI's dependency solving and
    endpoint wrapping, a quarter of the event loop's time per request under load (docs/PERFORMANCE_ANALYSIS.md, "Peers
    side by side"). Anything else on that path (other methods, a name FastAPI would refuse) matches nothing here, so
    the FastAPI route answers it exactly as before; that route also keeps the OpenAPI entry.
    """

    def __init__(self) -> None:
        super().__init__(f"{router.prefix}/models/{{name}}/infer", _infer_lean, methods=["POST"], name="infer_lean")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.FULL or len(child["path_params"]["name"]) > _NAME_MAX:
            return Match.NONE, {}
        return match, child
