"""SessionTracker: cap, refusal while draining, graceful drain then close with a reason."""

from __future__ import annotations

import asyncio

import pytest

from voiceflow_inference.streaming.session_tracker import SessionRejected, SessionTracker


async def test_cap_and_duplicate_ids_are_refused() -> None:
    tracker = SessionTracker(max_sessions=1)

    async def close(reason: str) -> None:
        return None

    tracker.register("a", close)
    with pytest.raises(SessionRejected) as info:
        tracker.register("b", close)
    assert info.value.code == "too_many_sessions"
    tracker.unregister("a")
    tracker.register("a", close)
    with pytest.raises(SessionRejected) as dup:
        tracker.register("a", close)
    assert dup.value.code in ("duplicate_session", "too_many_sessions")


async def test_drain_waits_for_sessions_that_finish_in_time() -> None:
    tracker = SessionTracker(max_sessions=4)
    closed: list[str] = []

    async def close(reason: str) -> None:
        closed.append(reason)

    async def short_session() -> None:
        async with tracker.session("quick", close):
            await asyncio.sleep(0.1)

    task = asyncio.create_task(short_session())
    await asyncio.sleep(0.01)
    await tracker.drain(grace_s=5.0)
    await task
    assert closed == [] and tracker.active == 0
    with pytest.raises(SessionRejected) as info:
        tracker.register("late", close)
    assert info.value.code == "server_shutting_down"


async def test_drain_closes_sessions_after_the_grace_period() -> None:
    tracker = SessionTracker(max_sessions=4)
    reasons: list[str] = []
    stop = asyncio.Event()

    async def close(reason: str) -> None:
        reasons.append(reason)
        stop.set()

    async def long_session() -> None:
        async with tracker.session("slow", close):
            await stop.wait()

    task = asyncio.create_task(long_session())
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await tracker.drain(grace_s=0.2, reason="server shutting down")
    await task
    assert reasons == ["server shutting down"]
    assert 0.2 <= loop.time() - started < 2.0
    assert tracker.active == 0
