"""`POST /infer`: JSON audio windows in, speaker probabilities (and optional embeddings) out.

Wire types and codec: :mod:`voiceflow_inference.protocol.rest`.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from voiceflow_inference.config import Limits
from voiceflow_inference.dependencies import get_limits, get_metrics, get_model_manager
from voiceflow_inference.errors import responses
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.protocol.rest.codec import decode_request, encode_response
from voiceflow_inference.protocol.rest.types import InferRequest, InferResponse
from voiceflow_inference.request_body.json_body import inline_schema
from voiceflow_inference.runtime.run_batch import infer_batch

router = APIRouter(tags=["inference"])

ENDPOINT = "rest"


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
async def infer(
    request: Request,
    manager: ModelManager = Depends(get_model_manager),
    limits: Limits = Depends(get_limits),
    metrics: ServiceMetrics = Depends(get_metrics),
) -> Any:
    """Run the served model on each 1 s window. The `X-Request-ID` header (echoed back) picks a sticky A/B arm.

    The body is parsed here (not by FastAPI) so that size, batch and NaN/Inf rules give clear 4xx errors fast.
    """
    body, audio = await decode_request(await request.body(), limits.max_batch)
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    model = manager.acquire(request_id)
    # The engine checks the windows (NaN/Inf, float32 range) off the event loop; infer_batch counts a refusal.
    outputs = await infer_batch(model, audio, endpoint=ENDPOINT, metrics=metrics)
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
        encode_response(result),
        media_type="application/json",
        headers={"X-Request-ID": request_id, "X-Model-Version": model.version},
    )
