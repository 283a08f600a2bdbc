"""`/ws/diarize`: live speaker diarization over a WebSocket (protocol in docs/serving-api.md).

One handler per connection: accept, register with the session tracker (concurrency cap, graceful shutdown), read an
optional JSON `start`, pin one model version, then turn binary frames into `window` messages until a JSON `stop`
(-> `final`, close 1000), a fatal error (-> `error`, `final`, close code from the table) or a client disconnect.
CPU work (decode, resample, VAD, ONNX Runtime, clustering) runs in the thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any, cast

import orjson
from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketState

from voiceflow_inference.lifecycle.errors import ModelNotReadyError
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.runtime.audio_input import InputError
from voiceflow_inference.sessions import SessionRejected, SessionTracker
from voiceflow_inference.streaming.audio import TARGET_SAMPLE_RATE, AudioFormatError
from voiceflow_inference.streaming.messages import (
    CLIENT_MESSAGE,
    CLOSE_CODES,
    CloseCode,
    ErrorCode,
    ErrorMessage,
    FinalMessage,
    ServerMessage,
    StartedMessage,
    StartMessage,
    StopMessage,
)
from voiceflow_inference.streaming.session import (
    WINDOW_S,
    DiarizationSession,
    InferenceFailedError,
    SessionOptions,
)

logger = logging.getLogger(__name__)

router = APIRouter(tags=["streaming"])

ENDPOINT = "websocket"
#: Defaults for limits the Settings do not (yet) carry.
IDLE_TIMEOUT_S = 60.0
MAX_TEXT_BYTES = 64 * 1024
DEFAULT_MAX_FRAME_BYTES = 1024 * 1024
DEFAULT_MAX_SESSION_S = 3600.0
DEFAULT_MAX_SESSIONS = 64
DEFAULT_MAX_BATCH = 16


@dataclass(frozen=True)
class StreamLimits:
    """The limits one handler enforces (from Settings.limits, with module defaults)."""

    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    max_text_bytes: int = MAX_TEXT_BYTES
    max_session_s: float = DEFAULT_MAX_SESSION_S
    max_batch: int = DEFAULT_MAX_BATCH
    idle_timeout_s: float = IDLE_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: object | None) -> StreamLimits:
        """Read `settings.limits.*` where present."""
        limits = getattr(settings, "limits", None)
        return cls(
            max_frame_bytes=int(getattr(limits, "max_ws_frame_bytes", DEFAULT_MAX_FRAME_BYTES)),
            max_text_bytes=int(getattr(limits, "max_ws_text_bytes", MAX_TEXT_BYTES)),
            max_session_s=float(getattr(limits, "max_session_seconds", DEFAULT_MAX_SESSION_S)),
            max_batch=int(getattr(limits, "max_batch", DEFAULT_MAX_BATCH)),
            idle_timeout_s=float(getattr(limits, "ws_idle_timeout_s", IDLE_TIMEOUT_S)),
        )


def session_tracker(state: Any) -> SessionTracker:
    """The app's tracker (`app.state.sessions`), created on first use if the lifespan did not."""
    tracker = getattr(state, "sessions", None)
    if tracker is None:
        limits = getattr(getattr(state, "settings", None), "limits", None)
        tracker = SessionTracker(int(getattr(limits, "max_concurrent_sessions", DEFAULT_MAX_SESSIONS)))
        state.sessions = tracker
    return cast(SessionTracker, tracker)


