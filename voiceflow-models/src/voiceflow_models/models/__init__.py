"""Diarization networks: every one maps 1 s of 48 kHz audio to (logits, embedding)."""

from voiceflow_models.models.base import DiarizationModel

__all__ = ["DiarizationModel"]
