"""JSON request bodies parsed by the route itself: any (or no) Content-Type, orjson limits, errors naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from voiceflow_inference.errors import ServiceError

ModelT = TypeVar("ModelT", bound=BaseModel)


# Admin bodies are tiny objects ({"version": ...}, {"weights": {...}}): generous caps that no valid body comes near.
ADMIN_MAX_CONTAINERS = 256
ADMIN_MAX_VALUES = 4096


def check_json_budget(raw: bytes, *, max_containers: int, max_values: int, what: str = "body") -> None:
    """Refuse (400 ``json_too_complex``) a JSON text whose structure is far beyond any valid request, before parsing.

    The body-size limit alone is not enough: 32 MB of ``[],[],...`` parses into ~11 million Python lists, seconds of
    CPU on the event loop (every other client waits) and hundreds of MB of memory. Counting brackets and commas is a
    C-speed scan; a bracket or comma inside a string only makes the estimate larger, and valid requests stay far below.
    """
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > max_containers:
        raise ServiceError(
            400, "json_too_complex", f"{what}: {containers} JSON arrays/objects exceed the limit of {max_containers}"
        )
    values = raw.count(b",") + 1
    if values > max_values:
        raise ServiceError(
            400, "json_too_complex", f"{what}: about {values} JSON values exceed the limit of {max_values}"
        )


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


__all__ = ["check_json_budget", "inline_schema", "parse_json_body", "request_body_doc"]
