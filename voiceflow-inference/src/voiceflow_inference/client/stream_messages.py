"""Typed views of the `/ws/diarize` server messages for client programs (docs/serving-api.md, "Server messages").

These mirror the server's schemas without importing the server: a client only needs the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Window:
    """One analysed 1 s window, live: `speaker` is the online guess (None when not speech)."""

    start: float
    end: float
    speaker: str | None
    probabilities: tuple[float, ...] | None
    model_version: str
    speech: bool

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Window:
        """From a `window` message."""
        probs = message.get("probabilities")
        return cls(
            start=float(message["start"]),
            end=float(message["end"]),
            speaker=message.get("speaker"),
            probabilities=tuple(float(p) for p in probs) if probs is not None else None,
            model_version=str(message.get("model_version", "")),
            speech=bool(message.get("speech", message.get("speaker") is not None)),
        )


@dataclass(frozen=True)
class Turn:
    """One refined speaker turn of the final result."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class ServerError:
    """An `error` message: `code` is machine-readable, `fatal` ones close the session (after a `final`)."""

    code: str
    message: str
    fatal: bool
    close_code: int | None

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> ServerError:
        """From an `error` message."""
        close = message.get("close_code")
        return cls(str(message["code"]), str(message["message"]), bool(message["fatal"]), close)


@dataclass(frozen=True)
class Result:
    """The session's outcome: the `final` message plus the live windows and any errors seen on the way."""

    session_id: str
    model: str
    model_version: str
    duration: float
    turns: tuple[Turn, ...]
    rttm: str
    windows: tuple[Window, ...] = ()
    errors: tuple[ServerError, ...] = field(default=())

    @property
    def speakers(self) -> tuple[str, ...]:
        """Speakers of the final turns, in order of appearance."""
        return tuple(dict.fromkeys(turn.speaker for turn in self.turns))

    @property
    def failed(self) -> bool:
        """True when a fatal error ended the session early (the result covers the audio up to it)."""
        return any(error.fatal for error in self.errors)

    @classmethod
    def from_final(
        cls, message: dict[str, Any], windows: tuple[Window, ...], errors: tuple[ServerError, ...]
    ) -> Result:
        """From a `final` message."""
        turns = tuple(Turn(float(s["start"]), float(s["end"]), str(s["speaker"])) for s in message["segments"])
        return cls(
            session_id=str(message["session_id"]),
            model=str(message["model"]),
            model_version=str(message["model_version"]),
            duration=float(message["duration"]),
            turns=turns,
            rttm=str(message["rttm"]),
            windows=windows,
            errors=errors,
        )
