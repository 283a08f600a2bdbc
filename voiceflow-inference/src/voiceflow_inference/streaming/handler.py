"""`/ws/diarize`: live speaker diarization over a WebSocket (protocol in docs/serving-api.md).

One handler per connection: accept, register with the session tracker (concurrency cap, graceful shutdown), read an
optional JSON `start`, pin one model version, then turn binary frames into `window` messages until a JSON `stop`
(-> `final`, close 1000), a fatal error (-> `error`, `final`, close code from the table) or a client disconnect.
CPU work (decode, resample, VAD, ONNX Runtime, clustering) runs in the thread pool, never on the event loop.
The socket side (limits, idle timeout, sends) is :class:`~voiceflow_inference.streaming.connection.StreamConnection`.
"""

from __future__ import annotations

import logging
import uuid

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket

from voiceflow_contract.spec import SAMPLE_RATE, WINDOW_SECONDS
from voiceflow_inference.lifecycle.errors import ModelNotReadyError
from voiceflow_inference.lifecycle.manager import ModelManager
from voiceflow_inference.metrics import ServiceMetrics
from voiceflow_inference.streaming.audio import AudioFormatError
from voiceflow_inference.streaming.connection import DisconnectedError, FatalError, StreamConnection
from voiceflow_inference.streaming.diarization_session import (
    DiarizationSession,
    InferenceFailedError,
    SessionOptions,
)
from voiceflow_inference.streaming.limits import StreamLimits
from voiceflow_inference.streaming.messages import (
    CLOSE_CODES,
    CloseCode,
    ErrorCode,
    ErrorMessage,
    FinalMessage,
    StartedMessage,
    StartMessage,
    StopMessage,
)
from voiceflow_inference.streaming.session_tracker import SessionRejected, SessionTracker
from voiceflow_inference.streaming.stream_metrics import StreamMetrics

logger = logging.getLogger(__name__)


