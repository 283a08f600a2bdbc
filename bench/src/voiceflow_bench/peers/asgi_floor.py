"""The smallest ASGI app that answers a binary-OIP infer request on uvicorn: read the body, run the session in a
worker thread (as every Python server must, to keep the event loop free), reply with a small JSON. No routing,
validation, metrics, A/B or reload: the floor any uvicorn-based server pays on this machine, measured beside ours
by :mod:`voiceflow_bench.peers.worker_probe`.

    VOICEFLOW_FLOOR_MODEL=model.onnx uvicorn voiceflow_bench.peers.asgi_floor:app --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
import numpy as np

from voiceflow_contract.runtime import create_session

MODEL_ENV = "VOICEFLOW_FLOOR_MODEL"
HEADER_LENGTH = b"inference-header-content-length"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_session: Any = None


async def _reply(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI entry point: lifespan loads the session; ``.../ready`` answers 200; any other request is an infer."""
    global _session
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            _session = create_session(os.environ[MODEL_ENV])
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"].endswith("/ready"):
        await _reply(send, 200, b"{}")
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    header_length = int(dict(scope["headers"]).get(HEADER_LENGTH, b"0"))
    audio = np.frombuffer(body, dtype=np.float32, offset=header_length).reshape(1, -1)
    session = _session
    name = session.get_inputs()[0].name
    outputs = await anyio.to_thread.run_sync(lambda: session.run(None, {name: audio}))
    embedding = outputs[0]
    reply = {"outputs": [{"name": "embedding", "datatype": "FP32", "shape": list(embedding.shape)}]}
    reply["outputs"][0]["data"] = embedding.ravel().tolist()
    await _reply(send, 200, json.dumps(reply).encode())


__all__ = ["MODEL_ENV", "app"]
