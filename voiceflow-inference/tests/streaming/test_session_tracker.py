"""SessionTracker: cap, refusal while draining, graceful drain then close with a reason."""

from __future__ import annotations

import asyncio

import pytest

from voiceflow_inference.streaming.session_tracker import SessionRejected, SessionTracker


async def close(reason: str) -> None:
    return None


async def test_cap_is_enforced() -> None:
    tracker = SessionTracker(max_sessions=2)
    tracker.register("a", close)
    tracker.register("b", close)
    with pytest.raises(SessionRejected) as info:
        tracker.register("c", close)
    assert info.value.code == "too_many_sessions"
    tracker.unregister("a")
    tracker.register("c", close)
    assert sorted(tracker.ids()) == ["b", "c"]


async def test_duplicate_id_is_refused_below_the_cap() -> None:
    """Room is left under the cap, so only the duplicate check can refuse the second 'a'."""
    tracker = SessionTracker(max_sessions=3)
    tracker.register("a", close)
    with pytest.raises(SessionRejected) as dup:
        tracker.register("a", close)
    assert dup.value.code == "duplicate_session"
    assert tracker.active == 1


async def test_per_client_cap_leaves_room_for_other_clients() -> None:
    tracker = SessionTracker(max_sessions=4, max_per_client=2)
    tracker.register("a1", close, client="10.0.0.1")
    tracker.register("a2", close, client="10.0.0.1")
    with pytest.raises(SessionRejected) as info:
        tracker.register("a3", close, client="10.0.0.1")
    assert info.value.code == "too_many_sessions" and "per client" in str(info.value)
    tracker.register("b1", close, client="10.0.0.2")
    assert tracker.held_by("10.0.0.1") == 2 and tracker.active == 3


async def test_drain_waits_for_sessions_that_finish_in_time() -> None:
    tracker = SessionTracker(max_sessions=4)
    closed: list[str] = []
    registered = asyncio.Event()
    release = asyncio.Event()

    async def close_cb(reason: str) -> None:
        closed.append(reason)

    async def short_session() -> None:
        async with tracker.session("quick", close_cb):
            registered.set()
            await release.wait()

    task = asyncio.create_task(short_session())
    await registered.wait()
    drain = asyncio.create_task(tracker.drain(grace_s=60.0))
    while tracker.accepting:  # drain has started
        await asyncio.sleep(0)
    assert not drain.done()  # it waits for the open session
    release.set()
    await asyncio.wait_for(drain, 30)
    await task
    assert closed == [] and tracker.active == 0
    with pytest.raises(SessionRejected) as info:
        tracker.register("late", close_cb)
    assert info.value.code == "server_shutting_down"


async def test_drain_closes_sessions_after_the_grace_period() -> None:
    tracker = SessionTracker(max_sessions=4)
    reasons: list[str] = []
    stop = asyncio.Event()
    registered = asyncio.Event()

    async def close_cb(reason: str) -> None:
        reasons.append(reason)
        stop.set()

    async def long_session() -> None:
        async with tracker.session("slow", close_cb):
            registered.set()
            await stop.wait()

    task = asyncio.create_task(long_session())
    await registered.wait()
    await asyncio.wait_for(tracker.drain(grace_s=0.2, reason="server shutting down"), 30)
    await task
    assert reasons == ["server shutting down"]  # the session did not end on its own: drain closed it
    assert tracker.active == 0
