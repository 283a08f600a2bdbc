"""Open Inference Protocol v2 (KServe / Triton REST), including the binary tensor extension, so tritonclient's HTTP
client works unchanged. Errors are ``{"error": "..."}`` with a 4xx status (tritonclient reads ``error``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voiceflow_contract.spec import WINDOW_SAMPLES
from voiceflow_inference import __version__
from voiceflow_inference.bodies import OFFLOAD_BYTES, check_json_budget, float_values, inline_schema
from voiceflow_inference.dependencies import get_model_manager
from voiceflow_inference.errors import ServiceError, responses
from voiceflow_inference.lifecycle.loader import LoadedModel
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.runtime.run_batch import infer_batch

router = APIRouter(prefix="/v2", tags=["open inference protocol v2"])

HEADER_LENGTH = "Inference-Header-Content-Length"
_NAME = Path(description="Model name", examples=["fast-cnn"], max_length=128)
_VERSION = Path(description="Model version", examples=["1.1.0"], max_length=64)


class ServerMetadata(BaseModel):
    """`GET /v2`."""

    name: str
    version: str
    extensions: list[str]


class LiveStatus(BaseModel):
    """`GET /v2/health/live`."""

    live: bool


class ReadyStatus(BaseModel):
    """`GET /v2/health/ready`."""

    ready: bool


class TensorMetadata(BaseModel):
    """Name, datatype and shape (-1 = variable) of a model input or output."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadataResponse(BaseModel):
    """`GET /v2/models/{name}[/versions/{version}]`."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ModelReadyResponse(BaseModel):
    """`GET /v2/models/{name}[/versions/{version}]/ready`."""

    name: str
    ready: bool


class RequestInput(BaseModel):
    """One input tensor: JSON ``data`` (flat or nested, row-major) or ``parameters.binary_data_size`` bytes."""

    model_config = ConfigDict(extra="allow")

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class RequestOutput(BaseModel):
    """A requested output; ``parameters.binary_data`` asks for raw little-endian bytes."""

    model_config = ConfigDict(extra="allow")

    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    """OIP inference request (the JSON part when the binary extension is used)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "42",
                    "inputs": [{"name": "audio", "shape": [1, 48000], "datatype": "FP32", "data": [0.0, "... 48000"]}],
                    "outputs": [{"name": "speaker_embeddings"}],
                }
            ]
        },
    )

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    """One output tensor (``data`` in JSON, or ``parameters.binary_data_size`` bytes after the JSON header)."""

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[float] | None = None


class InferenceResponse(BaseModel):
    """OIP inference response."""

    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


def _model_for(manager: ModelManager, name: str, version: str | None, key: str | None = None) -> LoadedModel:
    """The model for a request: a specific version, or (for inference) the sticky A/B arm of ``key``."""
    if name != manager.name:
        raise ServiceError(404, "model_not_found", f"model {name!r} is not served here (serving {manager.name!r})")
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
    return ServerMetadata(name="voiceflow-inference", version=__version__, extensions=["binary_tensor_data"])


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
    name: str = _NAME, manager: ModelManager = Depends(get_model_manager)
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
    name: str = _NAME, version: str = _VERSION, manager: ModelManager = Depends(get_model_manager)
) -> ModelMetadataResponse:
    """Inputs and outputs of one loaded version."""
    return _metadata(_model_for(manager, name, version), manager)


def _ready(manager: ModelManager, name: str, version: str | None) -> JSONResponse:
    model = _model_for(manager, name, version)
    return JSONResponse({"name": model.name, "ready": manager.ready}, status_code=200 if manager.ready else 503)


@router.get(
    "/models/{name}/ready", response_model=ModelReadyResponse, summary="Model ready", responses=responses(404, 503)
)
async def model_ready(name: str = _NAME, manager: ModelManager = Depends(get_model_manager)) -> Any:
    """200 when the model is loaded and ready."""
    return _ready(manager, name, None)


