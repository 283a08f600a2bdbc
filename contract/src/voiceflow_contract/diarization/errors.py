"""The error raised for bad input to the diarization functions."""

from __future__ import annotations

from voiceflow_contract.errors import VoiceFlowError


class DiarizationError(VoiceFlowError, ValueError):
    """Bad input to VAD, clustering, segmentation or RTTM code; the message names the argument or line."""
