"""JSON request bodies parsed by the route itself: any (or no) Content-Type, orjson limits, errors naming the field."""

from __future__ import annotations

import array
from typing import Any, TypeVar

import numpy as np
import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from voiceflow_inference.errors import ServiceError

# JSON bodies above this are checked and parsed in the thread pool, not on the event loop (one window is ~0.5 MB).
OFFLOAD_BYTES = 256 * 1024

ModelT = TypeVar("ModelT", bound=BaseModel)


# Admin bodies are tiny objects ({"version": ...}, {"weights": {...}}): generous caps that no valid body comes near.
ADMIN_MAX_CONTAINERS = 256
ADMIN_MAX_VALUES = 4096

_OPEN_BRACKET, _OPEN_BRACE, _COMMA = b"[{,"


def check_json_budget(raw: bytes, *, max_containers: int, max_values: int, what: str = "body") -> None:
    """Refuse (400 ``json_too_complex``) a JSON text whose structure is far beyond any valid request, before parsing.

    The body-size limit alone is not enough: 32 MB of ``[],[],...`` parses into ~11 million Python lists, seconds of
    CPU on the event loop (every other client waits) and hundreds of MB of memory. Counting brackets and commas is a
    C-speed scan; a bracket or comma inside a string only makes the estimate larger, and valid requests stay far below.
    """
    # Every counted byte is one byte of the body, so a body no longer than a limit cannot exceed it: skip that scan.
    if len(raw) <= max_containers and len(raw) + 1 <= max_values:
        return
    # A numpy compare per byte class is ~5x faster than bytes.count on a 1 MB window body (PERFORMANCE_ANALYSIS.md).
    octets = np.frombuffer(raw, dtype=np.uint8)
    containers = int(np.count_nonzero(octets == _OPEN_BRACKET)) + int(np.count_nonzero(octets == _OPEN_BRACE))
    if containers > max_containers:
        raise ServiceError(
            400, "json_too_complex", f"{what}: {containers} JSON arrays/objects exceed the limit of {max_containers}"
        )
    if len(raw) + 1 <= max_values:
        return
    values = int(np.count_nonzero(octets == _COMMA)) + 1
    if values > max_values:
        raise ServiceError(
            400, "json_too_complex", f"{what}: about {values} JSON values exceed the limit of {max_values}"
        )


def float_rows(rows: Any, width: int) -> np.ndarray | None:
    """``rows`` (parsed JSON) as a float64 [len(rows), width] array, or None unless it is a non-empty list of lists of
    exactly ``width`` JSON numbers (a caller then validates the slow way, for its exact error message).

    ``array.array("d", row)`` converts a list of floats in C without a Python object per value, and accepts exactly
    what a lax pydantic ``float`` accepts from parsed JSON (float, int, bool) while refusing str, None, lists and
    dicts; ~4x cheaper than validating ``list[list[float]]`` with pydantic and then calling ``np.asarray``.
    """
    if not isinstance(rows, list) or not rows:
        return None
    out = np.empty((len(rows), width), dtype=np.float64)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            return None
        try:
            out[i] = np.frombuffer(array.array("d", row), dtype=np.float64)
        except (TypeError, OverflowError):
            return None
    return out


def float_values(values: list[Any]) -> np.ndarray | None:
    """A flat list of JSON numbers as a float64 vector (as :func:`float_rows`), or None if any item is not one."""
    try:
        return np.frombuffer(array.array("d", values), dtype=np.float64)
    except (TypeError, OverflowError):
        return None


async def parse_json_body(request: Request, model: type[ModelT], *, empty_ok: bool = False) -> ModelT:
    """Parse the request body as ``model`` whatever its Content-Type (curl -d and tritonclient send none or a form
    type). An empty body gives ``model()`` when ``empty_ok``. Raises ServiceError 400 (not JSON, or a JSON bomb:
    far more arrays or values than an admin body has) or 422 (schema)."""
    raw = await request.body()
    check_json_budget(raw, max_containers=ADMIN_MAX_CONTAINERS, max_values=ADMIN_MAX_VALUES)
    payload: Any
    if not raw.strip():
        if not empty_ok:
            raise ServiceError(422, "invalid_request", "body: a JSON object is required")
        payload = {}
    else:
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ServiceError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "body"
        raise ServiceError(422, "invalid_request", f"{loc}: {first['msg']}") from None


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` inlined, so it can be embedded anywhere in an OpenAPI document."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def request_body_doc(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON request body."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": inline_schema(model)}}}}


__all__ = ["check_json_budget", "float_rows", "float_values", "inline_schema", "parse_json_body", "request_body_doc"]
