"""`POST /infer` codec: the raw JSON body -> (request, audio array), and the response -> JSON bytes.

The body is parsed here (not by FastAPI) so that size, batch and NaN/Inf rules give clear 4xx errors fast. The
window contents (shape, dtype, NaN/Inf, float32 range) are checked once, by the engine
(:func:`voiceflow_inference.runtime.audio_input.check_audio`); this codec only turns JSON rows into a
[windows, samples] array, which needs every row to hold exactly one window of samples.
"""

from __future__ import annotations

import numpy as np
import orjson
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from voiceflow_contract.spec import SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS
from voiceflow_inference.errors import ServiceError
from voiceflow_inference.protocol.rest.types import InferRequest, InferResponse
from voiceflow_inference.request_body.json_body import OFFLOAD_BYTES, check_json_budget, float_rows

_WINDOW_TEXT = f"{WINDOW_SECONDS:g} s at {SAMPLE_RATE // 1000:g} kHz"


def _parse(raw: bytes, max_batch: int) -> tuple[InferRequest, np.ndarray | None]:
    """Size, batch and field rules on the raw body; returns the request and, on the fast path, the audio as numpy."""
    # A valid body has one object, one list and max_batch rows of WINDOW_SAMPLES numbers (+ a few fields).
    check_json_budget(raw, max_containers=2 * max_batch + 64, max_values=max_batch * WINDOW_SAMPLES + 1024)
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ServiceError(400, "invalid_json", f"body is not valid JSON (NaN/Infinity are not JSON): {exc}") from None
    if not isinstance(payload, dict):
        raise ServiceError(422, "invalid_request", "body must be a JSON object with an 'audio' field")
    windows = payload.get("audio")
    if isinstance(windows, list) and len(windows) > max_batch:
        raise ServiceError(413, "batch_too_large", f"audio: {len(windows)} windows exceed max_batch={max_batch}")
    if isinstance(windows, list):
        for i, row in enumerate(windows):
            if isinstance(row, list) and len(row) != WINDOW_SAMPLES:
                raise ServiceError(
                    400,
                    "invalid_input",
                    f"audio[{i}]: expected {WINDOW_SAMPLES} samples ({_WINDOW_TEXT}), got {len(row)}",
                )
    # The common case (every row exactly WINDOW_SAMPLES numbers) goes straight to numpy; pydantic then checks only the
    # other fields, against a one-sample stand-in. Anything else takes the full pydantic path for its exact error.
    rows = float_rows(windows, WINDOW_SAMPLES)
    try:
        body = InferRequest.model_validate(payload if rows is None else {**payload, "audio": [[0.0]]})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"][:3])
        raise ServiceError(422, "invalid_request", f"{loc}: {first['msg']} ({exc.error_count()} error(s))") from None
    return body, rows


async def decode_request(raw: bytes, max_batch: int) -> tuple[InferRequest, np.ndarray]:
    """The request and its windows as a [windows, WINDOW_SAMPLES] array (float64; the engine checks and converts it).

    Raises:
        ServiceError: 400 (not JSON, too complex, a row that is not one window, sample_rate), 413 (batch), 422.
    """
    # Megabytes of JSON take tens of ms to check and parse: off the event loop, so streams and other requests flow.
    if len(raw) > OFFLOAD_BYTES:
        body, rows = await run_in_threadpool(_parse, raw, max_batch)
    else:
        body, rows = _parse(raw, max_batch)
    if body.sample_rate != SAMPLE_RATE:
        raise ServiceError(
            400, "invalid_input", f"sample_rate: must be {SAMPLE_RATE}, got {body.sample_rate} (resample first)"
        )
    audio = np.asarray(body.audio, dtype=np.float64) if rows is None else rows
    return body, audio


def encode_response(response: InferResponse) -> bytes:
    """The response body as JSON bytes."""
    return orjson.dumps(response.model_dump())


__all__ = ["decode_request", "encode_response"]