class FatalError(Exception):
    """Ends the session: send `error`, then `final` (if a session exists), then close."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _DisconnectedError(Exception):
    """The client went away; nothing more can be sent."""


class StreamHandler:
    """Drives one `/ws/diarize` connection."""

    def __init__(self, websocket: WebSocket) -> None:
        self.ws = websocket
        self.state = websocket.app.state
        self.limits = StreamLimits.from_settings(getattr(self.state, "settings", None))
        self.metrics = getattr(self.state, "metrics", None)
        self.connection_id = uuid.uuid4().hex
        self.session: DiarizationSession | None = None
        self.closing = asyncio.Event()
        self.close_reason = ""
        self._recv: asyncio.Task[dict[str, Any]] | None = None

    # ------------------------------------------------------------------ entry point
    async def run(self) -> None:
        """Serve the connection until stop, error, disconnect or shutdown."""
        await self.ws.accept()
        tracker = session_tracker(self.state)
        try:
            tracker.register(self.connection_id, self._request_close)
        except SessionRejected as exc:
            code = ErrorCode.SERVER_SHUTTING_DOWN if exc.code == "server_shutting_down" else ErrorCode.TOO_MANY_SESSIONS
            await self._fail(code, str(exc))
            return
        try:
            await self._serve()
        except _DisconnectedError:
            logger.info("ws session %s: client disconnected", self.connection_id)
        except FatalError as exc:
            await self._fail(exc.code, exc.message)
        except Exception:
            logger.exception("ws session %s: internal error", self.connection_id)
            await self._fail(ErrorCode.INTERNAL_ERROR, "internal server error; the session was ended")
        finally:
            if self._recv is not None and not self._recv.done():
                self._recv.cancel()
            tracker.unregister(self.connection_id)
            self._session_ended()

    async def _request_close(self, reason: str) -> None:
        """Tracker callback (grace period over): the handler ends the session with 1001 and `reason`."""
        self.close_reason = reason
        self.closing.set()

    # ------------------------------------------------------------------ protocol
    async def _serve(self) -> None:
        first = await self._receive()
        start = StartMessage()
        pending_frame: bytes | None = None
        if "text" in first and first["text"] is not None:
            opening = self._parse_text(first["text"])
            if isinstance(opening, StopMessage):
                # Stop before any audio: an empty but valid session.
                await self._begin(start)
                await self._finish()
                return
            start = opening
        else:
            pending_frame = self._binary(first)
        await self._begin(start)
        if pending_frame is not None:
            await self._audio(pending_frame)
        while True:
            message = await self._receive()
            if "bytes" in message and message["bytes"] is not None:
                await self._audio(self._binary(message))
                continue
            parsed = self._parse_text(message.get("text") or "")
            if isinstance(parsed, StopMessage):
                await self._finish()
                return
            raise FatalError(ErrorCode.PROTOCOL_ERROR, "start: only allowed once, as the first message")

    async def _begin(self, start: StartMessage) -> None:
        manager: ModelManager | None = getattr(self.state, "models", None)
        key = start.session_id or self.connection_id
        if manager is None:
            raise FatalError(ErrorCode.MODEL_UNAVAILABLE, "no model manager is configured; retry later")
        try:
            # Pinned for the whole session: a hot reload swaps the manager's model, never this reference.
            model = manager.acquire(key)
        except ModelNotReadyError as exc:
            raise FatalError(ErrorCode.MODEL_UNAVAILABLE, f"no model is ready to serve ({exc}); retry later") from exc
        try:
            self.session = DiarizationSession(
                session_id=key,
                start=start,
                model=model,
                options=SessionOptions(max_session_s=self.limits.max_session_s, max_batch=self.limits.max_batch),
                observer=self._observe_batch,
            )
        except AudioFormatError as exc:
            raise FatalError(ErrorCode.INVALID_MESSAGE, f"start.sample_rate: {exc.message}") from exc
        self._session_started()
        await self._send(
            StartedMessage(
                session_id=key,
                model=self.session.model_name,
                model_version=self.session.model_version,
                sample_rate=start.sample_rate,
                encoding=start.encoding,
                hop_s=self.session.hop_samples / TARGET_SAMPLE_RATE,
                window_s=WINDOW_S,
                max_session_s=self.limits.max_session_s,
            )
        )

    async def _audio(self, frame: bytes) -> None:
        session = self._require_session()
        if self.metrics is not None:
            self.metrics.ws_frames.labels(model=session.model_name, version=session.model_version).inc()
        if not frame:
            return  # zero-length frames carry nothing; accepted as keep-alives
        try:
            windows = await run_in_threadpool(session.process, frame)
        except AudioFormatError as exc:
            raise FatalError(ErrorCode(exc.code), exc.message) from exc
        except InferenceFailedError as exc:
            raise FatalError(ErrorCode.INFERENCE_FAILED, str(exc)) from exc
        for window in windows:
            await self._send(window)
        if session.limit_reached:
            raise FatalError(
                ErrorCode.SESSION_TOO_LONG,
                f"session length limit of {self.limits.max_session_s:g} s of audio reached; audio beyond it was "
                "dropped, the final result covers everything up to the limit",
            )

    async def _finish(self) -> None:
        session = self._require_session()
        final = await self._final_messages(session)
        if final is None:
            raise FatalError(ErrorCode.INTERNAL_ERROR, "could not build the final result")
        if session.pending_bytes:
            await self._error(
                ErrorCode.PARTIAL_SAMPLE,
                f"{session.pending_bytes} trailing byte(s) did not make a whole {session.start.encoding.value} sample "
                "and were ignored",
            )
        await self._send(final)
        await self._close(CloseCode.NORMAL, "done")

    async def _final_messages(self, session: DiarizationSession) -> FinalMessage | None:
        """Flush the session and send its last windows; returns the final message (None if flushing failed)."""
        if session.finished:
            return None
        try:
            windows, final = await run_in_threadpool(session.finish)
        except Exception:
            logger.exception("ws session %s: could not finish", self.connection_id)
            return None
        for window in windows:
            await self._send(window)
        return final

    # ------------------------------------------------------------------ receiving
    async def _receive(self) -> dict[str, Any]:
        """Next client message; raises on disconnect, idle timeout or shutdown."""
        if self._recv is None:
            self._recv = asyncio.ensure_future(self._next_message())
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            done, _ = await asyncio.wait(
                {self._recv, closing}, timeout=self.limits.idle_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closing.cancel()
        if self._recv in done:
            message = self._recv.result()
            self._recv = None
            if message["type"] == "websocket.disconnect":
                raise _DisconnectedError
            return message
        if self.closing.is_set():
            raise FatalError(ErrorCode.SERVER_SHUTTING_DOWN, self.close_reason or "server shutting down")
        raise FatalError(ErrorCode.IDLE_TIMEOUT, f"no message for {self.limits.idle_timeout_s:g} s")

    async def _next_message(self) -> dict[str, Any]:
        return dict(await self.ws.receive())

    def _binary(self, message: dict[str, Any]) -> bytes:
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

    def _parse_text(self, text: str) -> StartMessage | StopMessage:
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
    async def _send(self, message: ServerMessage) -> None:
        if self.ws.client_state != WebSocketState.CONNECTED:
            raise _DisconnectedError
        try:
            # A client that stops reading would block us forever (and hold a session slot): give up like idle.
            await asyncio.wait_for(self.ws.send_text(message.model_dump_json()), timeout=self.limits.idle_timeout_s)
        except TimeoutError as exc:
            logger.warning("ws session %s: client stopped reading; dropping the connection", self.connection_id)
            raise _DisconnectedError from exc
        except Exception as exc:  # the peer vanished mid-send
            raise _DisconnectedError from exc

    async def _error(self, code: ErrorCode, text: str) -> None:
        if self.metrics is not None:
            self.metrics.ws_errors.labels(code=code.value).inc()
        logger.info("ws session %s: error %s: %s", self.connection_id, code.value, text)
        await self._send(ErrorMessage.of(code, text))

    async def _close(self, code: CloseCode, reason: str) -> None:
        if self.ws.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code=int(code), reason=reason[:120])

    async def _fail(self, code: ErrorCode, text: str) -> None:
        """Fatal error: `error`, then `final` with everything analysed so far, then the close code."""
        close = CLOSE_CODES[code] or CloseCode.INTERNAL_ERROR
        try:
            await self._error(code, text)
            session = self.session
            if session is not None and not session.finished and code is not ErrorCode.INFERENCE_FAILED:
                final = await self._final_messages(session)
                if final is not None:
                    await self._send(final)
        except _DisconnectedError:
            return
        await self._close(close, text)

    def _require_session(self) -> DiarizationSession:
        if self.session is None:
            raise FatalError(ErrorCode.INTERNAL_ERROR, "no session")
        return self.session

    # ------------------------------------------------------------------ metrics
    def _session_started(self) -> None:
        if self.metrics is None or self.session is None:
            return
        labels = {"model": self.session.model_name, "version": self.session.model_version}
        self.metrics.ws_sessions.labels(**labels).inc()
        self.metrics.ws_sessions_active.labels(**labels).inc()

    def _session_ended(self) -> None:
        if self.metrics is None or self.session is None:
            return
        self.metrics.ws_sessions_active.labels(model=self.session.model_name, version=self.session.model_version).dec()

    def _observe_batch(self, seconds: float, batch: int, error: BaseException | None) -> None:
        if self.metrics is None or self.session is None:
            return
        labels = {"model": self.session.model_name, "version": self.session.model_version, "endpoint": ENDPOINT}
        if error is not None:
            reason = "invalid_input" if isinstance(error, InputError) else "runtime"
            self.metrics.inference_failures.labels(**labels, reason=reason).inc()
            return
        self.metrics.inference_latency.labels(**labels).observe(seconds)
        self.metrics.inference_requests.labels(**labels).inc()


def _validation_error(exc: ValidationError) -> FatalError:
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"]]
    field = ".".join(loc)
    if "encoding" in loc:
        return FatalError(ErrorCode.UNSUPPORTED_ENCODING, f"{field}: {first['msg']} (use pcm_f32le or pcm_s16le)")
    return FatalError(ErrorCode.INVALID_MESSAGE, f"{field}: {first['msg']}")


@router.websocket("/ws/diarize")
async def diarize(websocket: WebSocket) -> None:
    """Live diarization: JSON `start` (optional), binary PCM frames, JSON `stop`; see docs/serving-api.md."""
    await StreamHandler(websocket).run()
