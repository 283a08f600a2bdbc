"""ASGI middleware that refuses oversized HTTP bodies with 413 JSON before any route parses them.

A declared Content-Length above the limit is refused at once; a chunked body is counted as it streams and refused
as soon as it crosses the limit, so a huge body or JSON bomb never reaches a parser.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a streamed body crosses the limit; an HTTPException so that FastAPI's own body
    reading re-raises it and the JSON error handler renders 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"body exceeds {limit} bytes")


class BodySizeLimitMiddleware:
    """Refuse HTTP bodies larger than ``max_body_bytes`` with ``413 {"error": ..., "code": "body_too_large"}``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reply(send, 400, "invalid_content_length", "Content-Length is not an integer")
                    return
                if declared > limit:
                    await self._reply(send, 413, "body_too_large", f"body of {declared} bytes exceeds {limit} bytes")
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await self._reply(send, 413, "body_too_large", f"body exceeds {limit} bytes")

    @staticmethod
    async def _reply(send: Send, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message, "code": code}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


__all__ = ["BodySizeLimitMiddleware", "BodyTooLargeError"]
