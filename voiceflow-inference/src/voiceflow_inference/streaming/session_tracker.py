"""Tracks open streaming sessions so shutdown can stop accepting, let them finish, then close them with a reason.

The WebSocket handler (streaming/handler.py) registers each session here (``app.state.sessions``)::

    tracker: SessionTracker = websocket.app.state.sessions
    try:
        async with tracker.session(session_id, close=my_close_coroutine):
            ...  # stream; ``tracker.accepting`` turns False when the server starts draining
    except SessionRejected as exc:
        ...  # exc.code is "server_shutting_down" or "too_many_sessions"

``close`` is ``async def close(reason: str) -> None``: it must send the client a clear message and close the socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

CloseCallback = Callable[[str], Awaitable[None]]


class SessionRejected(Exception):  # noqa: N818 (public name used by the WebSocket handler)
    """A new session was refused; ``code`` is machine readable, the message is for humans."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Session:
    session_id: str
    close: CloseCallback
    client: str | None = None
    started: float = field(default_factory=time.monotonic)


class SessionTracker:
    """Registry of open streaming sessions with a concurrency cap, a per-client cap and a graceful drain.

    ``max_per_client`` bounds the sessions one client (its address, as the ASGI server reports it) holds at once, so a
    single client cannot take every slot; ``None`` means only the overall cap applies.
    """

    def __init__(self, max_sessions: int, max_per_client: int | None = None) -> None:
        self.max_sessions = max_sessions
        self.max_per_client = max_per_client
        self.accepting = True
        self._sessions: dict[str, _Session] = {}
        self._empty = asyncio.Event()
        self._empty.set()

    @property
    def active(self) -> int:
        """Number of open sessions."""
        return len(self._sessions)

    def ids(self) -> list[str]:
        """Ids of the open sessions."""
        return list(self._sessions)

    def held_by(self, client: str) -> int:
        """Open sessions of one client address."""
        return sum(1 for s in self._sessions.values() if s.client == client)

    def register(self, session_id: str, close: CloseCallback, client: str | None = None) -> None:
        """Add a session; raises SessionRejected while draining, at the concurrency cap, at ``client``'s cap, or for
        an id already open."""
        if not self.accepting:
            raise SessionRejected("server_shutting_down", "the server is shutting down; reconnect to another replica")
        if len(self._sessions) >= self.max_sessions:
            raise SessionRejected("too_many_sessions", f"at most {self.max_sessions} concurrent sessions are allowed")
        if client is not None and self.max_per_client is not None and self.held_by(client) >= self.max_per_client:
            raise SessionRejected(
                "too_many_sessions", f"at most {self.max_per_client} concurrent sessions per client are allowed"
            )
        if session_id in self._sessions:
            raise SessionRejected("duplicate_session", f"session id {session_id!r} is already open")
        self._sessions[session_id] = _Session(session_id, close, client)
        self._empty.clear()

    def unregister(self, session_id: str) -> None:
        """Remove a session (idempotent)."""
        self._sessions.pop(session_id, None)
        if not self._sessions:
            self._empty.set()

    @asynccontextmanager
    async def session(self, session_id: str, close: CloseCallback) -> AsyncIterator[None]:
        """Register for the duration of the ``async with`` block."""
        self.register(session_id, close)
        try:
            yield
        finally:
            self.unregister(session_id)

    async def close_all(self, reason: str) -> int:
        """Ask every open session to close with ``reason``; returns how many were asked."""
        sessions = list(self._sessions.values())
        results = await asyncio.gather(*(s.close(reason) for s in sessions), return_exceptions=True)
        for sess, result in zip(sessions, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning("closing session %s failed: %r", sess.session_id, result)
        return len(sessions)

    async def drain(self, grace_s: float, reason: str = "server shutting down") -> None:
        """Stop accepting, wait up to ``grace_s`` for sessions to end on their own, then close the rest."""
        self.accepting = False
        if not self._sessions:
            return
        logger.info("draining %d open session(s) for up to %.1f s", len(self._sessions), grace_s)
        try:
            await asyncio.wait_for(self._empty.wait(), timeout=grace_s)
        except TimeoutError:
            closed = await self.close_all(reason)
            logger.warning("grace period over: closed %d session(s): %s", closed, reason)
            # Give the handlers a moment to send their close frames and unregister.
            try:
                await asyncio.wait_for(self._empty.wait(), timeout=2.0)
            except TimeoutError:
                logger.error("%d session(s) did not close", len(self._sessions))


__all__ = ["CloseCallback", "SessionRejected", "SessionTracker"]
