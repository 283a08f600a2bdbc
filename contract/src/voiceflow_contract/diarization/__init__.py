"""Online speaker diarization over per-window model outputs (numpy only).

The server streams with exactly these functions and the training side scores them, so there is one algorithm:
``is_speech`` (or ``make_vad``: energy or Silero) gates each window, ``StreamingDiarizer.push`` clusters the window's
vector online, ``finalize`` re-clusters the whole session and turns the windows into speaker turns, ``to_rttm`` writes
them.
"""

from voiceflow_contract.diarization.boundaries import BOUNDARIES, Boundary
from voiceflow_contract.diarization.errors import DiarizationError
from voiceflow_contract.diarization.framing import frame_audio
from voiceflow_contract.diarization.online import OnlineClusterer, looks_like_probabilities, to_unit_vector
from voiceflow_contract.diarization.pipeline import EmbedFn, diarize_audio
from voiceflow_contract.diarization.recluster import METHODS, Method, recluster_session
from voiceflow_contract.diarization.rttm import parse_rttm, to_rttm
from voiceflow_contract.diarization.silero import SileroVad
from voiceflow_contract.diarization.streaming import (
    Segment,
    StreamingDiarizer,
    WindowDecision,
    diarize_windows,
    speaker_name,
)
from voiceflow_contract.diarization.vad import frame_energy_db, is_speech, speech_frames, window_speech
from voiceflow_contract.diarization.vad_select import VAD_KINDS, VadKind, WindowVad, energy_vad, make_vad

__all__ = [
    "BOUNDARIES",
    "METHODS",
    "VAD_KINDS",
    "Boundary",
    "DiarizationError",
    "EmbedFn",
    "Method",
    "OnlineClusterer",
    "Segment",
    "SileroVad",
    "StreamingDiarizer",
    "VadKind",
    "WindowDecision",
    "WindowVad",
    "diarize_audio",
    "diarize_windows",
    "energy_vad",
    "frame_audio",
    "frame_energy_db",
    "is_speech",
    "looks_like_probabilities",
    "make_vad",
    "parse_rttm",
    "recluster_session",
    "speaker_name",
    "speech_frames",
    "to_rttm",
    "to_unit_vector",
    "window_speech",
]
