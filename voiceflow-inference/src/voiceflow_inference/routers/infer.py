"""`POST /infer`: JSON audio windows in, speaker probabilities (and optional embeddings) out."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voiceflow_contract.spec import WINDOW_SAMPLES
from voiceflow_inference.bodies import OFFLOAD_BYTES, check_json_budget, float_rows, inline_schema
from voiceflow_inference.dependencies import get_model_manager
from voiceflow_inference.errors import ServiceError, responses
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.runtime.audio_input import InputError, check_audio
from voiceflow_inference.runtime.run_batch import infer_batch

router = APIRouter(tags=["inference"])

SAMPLE_RATE = 48000


class InferRequest(BaseModel):
    """One or more 1 s windows of 48 kHz mono float audio (roughly in [-1, 1])."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        # Shortened example: a real window holds exactly 48000 samples.
        json_schema_extra={"examples": [{"audio": [[0.0, 0.01, -0.02]], "sample_rate": 48000}]},
    )

    audio: list[list[float]] = Field(description="Windows of exactly 48000 samples each", min_length=1)
    sample_rate: int = Field(default=SAMPLE_RATE, description="Must be 48000 (the WebSocket endpoint resamples)")
    return_embeddings: bool = Field(default=False, description="Also return the model's `embedding` output")


class InferResponse(BaseModel):
    """Per-window speaker probabilities from one model version."""

    model: str = Field(examples=["fast-cnn"])
    version: str = Field(examples=["1.1.0"])
    sha256: str
    request_id: str
    num_speakers: int
    probabilities: list[list[float]] = Field(description="[windows, num_speakers] softmax probabilities")
    speakers: list[int] = Field(description="argmax speaker index per window")
    embeddings: list[list[float]] | None = Field(default=None, description="[windows, embedding_dim], if requested")


def _parse_body(raw: bytes, limit: int) -> tuple[InferRequest, np.ndarray | None]:
    """Size, batch and field rules on the raw body; returns the request and, on the fast path, the audio as numpy."""
    # A valid body has one object, one list and max_batch rows of WINDOW_SAMPLES numbers (+ a few fields).
    check_json_budget(raw, max_containers=2 * limit + 64, max_values=limit * WINDOW_SAMPLES + 1024)
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, "invalid_json", f"body is not valid JSON (NaN/Infinity are not JSON): {exc}") from None
    if not isinstance(payload, dict):
        raise ServiceError(422, "invalid_request", "body must be a JSON object with an 'audio' field")
    windows = payload.get("audio")
    if isinstance(windows, list) and len(windows) > limit:
        raise ServiceError(413, "batch_too_large", f"audio: {len(windows)} windows exceed max_batch={limit}")
    if isinstance(windows, list):
        for i, row in enumerate(windows):
            if isinstance(row, list) and len(row) != WINDOW_SAMPLES:
                raise ServiceError(
                    400,
                    "invalid_input",
                    f"audio[{i}]: expected {WINDOW_SAMPLES} samples (1 s at 48 kHz), got {len(row)}",
                )
    # The common case (every row exactly WINDOW_SAMPLES numbers) goes straight to numpy; pydantic then checks only the
    # other fields, against a one-sample stand-in. Anything else takes the full pydantic path for its exact error.
    rows = float_rows(windows, WINDOW_SAMPLES)
    try:
        body = InferRequest.model_validate(payload if rows is None else {**payload, "audio": [[0.0]]})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"][:3])
        raise ServiceError(422, "invalid_request", f"{loc}: {first['msg']} ({exc.error_count()} error(s))") from None
    return body, rows


@router.post(
    "/infer",
    response_model=InferResponse,
    summary="Score 1 s audio windows",
    responses=responses(400, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(InferRequest)}},
        }
    },
)
async def infer(request: Request, manager: ModelManager = Depends(get_model_manager)) -> Any:
    """Run the served model on each 1 s window. The `X-Request-ID` header (echoed back) picks a sticky A/B arm.

    The body is parsed here (not by FastAPI) so that size, batch and NaN/Inf rules give clear 4xx errors fast.
    """
    limit = request.app.state.settings.limits.max_batch
    raw = await request.body()
    # Megabytes of JSON take tens of ms to check and parse: off the event loop, so streams and other requests flow.
    if len(raw) > OFFLOAD_BYTES:
        body, rows = await run_in_threadpool(_parse_body, raw, limit)
    else:
        body, rows = _parse_body(raw, limit)
    if body.sample_rate != SAMPLE_RATE:
        raise ServiceError(
            400, "invalid_input", f"sample_rate: must be {SAMPLE_RATE}, got {body.sample_rate} (resample first)"
        )
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    model = manager.acquire(request_id)
    try:
        audio = check_audio(np.asarray(body.audio, dtype=np.float64) if rows is None else rows, max_batch=limit)
    except InputError:
        request.app.state.metrics.inference_failures.labels(
            model=model.name, version=model.version, endpoint="rest", reason="invalid_input"
        ).inc()
        raise
    outputs = await infer_batch(model, audio, endpoint="rest", metrics=request.app.state.metrics)
    probs = outputs[model.engine.probabilities_name]
    embeddings = None
    if body.return_embeddings and model.engine.embedding_name is not None:
        embeddings = outputs[model.engine.embedding_name].tolist()
    result = InferResponse(
        model=model.name,
        version=model.version,
        sha256=model.sha256,
        request_id=request_id,
        num_speakers=model.num_speakers,
        probabilities=probs.tolist(),
        speakers=[int(i) for i in probs.argmax(axis=1)],
        embeddings=embeddings,
    )
    return Response(
        orjson.dumps(result.model_dump()),
        media_type="application/json",
        headers={"X-Request-ID": request_id, "X-Model-Version": model.version},
    )
