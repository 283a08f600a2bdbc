"""Pydantic models for every JSON message of the `/ws/diarize` protocol, and the error/close code table."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_inference.streaming.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, Encoding

MIN_HOP_S = 0.25
MAX_HOP_S = 1.0
DEFAULT_HOP_S = 0.5


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------ client -> server
class StartMessage(_Message):
    """Optional first message; without it the server assumes the defaults below on the first binary frame."""

    type: Literal["start"] = "start"
    sample_rate: int = Field(
        default=SAMPLE_RATE, ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE, description="Hz of the frames"
    )
    encoding: Encoding = Field(
        default=Encoding.PCM_F32LE, description="pcm_f32le (float32) or pcm_s16le (int16), mono, little-endian"
    )
    hop_s: float = Field(
        default=DEFAULT_HOP_S, ge=MIN_HOP_S, le=MAX_HOP_S, description="seconds between 1 s window starts"
    )
    uri: str = Field(
        default="stream",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="file id used in the RTTM",
    )
    session_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="sticky A/B key (default: random)",
    )


class StopMessage(_Message):
    """End of audio: the server flushes, sends `final` and closes with 1000."""

    type: Literal["stop"] = "stop"


ClientMessage = Annotated[StartMessage | StopMessage, Field(discriminator="type")]
CLIENT_MESSAGE: TypeAdapter[StartMessage | StopMessage] = TypeAdapter(ClientMessage)


# ------------------------------------------------------------------ server -> client
class StartedMessage(_Message):
    """Sent once the session is set up: which model version serves it for its whole life."""

    type: Literal["started"] = "started"
    session_id: str
    model: str
    model_version: str
    sample_rate: int
    encoding: Encoding
    hop_s: float
    window_s: float
    max_session_s: float


class WindowMessage(_Message):
    """One analysed 1 s window (end is clipped to the audio's end for the last, zero-padded one)."""

    type: Literal["window"] = "window"
    start: float
    end: float
    speaker: str | None = Field(description="online speaker label; null for non-speech")
    probabilities: list[float] | None = Field(description="model softmax output; null when VAD skipped the window")
    model_version: str
    speech: bool


class SegmentOut(_Message):
    """A speaker turn."""

    start: float
    end: float
    speaker: str


class FinalMessage(_Message):
    """The session's result: everything up to stop (or up to the error/limit that ended it)."""

    type: Literal["final"] = "final"
    session_id: str
    model: str
    model_version: str
    duration: float = Field(description="seconds of audio received")
    windows: int
    segments: list[SegmentOut]
    rttm: str


class ErrorCode(StrEnum):
    """Machine-readable error codes; each maps to one close code (None: reported, session continues)."""

    UNSUPPORTED_DATA = "unsupported_data"
    UNSUPPORTED_ENCODING = "unsupported_encoding"
    INVALID_MESSAGE = "invalid_message"
    NON_FINITE_AUDIO = "non_finite_audio"
    AUDIO_OUT_OF_RANGE = "audio_out_of_range"
    PROTOCOL_ERROR = "protocol_error"
    FRAME_TOO_LARGE = "frame_too_large"
    SESSION_TOO_LONG = "session_too_long"
    IDLE_TIMEOUT = "idle_timeout"
    TOO_MANY_SESSIONS = "too_many_sessions"
    MODEL_UNAVAILABLE = "model_unavailable"
    SERVER_SHUTTING_DOWN = "server_shutting_down"
    INFERENCE_FAILED = "inference_failed"
    INTERNAL_ERROR = "internal_error"
    PARTIAL_SAMPLE = "partial_sample"


class CloseCode(IntEnum):
    """RFC 6455 close codes used by the server."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013


CLOSE_CODES: dict[ErrorCode, CloseCode | None] = {
    ErrorCode.UNSUPPORTED_DATA: CloseCode.UNSUPPORTED_DATA,
    ErrorCode.UNSUPPORTED_ENCODING: CloseCode.UNSUPPORTED_DATA,
    ErrorCode.INVALID_MESSAGE: CloseCode.INVALID_PAYLOAD,
    ErrorCode.NON_FINITE_AUDIO: CloseCode.INVALID_PAYLOAD,
    ErrorCode.AUDIO_OUT_OF_RANGE: CloseCode.INVALID_PAYLOAD,
    ErrorCode.PROTOCOL_ERROR: CloseCode.POLICY_VIOLATION,
    ErrorCode.FRAME_TOO_LARGE: CloseCode.MESSAGE_TOO_BIG,
    ErrorCode.SESSION_TOO_LONG: CloseCode.POLICY_VIOLATION,
    ErrorCode.IDLE_TIMEOUT: CloseCode.POLICY_VIOLATION,
    ErrorCode.TOO_MANY_SESSIONS: CloseCode.TRY_AGAIN_LATER,
    ErrorCode.MODEL_UNAVAILABLE: CloseCode.TRY_AGAIN_LATER,
    ErrorCode.SERVER_SHUTTING_DOWN: CloseCode.GOING_AWAY,
    ErrorCode.INFERENCE_FAILED: CloseCode.INTERNAL_ERROR,
    ErrorCode.INTERNAL_ERROR: CloseCode.INTERNAL_ERROR,
    ErrorCode.PARTIAL_SAMPLE: None,
}


class ErrorMessage(_Message):
    """An error; `fatal` errors are followed by `final` (when a session had started) and the close code."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    fatal: bool
    close_code: int | None = Field(description="the close code that follows, null when the session continues")

    @classmethod
    def of(cls, code: ErrorCode, message: str) -> ErrorMessage:
        """Build the message for `code`, filling `fatal` and `close_code` from the table."""
        close = CLOSE_CODES[code]
        return cls(
            code=code, message=message, fatal=close is not None, close_code=None if close is None else int(close)
        )


ServerMessage = StartedMessage | WindowMessage | FinalMessage | ErrorMessage
