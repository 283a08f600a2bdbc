"""Mixed REST, OIP and WebSocket traffic through the balancer, paced and recorded with timestamps.

Every REST or OIP request and every WebSocket window is one sample. WebSocket sessions are recorded too: the replica
that served them (the balancer's ``X-Replica`` header on the upgrade), how many windows they got and when, and how
they ended (close code). ``session_windows=None`` keeps sessions open until :meth:`MixedLoad.stop`.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voiceflow_bench.serving.audio import window_batch
from voiceflow_bench.serving.http_client import oip_binary_request, rest_request
from voiceflow_contract.spec import SAMPLE_RATE


@dataclass
class Sample:
    """One request: when it started (time.monotonic), which door, whether it succeeded."""

    started: float
    kind: str
    ok: bool


@dataclass
class Session:
    """One WebSocket session through the balancer."""

    replica: str | None = None
    windows: list[float] = field(default_factory=list)  # time.monotonic of every window answered
    close_code: int | None = None
    clean: bool = False  # ended by our stop: `final` received, closed with 1000
    error: str | None = None


class MixedLoad:
    """Paced traffic from a background event loop: ``rest``, ``oip`` and ``ws`` workers at ``rate`` each."""

    def __init__(
        self,
        url: str,
        ws_url: str,
        model: str,
        *,
        rest: int = 1,
        oip: int = 1,
        ws: int = 1,
        rate: float = 5.0,
        session_windows: int | None = 8,
    ) -> None:
        self.url, self.ws_url, self.model = url, ws_url, model
        self.workers = {"rest": rest, "oip": oip, "ws": ws}
        self.interval = 1.0 / rate
        self.session_windows = session_windows
        self.samples: list[Sample] = []
        self.sessions: list[Session] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> MixedLoad:
        """Begin sending."""
        self._thread.start()
        return self

    def stop(self) -> MixedLoad:
        """Stop every worker (open sessions are ended cleanly) and wait for them."""
        self._stop.set()
        self._thread.join(timeout=120)
        return self

    async def _paced(self, send: Callable[[], Awaitable[bool]], limit: int | None = None) -> None:
        next_at, sent = time.monotonic(), 0
        while not self._stop.is_set() and (limit is None or sent < limit):
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at + self.interval, time.monotonic() - self.interval)
            if not await send():
                return
            sent += 1

    async def _http(self, kind: str) -> None:
        windows = window_batch(1, seed=7)
        request = rest_request(windows) if kind == "rest" else oip_binary_request(self.model, windows)
        async with httpx.AsyncClient(base_url=self.url, timeout=30.0) as client:

            async def send() -> bool:
                started = time.monotonic()
                headers = dict(request.headers) | {"X-Request-ID": uuid.uuid4().hex}
                try:
                    response = await client.post(request.path, content=request.body, headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.samples.append(Sample(started, kind, ok))
                return True

            await self._paced(send)

    async def _ws(self) -> None:
        frame = window_batch(1, seed=5)[0].astype("<f4").tobytes()
        while not self._stop.is_set():
            session = Session()
            self.sessions.append(session)
            opened = time.monotonic()
            try:
                async with connect(self.ws_url, max_size=2**22, open_timeout=30, ping_interval=None) as ws:
                    if ws.response is not None:
                        session.replica = ws.response.headers.get("X-Replica")
                    await self._session(ws, session, frame)
                    session.close_code = ws.close_code
            except ConnectionClosed as exc:
                session.close_code = exc.rcvd.code if exc.rcvd is not None else 1006
                session.error = f"closed {session.close_code} {exc.rcvd.reason if exc.rcvd else ''}".strip()
            except Exception as exc:  # a broken session is a failed request; the worker carries on
                session.error = f"{type(exc).__name__}: {exc}"
            if session.error is not None:
                self.samples.append(Sample(opened, "ws", False))
                await asyncio.sleep(self.interval)

    async def _session(self, ws: ClientConnection, session: Session, frame: bytes) -> None:
        start = {"type": "start", "sample_rate": SAMPLE_RATE, "encoding": "pcm_f32le", "hop_s": 1.0}
        await ws.send(orjson.dumps(start | {"session_id": uuid.uuid4().hex}).decode())
        if orjson.loads(await ws.recv()).get("type") != "started":
            raise RuntimeError("no started message")

        async def send() -> bool:
            started = time.monotonic()
            await ws.send(frame)
            message = orjson.loads(await asyncio.wait_for(ws.recv(), timeout=30))
            ok = bool(message.get("type") == "window")
            self.samples.append(Sample(started, "ws", ok))
            if ok:
                session.windows.append(time.monotonic())
            return ok

        await self._paced(send, self.session_windows)
        await ws.send(orjson.dumps({"type": "stop"}).decode())
        async for raw in ws:
            if orjson.loads(raw).get("type") == "final":
                session.clean = True
        await ws.wait_closed()

    async def _main(self) -> None:
        tasks: list[Awaitable[None]] = []
        for kind, count in self.workers.items():
            tasks += [self._ws() if kind == "ws" else self._http(kind) for _ in range(count)]
        await asyncio.gather(*tasks)


def count(samples: list[Sample], start: float, end: float) -> tuple[int, int]:
    """(requests, failed) among the samples started in [start, end)."""
    chosen = [s for s in samples if start <= s.started < end]
    return len(chosen), sum(1 for s in chosen if not s.ok)


def kinds(samples: list[Sample]) -> dict[str, int]:
    """Requests per door."""
    out: dict[str, int] = {}
    for s in samples:
        out[s.kind] = out.get(s.kind, 0) + 1
    return out


__all__ = ["MixedLoad", "Sample", "Session", "count", "kinds"]
