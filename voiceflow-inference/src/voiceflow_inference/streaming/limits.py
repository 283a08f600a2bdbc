"""The limits one `/ws/diarize` connection enforces, read from ``config.Limits`` (the one place with the defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from voiceflow_inference.config import Limits


@dataclass(frozen=True)
class StreamLimits:
    """Frame and message sizes, session length (audio and wall clock), model batch and idle timeout of one session."""

    max_frame_bytes: int
    max_text_bytes: int
    max_session_s: float
    max_batch: int
    idle_timeout_s: float
    max_wall_s: float

    @classmethod
    def from_limits(cls, limits: Limits) -> StreamLimits:
        """The streaming subset of the service's ``Settings.limits``."""
        return cls(
            max_frame_bytes=limits.max_ws_frame_bytes,
            max_text_bytes=limits.max_ws_text_bytes,
            max_session_s=limits.max_session_seconds,
            max_batch=limits.max_batch,
            idle_timeout_s=limits.ws_idle_timeout_s,
            max_wall_s=limits.ws_max_session_wall_s,
        )


__all__ = ["StreamLimits"]
