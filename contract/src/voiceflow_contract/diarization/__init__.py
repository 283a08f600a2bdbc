"""Online speaker diarization over per-window model outputs (numpy only).

The server streams with exactly these functions and the training side scores them, so there is one algorithm:
``is_speech`` gates each window, ``StreamingDiarizer.push`` clusters the window's vector online, ``finalize`` turns the
windows into speaker turns, ``to_rttm`` writes them.
"""

from voiceflow_contract.diarization.errors import DiarizationError
from voiceflow_contract.diarization.online import OnlineClusterer, looks_like_probabilities, to_unit_vector
from voiceflow_contract.diarization.pipeline import EmbedFn, diarize_audio
from voiceflow_contract.diarization.rttm import parse_rttm, to_rttm
from voiceflow_contract.diarization.segments import (
    Segment,
    StreamingDiarizer,
    WindowDecision,
    diarize_windows,
    frame_audio,
    speaker_name,
)
from voiceflow_contract.diarization.vad import frame_energy_db, is_speech, speech_frames, window_speech

__all__ = [
    "DiarizationError",
    "EmbedFn",
    "OnlineClusterer",
    "Segment",
    "StreamingDiarizer",
    "WindowDecision",
    "diarize_audio",
    "diarize_windows",
    "frame_audio",
    "frame_energy_db",
    "is_speech",
    "looks_like_probabilities",
    "parse_rttm",
    "speaker_name",
    "speech_frames",
    "to_rttm",
    "to_unit_vector",
    "window_speech",
]