class StreamHandler:
    """Drives one `/ws/diarize` connection."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        models: ModelManager,
        tracker: SessionTracker,
        limits: StreamLimits,
        metrics: ServiceMetrics,
    ) -> None:
        self.connection_id = uuid.uuid4().hex
        self.conn = StreamConnection(websocket, limits, self.connection_id)
        self.models = models
        self.tracker = tracker
        self.limits = limits
        self.metrics = StreamMetrics(metrics)
        self.session: DiarizationSession | None = None

    # ------------------------------------------------------------------ entry point
    async def run(self) -> None:
        """Serve the connection until stop, error, disconnect or shutdown."""
        await self.conn.accept()
        try:
            self.tracker.register(self.connection_id, self.conn.request_close, client=self._client_address())
        except SessionRejected as exc:
            code = ErrorCode.SERVER_SHUTTING_DOWN if exc.code == "server_shutting_down" else ErrorCode.TOO_MANY_SESSIONS
            await self._fail(code, str(exc))
            return
        try:
            await self._serve()
        except DisconnectedError:
            logger.info("ws session %s: client disconnected", self.connection_id)
        except FatalError as exc:
            await self._fail(exc.code, exc.message)
        except Exception:
            logger.exception("ws session %s: internal error", self.connection_id)
            await self._fail(ErrorCode.INTERNAL_ERROR, "internal server error; the session was ended")
        finally:
            self.conn.cancel_pending()
            self.tracker.unregister(self.connection_id)
            self.metrics.session_ended()

    # ------------------------------------------------------------------ protocol
    async def _serve(self) -> None:
        """The message loop: optional `start` (or `stop`, or audio at once), audio frames, then `stop`."""
        first = await self.conn.receive()
        start = StartMessage()
        pending_frame: bytes | None = None
        if "text" in first and first["text"] is not None:
            opening = self.conn.parse_text(first["text"])
            if isinstance(opening, StopMessage):
                # Stop before any audio: an empty but valid session.
                await self._begin(start)
                await self._finish()
                return
            start = opening
        else:
            pending_frame = self.conn.binary(first)
        await self._begin(start)
        if pending_frame is not None:
            await self._audio(pending_frame)
        while True:
            message = await self.conn.receive()
            if "bytes" in message and message["bytes"] is not None:
                await self._audio(self.conn.binary(message))
                continue
            parsed = self.conn.parse_text(message.get("text") or "")
            if isinstance(parsed, StopMessage):
                await self._finish()
                return
            raise FatalError(ErrorCode.PROTOCOL_ERROR, "start: only allowed once, as the first message")

    async def _begin(self, start: StartMessage) -> None:
        """Pin a model for the session, set the session up and send `started`."""
        key = start.session_id or self.connection_id
        try:
            # Pinned for the whole session: a hot reload swaps the manager's model, never this reference.
            model = self.models.acquire(key)
        except ModelNotReadyError as exc:
            raise FatalError(ErrorCode.MODEL_UNAVAILABLE, f"no model is ready to serve ({exc}); retry later") from exc
        try:
            self.session = DiarizationSession(
                session_id=key,
                start=start,
                model=model,
                options=SessionOptions(max_session_s=self.limits.max_session_s, max_batch=self.limits.max_batch),
                observer=self.metrics.observe_batch,
            )
        except AudioFormatError as exc:
            raise FatalError(ErrorCode.INVALID_MESSAGE, f"start.sample_rate: {exc.message}") from exc
        self.metrics.session_started(self.session.model_name, self.session.model_version)
        await self.conn.send(
            StartedMessage(
                session_id=key,
                model=self.session.model_name,
                model_version=self.session.model_version,
                sample_rate=start.sample_rate,
                encoding=start.encoding,
                hop_s=self.session.hop_samples / SAMPLE_RATE,
                window_s=WINDOW_SECONDS,
                max_session_s=self.limits.max_session_s,
            )
        )

    async def _audio(self, frame: bytes) -> None:
        """One binary frame: analyse it off the event loop and send the windows it completed."""
        session = self._require_session()
        self.metrics.frame()
        if not frame:
            return  # zero-length frames carry nothing: accepted, but they do not count as progress (idle timer)
        self.conn.progressed()
        try:
            windows = await run_in_threadpool(session.process, frame)
        except AudioFormatError as exc:
            raise FatalError(ErrorCode(exc.code), exc.message) from exc
        except InferenceFailedError as exc:
            raise FatalError(ErrorCode.INFERENCE_FAILED, str(exc)) from exc
        for window in windows:
            await self.conn.send(window)
        if session.limit_reached:
            raise FatalError(
                ErrorCode.SESSION_TOO_LONG,
                f"session length limit of {self.limits.max_session_s:g} s of audio reached; audio beyond it was "
                "dropped, the final result covers everything up to the limit",
            )

    async def _finish(self) -> None:
        """`stop`: flush, report a trailing partial sample, send `final` and close 1000."""
        session = self._require_session()
        final = await self._final_message(session)
        if final is None:
            raise FatalError(ErrorCode.INTERNAL_ERROR, "could not build the final result")
        if session.pending_bytes:
            await self._error(
                ErrorCode.PARTIAL_SAMPLE,
                f"{session.pending_bytes} trailing byte(s) did not make a whole {session.start.encoding.value} sample "
                "and were ignored",
            )
        await self.conn.send(final)
        await self.conn.close(CloseCode.NORMAL, "done")

    async def _final_message(self, session: DiarizationSession) -> FinalMessage | None:
        """Flush the session and send its last windows; returns the final message (None if flushing failed)."""
        if session.finished:
            return None
        try:
            windows, final = await run_in_threadpool(session.finish)
        except Exception:
            logger.exception("ws session %s: could not finish", self.connection_id)
            return None
        for window in windows:
            await self.conn.send(window)
        return final

    # ------------------------------------------------------------------ errors
    async def _error(self, code: ErrorCode, text: str) -> None:
        """Send an `error` message (and count it)."""
        self.metrics.error(code)
        logger.info("ws session %s: error %s: %s", self.connection_id, code.value, text)
        await self.conn.send(ErrorMessage.of(code, text))

    async def _fail(self, code: ErrorCode, text: str) -> None:
        """Fatal error: `error`, then `final` with everything analysed so far, then the close code."""
        close = CLOSE_CODES[code] or CloseCode.INTERNAL_ERROR
        try:
            await self._error(code, text)
            session = self.session
            if session is not None and not session.finished and code is not ErrorCode.INFERENCE_FAILED:
                final = await self._final_message(session)
                if final is not None:
                    await self.conn.send(final)
        except DisconnectedError:
            return
        await self.conn.close(close, text)

    def _client_address(self) -> str | None:
        """The peer's address (host only: the per-client session cap counts connections from one host)."""
        client = self.conn.ws.client
        return client.host if client is not None else None

    def _require_session(self) -> DiarizationSession:
        if self.session is None:
            raise FatalError(ErrorCode.INTERNAL_ERROR, "no session")
        return self.session


__all__ = ["StreamHandler"]
