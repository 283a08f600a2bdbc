"""`GET /metrics`: our voiceflow_* series and the instrumentator's HTTP series, from the app's own registry."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from voiceflow_inference.dependencies import get_metrics
from voiceflow_inference.metrics import ServiceMetrics

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition format"}},
)
async def metrics(service_metrics: ServiceMetrics = Depends(get_metrics)) -> Response:
    """Inference latency/requests/failures by model, version and endpoint; reloads; model info; A/B assignments;
    WebSocket sessions and frames; plus `http_requests_total` and `http_request_duration_seconds`."""
    return Response(generate_latest(service_metrics.registry), media_type=CONTENT_TYPE_LATEST)
