"""`VoiceFlowClient`: diarize a file, or iterate over the live windows of a stream, through `/ws/diarize`.

from voiceflow_inference.client import VoiceFlowClient

result = VoiceFlowClient("http://127.0.0.1:8000").diarize("meeting.wav")
print(result.rttm)

async def live() -> None:
    session = VoiceFlowClient("http://127.0.0.1:8000").stream("meeting.wav", realtime=True)
    async for window in session:
        print(window.start, window.speaker)
    print(session.result.turns)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import websockets

from voiceflow_inference.client.pcm_source import (
    BYTES_PER_SAMPLE,
    ENCODING,
    BufferSource,
    PcmSource,
    StreamSource,
    read_file,
)
from voiceflow_inference.client.stream_messages import Result, ServerError, Window

WS_PATH = "/ws/diarize"


class StreamFailedError(RuntimeError):
    """The session ended without a `final` result (refused, or the connection dropped)."""

    def __init__(self, message: str, errors: tuple[ServerError, ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors


def websocket_url(server: str) -> str:
    """`http://host:8000` (or ws://, https://, wss://; a path other than / is kept) -> the `/ws/diarize` URL."""
    parts = urlsplit(server if "://" in server else f"http://{server}")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"server URL {server!r}: expected http://, https://, ws:// or wss://")
    path = parts.path if parts.path not in ("", "/") else WS_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def as_source(audio: str | Path | PcmSource | np.ndarray, sample_rate: int | None) -> PcmSource:
    """A file path, an in-memory array (needs `sample_rate`) or a ready PcmSource."""
    if isinstance(audio, str | Path):
        return read_file(audio)
    if isinstance(audio, np.ndarray):
        if sample_rate is None:
            raise ValueError("an audio array needs sample_rate")
        return BufferSource.from_array(audio, sample_rate)
    return audio


class DiarizationStream:
    """One live session: `async for window in session` yields each `window` as it arrives; then `result` is set."""

    def __init__(self, url: str, source: PcmSource, *, hop_s: float, uri: str, frame_ms: float, realtime: bool) -> None:
        self.url = url
        self.source = source
        self.hop_s = hop_s
        self.uri = uri
        self.frame_bytes = max(BYTES_PER_SAMPLE, int(source.sample_rate * frame_ms / 1000) * BYTES_PER_SAMPLE)
        self.realtime = realtime
        self.started: dict[str, Any] | None = None
        self.windows: list[Window] = []
        self.errors: list[ServerError] = []
        self._result: Result | None = None

    @property
    def result(self) -> Result:
        """The final result (raises StreamFailedError before the stream ended or when the server sent none)."""
        if self._result is None:
            raise StreamFailedError(
                "no final result (the stream has not finished, or the server ended it)", self._errs()
            )
        return self._result

    def _errs(self) -> tuple[ServerError, ...]:
        return tuple(self.errors)

    async def _send(self, ws: Any) -> None:
        pace = self.frame_bytes / BYTES_PER_SAMPLE / self.source.sample_rate
        live = isinstance(self.source, StreamSource)
        with contextlib.suppress(websockets.ConnectionClosed):  # the server ended the session: its error says why
            while True:
                # A pipe blocks until audio arrives: read it in a thread so received windows keep flowing.
                read = self.source.read
                chunk = await asyncio.to_thread(read, self.frame_bytes) if live else read(self.frame_bytes)
                if not chunk:
                    break
                await ws.send(chunk)
                if self.realtime:
                    await asyncio.sleep(pace)
            await ws.send(json.dumps({"type": "stop"}))

    async def __aiter__(self) -> AsyncIterator[Window]:
        start = {"type": "start", "sample_rate": self.source.sample_rate, "encoding": ENCODING}
        start |= {"hop_s": self.hop_s, "uri": self.uri}
        try:
            async with websockets.connect(self.url, max_size=None, compression=None) as ws:
                await ws.send(json.dumps(start))
                sender = asyncio.create_task(self._send(ws))
                try:
                    async for raw in ws:  # ends when the server closes (1000 after final)
                        message = json.loads(raw)
                        kind = message.get("type")
                        if kind == "window":
                            window = Window.from_message(message)
                            self.windows.append(window)
                            yield window
                        elif kind == "started":
                            self.started = message
                        elif kind == "error":
                            self.errors.append(ServerError.from_message(message))
                        elif kind == "final":
                            self._result = Result.from_final(message, tuple(self.windows), self._errs())
                finally:
                    sender.cancel()
                    with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                        await sender
        except websockets.ConnectionClosed:
            pass
        except (OSError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
            raise StreamFailedError(f"cannot connect to {self.url}: {exc}") from exc
        if self._result is None:
            detail = "; ".join(f"{e.code}: {e.message}" for e in self.errors) or "connection closed"
            raise StreamFailedError(f"the server sent no final result ({detail})", self._errs())


class VoiceFlowClient:
    """A client of a running VoiceFlow service's `/ws/diarize` (`server`: http://host:port or the ws:// URL)."""

    def __init__(self, server: str = "http://127.0.0.1:8000", *, hop_s: float = 0.5, frame_ms: float = 100.0) -> None:
        self.url = websocket_url(server)
        self.hop_s = hop_s
        self.frame_ms = frame_ms

    def stream(
        self,
        audio: str | Path | PcmSource | np.ndarray,
        *,
        sample_rate: int | None = None,
        uri: str = "stream",
        realtime: bool = False,
    ) -> DiarizationStream:
        """A live session over `audio` (file path, float array + `sample_rate`, or PcmSource such as stdin);
        `realtime=True` paces the frames like a microphone."""
        source = as_source(audio, sample_rate)
        return DiarizationStream(self.url, source, hop_s=self.hop_s, uri=uri, frame_ms=self.frame_ms, realtime=realtime)

    async def diarize_async(
        self, audio: str | Path | PcmSource | np.ndarray, *, sample_rate: int | None = None, uri: str = "stream"
    ) -> Result:
        """Stream `audio` as fast as the server takes it; the final result."""
        session = self.stream(audio, sample_rate=sample_rate, uri=uri)
        async for _ in session:
            pass
        return session.result

    def diarize(
        self, audio: str | Path | PcmSource | np.ndarray, *, sample_rate: int | None = None, uri: str = "stream"
    ) -> Result:
        """Blocking form of :meth:`diarize_async` (not from inside a running event loop)."""
        return asyncio.run(self.diarize_async(audio, sample_rate=sample_rate, uri=uri))
