"""One `/ws/diarize` WebSocket as a message channel: receive with the idle timeout and the shutdown signal, frame and
text size limits, JSON control-message parsing, bounded sends and the close.

Whatever breaks the protocol raises :class:`FatalError` (the handler reports it and closes with the code from
``CLOSE_CODES``); a client that went away raises :class:`DisconnectedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketState

from voiceflow_inference.streaming.limits import StreamLimits
from voiceflow_inference.streaming.messages import (
    CLIENT_MESSAGE,
    CloseCode,
    ErrorCode,
    ServerMessage,
    StartMessage,
    StopMessage,
)

logger = logging.getLogger(__name__)


class FatalError(Exception):
    """Ends the session: send `error`, then `final` (if a session exists), then close."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DisconnectedError(Exception):
    """The client went away; nothing more can be sent."""


class StreamConnection:
    """The WebSocket of one session, with the limits it enforces."""

    def __init__(self, websocket: WebSocket, limits: StreamLimits, connection_id: str) -> None:
        self.ws = websocket
        self.limits = limits
        self.connection_id = connection_id
        self.closing = asyncio.Event()
        self.close_reason = ""
        self._recv: asyncio.Task[dict[str, Any]] | None = None
        now = time.monotonic()
        self._idle_deadline = now + limits.idle_timeout_s
        self._wall_deadline = now + limits.max_wall_s

    def progressed(self) -> None:
        """The client sent audio: restart the idle timer. Only audio counts; empty frames and control messages do
        not, so a client cannot hold a session slot with keep-alives alone."""
        self._idle_deadline = time.monotonic() + self.limits.idle_timeout_s

    async def accept(self) -> None:
        """Accept the WebSocket handshake."""
        await self.ws.accept()

    async def request_close(self, reason: str) -> None:
        """Session-tracker callback (grace period over): the next receive ends the session with 1001 and `reason`."""
        self.close_reason = reason
        self.closing.set()

    def cancel_pending(self) -> None:
        """Cancel a receive still waiting (the session ended)."""
        if self._recv is not None and not self._recv.done():
            self._recv.cancel()

    # ------------------------------------------------------------------ receiving
    async def receive(self) -> dict[str, Any]:
        """Next client message; raises on disconnect, idle timeout (no audio progress), the wall-clock cap or
        shutdown."""
        if time.monotonic() >= self._wall_deadline:
            # Checked before waiting too: a client that never pauses would otherwise never reach the timeout below.
            raise self._wall_clock_error()
        if self._recv is None:
            self._recv = asyncio.ensure_future(self._next_message())
        closing = asyncio.ensure_future(self.closing.wait())
        timeout = max(0.0, min(self._idle_deadline, self._wall_deadline) - time.monotonic())
        try:
            done, _ = await asyncio.wait({self._recv, closing}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
        if self._recv in done:
            message = self._recv.result()
            self._recv = None
            if message["type"] == "websocket.disconnect":
                raise DisconnectedError
            return message
        if self.closing.is_set():
            raise FatalError(ErrorCode.SERVER_SHUTTING_DOWN, self.close_reason or "server shutting down")
        # Which deadline the wait timed out on, from the deadlines themselves: the event loop may wake a timer up to
        # its clock resolution early, so comparing with the current time could blame the wrong limit.
        if self._wall_deadline <= self._idle_deadline:
            raise self._wall_clock_error()
        raise FatalError(ErrorCode.IDLE_TIMEOUT, f"no audio for {self.limits.idle_timeout_s:g} s")

    def _wall_clock_error(self) -> FatalError:
        return FatalError(
            ErrorCode.SESSION_TOO_LONG,
            f"session wall-clock limit of {self.limits.max_wall_s:g} s reached; the final result covers the audio "
            "received so far",
        )

    async def _next_message(self) -> dict[str, Any]:
        return dict(await self.ws.receive())

    def binary(self, message: dict[str, Any]) -> bytes:
        """The message's binary frame (an audio frame), within the frame size limit."""
        data = message.get("bytes")
        if data is None:
            raise FatalError(ErrorCode.UNSUPPORTED_DATA, "expected a binary audio frame or a JSON control message")
        frame = bytes(data)
        if len(frame) > self.limits.max_frame_bytes:
            raise FatalError(
                ErrorCode.FRAME_TOO_LARGE,
                f"binary frame of {len(frame)} bytes exceeds the limit of {self.limits.max_frame_bytes} bytes",
            )
        return frame

    def parse_text(self, text: str) -> StartMessage | StopMessage:
        """A text frame as a JSON control message (`start` or `stop`), within the text size limit."""
        if len(text) > self.limits.max_text_bytes:
            raise FatalError(
                ErrorCode.FRAME_TOO_LARGE,
                f"text message of {len(text)} characters exceeds the limit of {self.limits.max_text_bytes}",
            )
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise FatalError(
                ErrorCode.UNSUPPORTED_DATA,
                "text frames must be JSON control messages ({'type': 'start'|'stop'}); send audio as binary frames",
            ) from None
        if not isinstance(raw, dict) or raw.get("type") not in ("start", "stop"):
            kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
            raise FatalError(ErrorCode.UNSUPPORTED_DATA, f"type: expected 'start' or 'stop', got {kind!r}")
        try:
            return CLIENT_MESSAGE.validate_python(raw)
        except ValidationError as exc:
            raise _validation_error(exc) from None

    # ------------------------------------------------------------------ sending and closing
    async def send(self, message: ServerMessage) -> None:
        """Send one JSON message; a client that stops reading for the idle timeout counts as gone."""
        if self.ws.client_state != WebSocketState.CONNECTED:
            raise DisconnectedError
        try:
            # A client that stops reading would block us forever (and hold a session slot): give up like idle.
            await asyncio.wait_for(self.ws.send_text(message.model_dump_json()), timeout=self.limits.idle_timeout_s)
        except TimeoutError as exc:
            logger.warning("ws session %s: client stopped reading; dropping the connection", self.connection_id)
            raise DisconnectedError from exc
        except Exception as exc:  # the peer vanished mid-send
            raise DisconnectedError from exc

    async def close(self, code: CloseCode, reason: str) -> None:
        """Close with `code` (reason cut to what a close frame holds), if still connected."""
        if self.ws.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code=int(code), reason=reason[:120])


def _validation_error(exc: ValidationError) -> FatalError:
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    field = ".".join(loc)
    if "encoding" in loc:
        return FatalError(ErrorCode.UNSUPPORTED_ENCODING, f"{field}: {first['msg']} (use pcm_f32le or pcm_s16le)")
    return FatalError(ErrorCode.INVALID_MESSAGE, f"{field}: {first['msg']}")


__all__ = ["DisconnectedError", "FatalError", "StreamConnection"]
