"""A minimal keep-alive HTTP/1.1 client on asyncio streams, and the request bodies the benchmarks send.

The load generator shares the machine's cores with the server, so it must be as cheap as possible per request: this
client writes a pre-built request and reads one Content-Length response, nothing else (no pooling, no redirects).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import numpy as np
import orjson

from voiceflow_contract.spec import PROBABILITIES_OUTPUT

HEADER_LENGTH = "Inference-Header-Content-Length"


class HttpError(RuntimeError):
    """The server answered something this client cannot read, or the connection broke."""


@dataclass(frozen=True)
class Request:
    """A fully serialised request (head + body), sent as is."""

    method: str
    path: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self, host: str) -> bytes:
        """The request bytes for ``host``."""
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(self.body)}"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(frozen=True)
class Response:
    """Status, lower-cased headers and body of one response."""

    status: int
    headers: dict[str, str]
    body: bytes


class RawHttpConnection:
    """One keep-alive connection to ``127.0.0.1:port``; reconnects after an error."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, payload: bytes) -> Response:
        """Send a pre-encoded request, return the response. Raises HttpError (the connection is then reset)."""
        try:
            if self._writer is None or self._reader is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._writer.write(payload)
            head = await self._reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in header_lines:
                if ":" in line:
                    key, value = line.split(":", 1)
                    headers[key.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = await self._reader.readexactly(length) if length else b""
            return Response(int(status_line.split()[1]), headers, body)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as exc:
            await self.close()
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        """Close the socket (if open)."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def rest_request(batch: np.ndarray) -> Request:
    """``POST /infer`` with the windows as JSON."""
    body = orjson.dumps({"audio": batch.astype(np.float32).tolist()})
    return Request("POST", "/infer", body, (("Content-Type", "application/json"),))


def oip_binary_request(model: str, batch: np.ndarray) -> Request:
    """``POST /v2/models/{model}/infer`` with the binary tensor extension (what tritonclient sends)."""
    data = np.ascontiguousarray(batch, dtype="<f4")
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "audio",
                    "shape": list(data.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": data.nbytes},
                }
            ],
            "outputs": [{"name": PROBABILITIES_OUTPUT, "parameters": {"binary_data": True}}],
        }
    )
    return Request("POST", f"/v2/models/{model}/infer", header + data.tobytes(), ((HEADER_LENGTH, str(len(header))),))


__all__ = ["HttpError", "RawHttpConnection", "Request", "Response", "oip_binary_request", "rest_request"]
