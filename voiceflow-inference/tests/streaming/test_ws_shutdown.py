"""Graceful shutdown: uvicorn in a subprocess gets SIGTERM while WebSocket sessions are open.

New sessions are refused with 1001, a session that stops within the grace period gets its final result and 1000,
one still open when the grace period ends gets `server_shutting_down`, its final result and 1001, and the process
exits shortly after the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from ws_helpers import conversation, free_port, write_band_model

from voiceflow_inference.streaming.shutdown import session_grace

pytestmark = pytest.mark.timeout(90)

GRACE_S = 3.0


def _start_server(tmp_path: Path, model: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    (tmp_path / "registry").mkdir()
    watch = tmp_path / "watch"
    write_band_model(watch / "model.onnx")
    env = {
        **os.environ,
        "VOICEFLOW_ENV": "development",
        "VOICEFLOW_REGISTRY_URL": str(tmp_path / "registry"),
        "VOICEFLOW_CACHE_DIR": str(tmp_path / "cache"),
        "VOICEFLOW_WATCH_DIR": str(watch),
        "VOICEFLOW_POLL_INTERVAL_S": "0",
        "VOICEFLOW_WARMUP_RUNS": "1",
        "VOICEFLOW_SHUTDOWN_GRACE_S": str(GRACE_S),
        "VOICEFLOW_ADMIN_TOKEN": "",
    }
    log = tmp_path / "server.log"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "voiceflow_inference.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "info"),
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("server did not become ready:\n" + log.read_text())
        time.sleep(0.1)
    return proc, base, log


async def _read_all(ws: Any) -> list[dict[str, Any]]:
    out = []
    try:
        async for raw in ws:
            out.append(json.loads(raw))
    except ConnectionClosed:
        pass
    return out


def test_sigterm_drains_sessions_then_exits(tmp_path: Path, band_model_path: Path) -> None:
    proc, base, log = _start_server(tmp_path, band_model_path)
    url = base.replace("http", "ws") + "/ws/diarize"
    audio = conversation(16000, seed=5).audio[:32000].astype("<f4").tobytes()
    start = json.dumps({"type": "start", "sample_rate": 16000})
    try:

        async def scenario() -> dict[str, Any]:
            finisher = await websockets.connect(url)
            lingerer = await websockets.connect(url)
            early: dict[Any, list[dict[str, Any]]] = {}
            for ws in (finisher, lingerer):
                await ws.send(start)
                assert json.loads(await ws.recv())["type"] == "started"
                await ws.send(audio)
                # The server has the audio once its first window comes back (an event, not a sleep).
                early[ws] = [json.loads(await ws.recv())]
                assert early[ws][0]["type"] == "window"
            sigterm_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            # Draining: not ready (polled until it says so), new sessions refused with 1001, open ones keep working.
            async with httpx.AsyncClient(base_url=base) as http:
                for _ in range(600):
                    ready = await http.get("/ready")
                    if ready.status_code == 503:
                        break
                    await asyncio.sleep(0.05)
            async with websockets.connect(url) as late:
                with contextlib.suppress(ConnectionClosed):  # the server may close before we get to send
                    await late.send(start)
                refused = await _read_all(late)
                refused_code = late.close_code
            await finisher.send(audio)
            await finisher.send(json.dumps({"type": "stop"}))
            finished = early[finisher] + await _read_all(finisher)
            lingered = early[lingerer] + await _read_all(lingerer)  # nothing sent: the grace period ends it
            lingered_at = time.monotonic() - sigterm_at
            return {
                "ready": ready.status_code,
                "refused": refused,
                "refused_code": refused_code,
                "finished": finished,
                "finished_code": finisher.close_code,
                "lingered": lingered,
                "lingered_code": lingerer.close_code,
                "lingered_at": lingered_at,
                "sigterm_at": sigterm_at,
            }

        result = asyncio.run(scenario())
        returncode = proc.wait(timeout=GRACE_S + 60)  # a bound for a hung process, not a speed assertion
        exited_after = time.monotonic() - result["sigterm_at"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"\nshutdown: lingering session closed after {result['lingered_at']:.2f} s, exit after {exited_after:.2f} s")
    assert result["ready"] == 503
    assert result["refused"][0]["code"] == "server_shutting_down" and result["refused_code"] == 1001
    assert result["finished"][-1]["type"] == "final" and result["finished_code"] == 1000
    assert result["finished"][-1]["duration"] == pytest.approx(4.0)
    error = next(m for m in result["lingered"] if m["type"] == "error")
    assert error["code"] == "server_shutting_down" and "shutting down" in error["message"]
    assert result["lingered"][-1]["type"] == "final" and result["lingered"][-1]["duration"] == pytest.approx(2.0)
    assert result["lingered_code"] == 1001  # closed by the drain (uvicorn's own close would be 1012)
    # Not before its grace: the session was given the time (a slower machine only makes this later).
    assert result["lingered_at"] >= session_grace(GRACE_S) - 0.5
    # The process ended by itself, cleanly, after the drain closed the session (outcomes, not a time window).
    # (uvicorn re-raises the captured SIGTERM once shut down, so -SIGTERM is a clean exit too)
    assert returncode in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()
    assert "grace period over: closed 1 session(s)" in log.read_text()
