"""Hostile input on `/ws/diarize`: a seeded random fuzzer and floods beyond the limits (bounded, ~10 s).

Every connection must end with a documented error code and close code, never 1011 (internal error), and the server
must stay healthy and keep serving normal sessions afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from ws_helpers import serve_in_thread, ws_app

from voiceflow_inference.streaming.messages import CLOSE_CODES, ErrorCode

pytestmark = pytest.mark.timeout(120)

MAX_FRAME = 65536
EXPECTED_CLOSES = {1000, 1001, 1003, 1007, 1008, 1009, 1013}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, band_model_path: Path) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ws-fuzz")
    app = ws_app(
        root, band_model_path, max_concurrent_sessions=4, max_session_seconds=5.0, max_ws_frame_bytes=MAX_FRAME
    )
    with serve_in_thread(app) as base:
        yield base


def _random_text(rng: random.Random) -> str:
    choice = rng.randrange(9)
    if choice == 0:
        return json.dumps({"type": "stop"})
    if choice == 1:
        fields: dict[str, Any] = {"type": "start"}
        for key, values in {
            "sample_rate": [8000, 16000, 44100, 48000, 192000, 0, -1, 7999, 10**12, "16k", None, 1.5],
            "encoding": ["pcm_f32le", "pcm_s16le", "mp3", "", 7, None],
            "hop_s": [0.25, 0.5, 1.0, 0, -1, 2, float("inf"), "x"],
            "uri": ["ok", "", "../../etc", "x" * 500, "ünïcode", None],
            "session_id": ["abc", "a b", "", None],
        }.items():
            if rng.random() < 0.6:
                fields[key] = rng.choice(values)
        try:
            return json.dumps(fields)
        except ValueError:
            return json.dumps({"type": "start"})
    if choice == 2:
        return json.dumps(
            rng.choice([[], {}, 1, "start", None, {"type": None}, {"type": "window"}, {"type": ["stop"]}])
        )
    if choice == 3:
        return "{" * rng.randrange(1, 5000)  # unbalanced JSON / nesting bomb
    if choice == 4:
        return '{"type": "start", "sample_rate": ' + "9" * rng.randrange(1, 400) + "}"  # huge integer
    if choice == 5:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(0, 200)))
    if choice == 6:
        return " " * rng.choice([0, 1, 70000])
    if choice == 7:
        return '{"type": "start", "type": "stop"}'
    return json.dumps({"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le", "hop_s": 0.25})


def _random_binary(rng: random.Random) -> bytes:
    choice = rng.randrange(7)
    if choice == 0:
        return b""
    if choice == 1:
        return rng.randbytes(rng.randrange(1, 9))  # odd and partial samples
    if choice == 2:
        return np.asarray([rng.uniform(-1, 1) for _ in range(rng.randrange(1, 4000))], dtype="<f4").tobytes()
    if choice == 3:
        x = np.zeros(rng.randrange(1, 500), dtype="<f4")
        x[rng.randrange(x.size)] = rng.choice([np.nan, np.inf, -np.inf, 3.4e38])
        return x.tobytes()
    if choice == 4:
        return rng.randbytes(rng.choice([MAX_FRAME, MAX_FRAME + 1, 3 * MAX_FRAME]))
    if choice == 5:
        return np.asarray([rng.uniform(-50, 50) for _ in range(2000)], dtype="<f4").tobytes()  # far out of range
    return rng.randbytes(rng.randrange(1, 20000))


async def _fuzz_connection(url: str, rng: random.Random, budget: int) -> tuple[int, list[dict[str, Any]], int]:
    """Send up to `budget` random frames; returns (frames sent, messages received, close code)."""
    sent = 0
    messages: list[dict[str, Any]] = []
    async with websockets.connect(url, max_size=None, open_timeout=10) as ws:

        async def reader() -> None:
            try:
                async for raw in ws:
                    messages.append(json.loads(raw))
            except ConnectionClosed:
                pass

        task = asyncio.create_task(reader())
        try:
            for _ in range(budget):
                frame: bytes | str = _random_text(rng) if rng.random() < 0.3 else _random_binary(rng)
                await ws.send(frame)
                sent += 1
        except ConnectionClosed:
            pass
        if ws.close_code is None:
            await ws.send(json.dumps({"type": "stop"})) if rng.random() < 0.5 else await ws.close()
        await asyncio.wait_for(task, timeout=30)
        return sent, messages, int(ws.close_code or 0)


def _run_fuzz(server: str, seed: int, frames: int, seconds: float) -> set[str]:
    """Fuzz until `frames` frames were sent or `seconds` passed; returns the error codes seen."""
    url = server.replace("http", "ws") + "/ws/diarize"
    rng = random.Random(seed)
    total_frames, connections, codes = 0, 0, set()
    started = time.monotonic()
    while total_frames < frames and time.monotonic() - started < seconds:
        sent, messages, close = asyncio.run(_fuzz_connection(url, rng, rng.randrange(1, 12)))
        total_frames += sent
        connections += 1
        errors = [m for m in messages if m.get("type") == "error"]
        for err in errors:
            assert err["code"] in {c.value for c in ErrorCode}, err
            assert err["message"], err
            if err["fatal"]:
                assert err["close_code"] == int(CLOSE_CODES[ErrorCode(err["code"])] or 0), err
        assert close != 1011, (close, messages)
        assert close in EXPECTED_CLOSES, (close, messages)
        codes.update(e["code"] for e in errors)
        assert httpx.get(server + "/health", timeout=5).status_code == 200
    elapsed = time.monotonic() - started
    print(f"\nfuzz seed {seed}: {total_frames} frames, {connections} connections, {elapsed:.1f} s: {sorted(codes)}")
    assert total_frames >= min(frames, 100)
    _normal_session_still_works(url)
    return codes


def test_random_frames_never_crash_the_server(server: str) -> None:
    codes = _run_fuzz(server, seed=20261126, frames=300, seconds=20)
    assert {"non_finite_audio", "unsupported_data", "frame_too_large"} <= codes


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_frames_long_run(server: str, seed: int) -> None:
    """make chaos: 3000 frames per seed."""
    _run_fuzz(server, seed=seed, frames=3000, seconds=150)


def _normal_session_still_works(url: str) -> None:
    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
            await ws.send(np.zeros(16000, "<f4").tobytes())
            await ws.send(json.dumps({"type": "stop"}))
            return [json.loads(m) async for m in ws]

    msgs = asyncio.run(run())
    assert [m["type"] for m in msgs] == ["started", "window", "final"]


def test_connection_flood_beyond_the_session_limit(server: str) -> None:
    """12 clients at once on a server capped at 4: exactly 4 sessions start (they hold their slot until every client
    has its answer, so no slot frees early) and the 8 others get too_many_sessions."""
    url = server.replace("http", "ws") + "/ws/diarize"
    answered = 0
    everyone_answered: asyncio.Event

    async def one() -> tuple[str, int]:
        nonlocal answered
        first: dict[str, Any] = {"type": "closed before any message"}
        try:
            async with websockets.connect(url, open_timeout=10) as ws:
                with contextlib.suppress(ConnectionClosed):  # a refused session may be closed before we send
                    await ws.send(json.dumps({"type": "start"}))
                try:
                    first = json.loads(await ws.recv())
                finally:
                    answered += 1
                    if answered == 12:
                        everyone_answered.set()
                if first["type"] == "started":
                    await asyncio.wait_for(everyone_answered.wait(), 60)  # hold the slot until all are answered
                    await ws.send(json.dumps({"type": "stop"}))
                async for _ in ws:
                    pass
        except ConnectionClosed:
            pass
        except InvalidStatus as exc:  # pragma: no cover - the server must accept then close, never refuse the upgrade
            return f"http {exc.response.status_code}", 0
        return first.get("code", first["type"]), int(ws.close_code or 0)

    async def flood() -> list[tuple[str, int]]:
        nonlocal everyone_answered
        everyone_answered = asyncio.Event()
        return list(await asyncio.gather(*(one() for _ in range(12))))

    results = asyncio.run(flood())
    accepted = [r for r in results if r == ("started", 1000)]
    refused = [r for r in results if r == ("too_many_sessions", 1013)]
    assert len(accepted) == 4 and len(refused) == 8, results
    assert httpx.get(server + "/health", timeout=5).status_code == 200


def test_frame_flood_without_reading(server: str) -> None:
    """600 tiny frames sent as fast as possible (the client reads nothing until the end): all audio is accounted for."""
    url = server.replace("http", "ws") + "/ws/diarize"

    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "start", "sample_rate": 8000, "encoding": "pcm_s16le"}))
            frame = np.full(33, 100, dtype="<i2").tobytes() + b"\x01"  # 67 bytes: odd, a sample split each time
            for _ in range(600):
                await ws.send(frame)
            await ws.send(json.dumps({"type": "stop"}))
            return [json.loads(m) async for m in ws]

    msgs = asyncio.run(run())
    final = msgs[-1]
    assert final["type"] == "final"
    assert final["duration"] == pytest.approx(600 * 67 // 2 / 8000)
