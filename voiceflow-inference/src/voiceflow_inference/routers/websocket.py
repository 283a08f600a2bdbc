"""`WebSocket /ws/diarize`: mounts the streaming handler (:mod:`voiceflow_inference.streaming.handler`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, WebSocket

from voiceflow_inference.config import Limits
from voiceflow_inference.dependencies import get_limits, get_metrics, get_model_manager, get_session_tracker
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.streaming.handler import StreamHandler
from voiceflow_inference.streaming.limits import StreamLimits
from voiceflow_inference.streaming.session_tracker import SessionTracker

router = APIRouter(tags=["streaming"])


@router.websocket("/ws/diarize")
async def diarize(
    websocket: WebSocket,
    models: ModelManager = Depends(get_model_manager),
    tracker: SessionTracker = Depends(get_session_tracker),
    limits: Limits = Depends(get_limits),
    metrics: ServiceMetrics = Depends(get_metrics),
) -> None:
    """Live diarization: JSON `start` (optional), binary PCM frames, JSON `stop`; see docs/serving-api.md."""
    handler = StreamHandler(
        websocket, models=models, tracker=tracker, limits=StreamLimits.from_limits(limits), metrics=metrics
    )
    await handler.run()