@router.get(
    "/models/{name}/versions/{version}/ready",
    response_model=ModelReadyResponse,
    summary="Model version ready",
    responses=responses(404, 503),
)
async def model_version_ready(
    name: str = _NAME, version: str = _VERSION, manager: ModelManager = Depends(get_model_manager)
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
async def infer(request: Request, name: str = _NAME, manager: ModelManager = Depends(get_model_manager)) -> Response:
    """Run the model; the request `id` (or `X-Request-ID`) picks a sticky A/B arm."""
    return await _infer(request, manager, name, None)


@router.post(
    "/models/{name}/versions/{version}/infer",
    response_model=InferenceResponse,
    summary="Infer (specific version)",
    responses=responses(400, 404, 413, 422, 503),
    openapi_extra=_INFER_DOC,
)
async def infer_version(
    request: Request, name: str = _NAME, version: str = _VERSION, manager: ModelManager = Depends(get_model_manager)
) -> Response:
    """Run one loaded version."""
    return await _infer(request, manager, name, version)


def _split_body(raw: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return raw, b""
    try:
        length = int(header_length)
    except ValueError:
        raise ServiceError(400, "invalid_header", f"{HEADER_LENGTH} is not an integer") from None
    if not 0 < length <= len(raw):
        raise ServiceError(400, "invalid_header", f"{HEADER_LENGTH}={length} is outside the body ({len(raw)} bytes)")
    return raw[:length], raw[length:]


def _parse_request(json_part: bytes) -> InferenceRequest:
    try:
        payload = orjson.loads(json_part)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, "invalid_json", f"inference header is not valid JSON: {exc}") from None
    # A JSON tensor's ``data`` (list[Any], up to max_batch x 48000 items) is taken out before validation so pydantic
    # does not copy it item by item; a list always validates as list[Any], so errors are unchanged.
    data, holder = _take_data(payload)
    try:
        req = InferenceRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ServiceError(400, "invalid_request", f"{loc}: {first['msg']}") from None
    finally:
        if holder is not None:
            holder["data"] = data
    if holder is not None and len(req.inputs) == 1:
        req.inputs[0].data = data
    return req


def _take_data(payload: Any) -> tuple[list[Any] | None, dict[str, Any] | None]:
    """Swap a single input's list ``data`` for [] in ``payload``; returns (data, its dict), or (None, None)."""
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        return None, None
    data = inputs[0].get("data")
    if not isinstance(data, list):
        return None, None
    inputs[0]["data"] = []
    return data, inputs[0]


def _input_tensor(req: InferenceRequest, binary: bytes, input_name: str, max_batch: int) -> np.ndarray:
    if len(req.inputs) != 1 or req.inputs[0].name != input_name:
        names = [i.name for i in req.inputs]
        raise ServiceError(
            400, "invalid_input", f"inputs: expected exactly one input named {input_name!r}, got {names}"
        )
    tensor = req.inputs[0]
    if tensor.datatype != "FP32":
        raise ServiceError(400, "invalid_input", f"inputs[0].datatype: expected FP32, got {tensor.datatype!r}")
    if len(tensor.shape) != 2 or tensor.shape[1] != WINDOW_SAMPLES or tensor.shape[0] < 1:
        raise ServiceError(
            400, "invalid_input", f"inputs[0].shape: expected [batch, {WINDOW_SAMPLES}], got {tensor.shape}"
        )
    if tensor.shape[0] > max_batch:
        raise ServiceError(
            413, "batch_too_large", f"inputs[0].shape: batch {tensor.shape[0]} exceeds max_batch={max_batch}"
        )
    count = math.prod(tensor.shape)
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size != count * 4:
            raise ServiceError(
                400, "invalid_input", f"inputs[0].parameters.binary_data_size: expected {count * 4} bytes, got {size!r}"
            )
        if len(binary) != size:
            raise ServiceError(
                400, "invalid_input", f"binary data: expected {size} bytes after the header, got {len(binary)}"
            )
        return np.frombuffer(binary, dtype="<f4").reshape(tensor.shape)
    if tensor.data is None:
        raise ServiceError(400, "invalid_input", "inputs[0]: needs 'data' or parameters.binary_data_size")
    # Flat numeric data (what tritonclient sends) converts in C; nested or odd items take np.asarray as before.
    array = float_values(tensor.data)
    try:
        if array is None:
            array = np.asarray(tensor.data, dtype=np.float64)
    except (ValueError, TypeError):
        raise ServiceError(400, "invalid_input", "inputs[0].data: must be numbers (flat or nested row-major)") from None
    if array.size != count:
        raise ServiceError(
            400, "invalid_input", f"inputs[0].data: {array.size} values do not fill shape {tensor.shape}"
        )
    return array.reshape(tensor.shape)


def _checked_request(json_part: bytes, limit: int) -> InferenceRequest:
    """The JSON budget, then the parsed request."""
    # Valid JSON data is at most max_batch nested rows of WINDOW_SAMPLES numbers, plus the request's few fields.
    check_json_budget(
        json_part, max_containers=2 * limit + 256, max_values=limit * WINDOW_SAMPLES + 4096, what="inference header"
    )
    return _parse_request(json_part)


async def _infer(request: Request, manager: ModelManager, name: str, version: str | None) -> Response:
    settings = request.app.state.settings
    json_part, binary = _split_body(await request.body(), request.headers.get(HEADER_LENGTH.lower()))
    limit = settings.limits.max_batch
    # Megabytes of JSON data take tens of ms to check and parse: off the event loop (binary bodies stay small here).
    if len(json_part) > OFFLOAD_BYTES:
        req = await run_in_threadpool(_checked_request, json_part, limit)
    else:
        req = _checked_request(json_part, limit)
    key = req.id or request.headers.get("x-request-id") or ""  # "" = no key: random A/B draw by weight
    model = _model_for(manager, name, version, key)
    metrics = request.app.state.metrics
    try:
        # Shape, size and dtype here; NaN/Inf and the float32 copy in the engine, off the event loop (infer_batch
        # counts an InputError from there as invalid_input too).
        audio = _input_tensor(req, binary, model.engine.input_name, settings.limits.max_batch)
    except ServiceError:
        metrics.inference_failures.labels(
            model=model.name, version=model.version, endpoint="oip", reason="invalid_input"
        ).inc()
        raise
    available = model.engine.output_names
    wanted = [o.name for o in req.outputs] if req.outputs else list(available)
    unknown = [n for n in wanted if n not in available]
    if unknown:  # refused before paying for an inference
        raise ServiceError(400, "invalid_output", f"outputs: unknown output(s) {unknown}; available {available}")
    outputs = await infer_batch(model, audio, endpoint="oip", metrics=metrics)
    binary_default = bool((req.parameters or {}).get("binary_data_output", False))
    per_output = {o.name: (o.parameters or {}).get("binary_data") for o in req.outputs or []}
    out_json: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for out_name in wanted:
        value = np.ascontiguousarray(outputs[out_name], dtype="<f4")
        entry: dict[str, Any] = {"name": out_name, "datatype": "FP32", "shape": list(value.shape)}
        as_binary = per_output.get(out_name)
        if as_binary if as_binary is not None else binary_default:
            data = value.tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = value.reshape(-1).tolist()
        out_json.append(entry)
    body: dict[str, Any] = {"model_name": model.name, "model_version": model.version, "outputs": out_json}
    if req.id is not None:
        body["id"] = req.id
    header = orjson.dumps(body)
    headers = {"X-Model-Version": model.version}
    if not chunks:
        return Response(header, media_type="application/json", headers=headers)
    headers[HEADER_LENGTH] = str(len(header))
    return Response(header + b"".join(chunks), media_type="application/octet-stream", headers=headers)
