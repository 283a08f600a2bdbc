"""`/ws/diarize` capacity: real-time factor of one session streamed as fast as possible, and how many concurrent
real-time sessions the server sustains with the p99 window latency under a budget.

Window latency = time from sending the frame that completes a window to receiving that window's message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from websockets.asyncio.client import connect

from voiceflow_bench.serving.audio import speech_like
from voiceflow_bench.serving.stats import Summary, summarize
from voiceflow_contract.spec import SAMPLE_RATE

FRAME_S = 0.1
HOP_S = 0.5


def _start_message(hop_s: float = HOP_S) -> str:
    return orjson.dumps({"type": "start", "sample_rate": SAMPLE_RATE, "encoding": "pcm_f32le", "hop_s": hop_s}).decode()


@dataclass
class SessionResult:
    """What one streamed session saw."""

    audio_s: float
    wall_s: float
    window_latencies_s: list[float] = field(default_factory=list)
    windows: int = 0
    errors: list[str] = field(default_factory=list)
    final: bool = False


async def stream_session(
    ws_url: str, audio: np.ndarray, *, realtime: bool, start_delay_s: float = 0.0, frame_s: float = FRAME_S
) -> SessionResult:
    """Stream ``audio`` (float32 at the contract's sample rate) in ``frame_s`` frames, paced in real time or as
    fast as possible."""
    await asyncio.sleep(start_delay_s)
    step = round(frame_s * SAMPLE_RATE)
    frames = [audio[i : i + step].astype("<f4").tobytes() for i in range(0, audio.size, step)]
    sent_at: dict[int, float] = {}
    result = SessionResult(audio_s=audio.size / SAMPLE_RATE, wall_s=float("nan"))
    try:
        async with connect(ws_url, max_size=2**22, open_timeout=60, ping_interval=None) as ws:
            await ws.send(_start_message())
            started = orjson.loads(await ws.recv())
            if started.get("type") != "started":
                result.errors.append(f"expected started, got {started.get('type')}: {started}")
                return result

            async def reader() -> None:
                async for raw in ws:
                    now = time.perf_counter()
                    message = orjson.loads(raw)
                    kind = message.get("type")
                    if kind == "window":
                        result.windows += 1
                        end = round(float(message["end"]) * SAMPLE_RATE)
                        if end in sent_at:
                            result.window_latencies_s.append(now - sent_at[end])
                    elif kind == "error":
                        result.errors.append(f"{message.get('code')}: {message.get('message')}")
                    elif kind == "final":
                        result.final = True
                        return

            reading = asyncio.create_task(reader())
            t0 = time.perf_counter()
            cumulative = 0
            for k, frame in enumerate(frames):
                if realtime:
                    delay = t0 + k * frame_s - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                cumulative += len(frame) // 4
                sent_at[cumulative] = time.perf_counter()
                await ws.send(frame)
            await ws.send(orjson.dumps({"type": "stop"}).decode())
            await asyncio.wait_for(reading, timeout=120)
            result.wall_s = time.perf_counter() - t0
    except Exception as exc:  # connection refused/closed, timeout: a failed session, reported not raised
        result.errors.append(f"{type(exc).__name__}: {exc}")
    return result


def realtime_factor(ws_url: str, *, seconds: float = 20.0) -> tuple[float, SessionResult]:
    """Processing time / audio time of one session streamed as fast as possible (lower is better; < 1 = faster
    than real time)."""
    result = asyncio.run(stream_session(ws_url, speech_like(seconds, seed=7), realtime=False))
    return (result.wall_s / result.audio_s if result.final else float("nan")), result


@dataclass(frozen=True)
class CapacityLevel:
    """N concurrent real-time sessions: their pooled window latency and how many failed."""

    sessions: int
    latency: Summary
    failed_sessions: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"sessions": self.sessions, "failed_sessions": self.failed_sessions, **self.latency.to_dict()}


async def _level(ws_url: str, sessions: int, seconds: float, min_windows: int = 0) -> CapacityLevel:
    # Few sessions give few windows: stream longer so that the p99 is not just the single slowest window.
    windows_per_s = 1.0 / HOP_S
    seconds = max(seconds, 1.0 + min_windows / (sessions * windows_per_s))
    audios = [speech_like(seconds, seed=100 + i) for i in range(sessions)]
    # Stagger starts across one frame period, as independent clients would be.
    results = await asyncio.gather(
        *(
            stream_session(ws_url, audio, realtime=True, start_delay_s=FRAME_S * i / sessions)
            for i, audio in enumerate(audios)
        )
    )
    latencies = [x for r in results for x in r.window_latencies_s]
    failed = sum(1 for r in results if r.errors or not r.final)
    return CapacityLevel(sessions, summarize(latencies, failed), failed)


def realtime_capacity(
    ws_url: str,
    *,
    levels: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    seconds: float = 6.0,
    p99_budget_ms: float = 10.0,
    min_windows: int = 0,
) -> tuple[int, list[CapacityLevel]]:
    """The most concurrent real-time sessions (of ``levels``) with pooled p99 window latency within the budget and
    no failed session; stops at the first level that misses. Each level streams ``seconds`` (longer when needed to
    collect ``min_windows`` windows). Returns (max sessions, 0 if even one misses; levels)."""
    best = 0
    measured: list[CapacityLevel] = []
    for n in levels:
        level = asyncio.run(_level(ws_url, n, seconds, min_windows))
        measured.append(level)
        if level.failed_sessions or not (level.latency.p99_ms <= p99_budget_ms):
            break
        best = n
    return best, measured


__all__ = ["CapacityLevel", "SessionResult", "realtime_capacity", "realtime_factor", "stream_session"]
