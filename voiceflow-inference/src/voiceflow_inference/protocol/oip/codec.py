"""Open Inference Protocol v2 codec: the request body (JSON, or a JSON header followed by raw tensor bytes: the binary
tensor data extension) -> request and input tensor; model outputs -> the response body.

Errors are :class:`~voiceflow_inference.errors.ServiceError` with a 4xx status and a message naming the field.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from voiceflow_contract.spec import WINDOW_SAMPLES
from voiceflow_inference.errors import ServiceError
from voiceflow_inference.protocol.oip.types import InferenceRequest
from voiceflow_inference.request_body.json_body import OFFLOAD_BYTES, check_json_budget, float_values

HEADER_LENGTH = "Inference-Header-Content-Length"


def split_body(raw: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensor bytes after it (the whole body is JSON without the header)."""
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
    # A JSON tensor's ``data`` (list[Any], up to max_batch x WINDOW_SAMPLES items) is taken out before validation so
    # pydantic does not copy it item by item; a list always validates as list[Any], so errors are unchanged.
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


def input_tensor(req: InferenceRequest, binary: bytes, input_name: str, max_batch: int) -> np.ndarray:
    """The single input tensor as an array of ``shape``: decoded from JSON ``data`` or the binary bytes.

    Raises ServiceError 400 ``invalid_input`` (name, datatype, shape, sizes) or 413 ``batch_too_large``. The values
    (NaN/Inf, float32 range) are checked by the engine, off the event loop.
    """
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


async def decode_request(raw: bytes, header_length: str | None, max_batch: int) -> tuple[InferenceRequest, bytes]:
    """Split the body, check the JSON budget and parse the request; returns it and the binary tensor bytes."""
    json_part, binary = split_body(raw, header_length)
    # Megabytes of JSON data take tens of ms to check and parse: off the event loop (binary bodies stay small here).
    if len(json_part) > OFFLOAD_BYTES:
        req = await run_in_threadpool(_checked_request, json_part, max_batch)
    else:
        req = _checked_request(json_part, max_batch)
    return req, binary


def requested_outputs(req: InferenceRequest, available: list[str]) -> list[str]:
    """The output names to return (all when none are requested); 400 ``invalid_output`` for an unknown one."""
    wanted = [o.name for o in req.outputs] if req.outputs else list(available)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise ServiceError(400, "invalid_output", f"outputs: unknown output(s) {unknown}; available {available}")
    return wanted


def encode_response(
    req: InferenceRequest, model_name: str, model_version: str, outputs: dict[str, np.ndarray], wanted: list[str]
) -> tuple[bytes, dict[str, str]]:
    """The response body and its extra headers: JSON, or (when any output is asked for as binary) the JSON header
    followed by the raw little-endian FP32 bytes, with ``Inference-Header-Content-Length`` set."""
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
    body: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": out_json}
    if req.id is not None:
        body["id"] = req.id
    header = orjson.dumps(body)
    if not chunks:
        return header, {}
    return header + b"".join(chunks), {HEADER_LENGTH: str(len(header))}


__all__ = ["HEADER_LENGTH", "decode_request", "encode_response", "input_tensor", "requested_outputs", "split_body"]
