"""Graceful shutdown of streaming sessions under uvicorn.

uvicorn reacts to SIGTERM by closing every WebSocket at once with 1012 and only then runs the lifespan shutdown, so
a drain in the lifespan comes too late. :func:`install_signal_drain` (called from the lifespan startup, i.e. while
uvicorn's own handlers are installed) wraps those handlers: the first SIGTERM/SIGINT stops new sessions, lets open
ones finish for up to the grace period, closes the rest with 1001 "server shutting down", and only then hands the
signal to uvicorn, which exits. A second signal is passed on at once (uvicorn's force-exit behaviour).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from voiceflow_inference.streaming.session_tracker import SessionTracker

logger = logging.getLogger(__name__)

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def session_grace(grace_s: float) -> float:
    """How long sessions may keep running: the grace period minus a margin (at most 1 s, 20 %) for closing them
    and exiting, so that the process is gone within `grace_s` of the signal."""
    return max(0.0, grace_s - min(1.0, 0.2 * grace_s))


def _forward(sig: int, previous: Any, frame: FrameType | None) -> None:
    """Deliver `sig` to the handler that was installed before ours."""
    if callable(previous) and previous is not signal.default_int_handler:
        previous(sig, frame)
        return
    # SIG_DFL / SIG_IGN / Python's KeyboardInterrupt handler: restore it and re-raise the signal.
    signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
    signal.raise_signal(sig)


def install_signal_drain(
    tracker: SessionTracker,
    grace_s: float,
    *,
    on_drain_start: Callable[[], None] | None = None,
) -> Callable[[], None]:
    """Drain `tracker` on the first SIGTERM/SIGINT, then pass the signal on; the process exits within `grace_s`.

    Sessions get `session_grace(grace_s)` to finish on their own; the rest of the grace period covers closing them.

    Must be called from the event loop in the main thread (a no-op elsewhere, e.g. uvicorn in a test thread).
    `on_drain_start` runs when draining begins (e.g. mark the service unready). Returns a function that restores
    the previous handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    draining = False
    tasks: set[asyncio.Task[None]] = set()

    async def drain_then_forward(sig: int) -> None:
        try:
            await tracker.drain(session_grace(grace_s))
        except Exception:
            logger.exception("draining streaming sessions failed")
        finally:
            _forward(sig, previous[sig], None)

    def start_drain(sig: int) -> None:
        task = loop.create_task(drain_then_forward(sig))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def handler(sig: int, frame: FrameType | None) -> None:
        nonlocal draining
        if draining:
            _forward(sig, previous[sig], frame)
            return
        draining = True
        logger.info("signal %s: draining %d streaming session(s) for up to %.1f s", sig, tracker.active, grace_s)
        tracker.accepting = False  # at once, not when the loop gets to the task
        if on_drain_start is not None:
            on_drain_start()
        loop.call_soon_threadsafe(start_drain, sig)

    for sig in HANDLED_SIGNALS:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, prev in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, prev)

    return restore


__all__ = ["HANDLED_SIGNALS", "install_signal_drain", "session_grace"]
