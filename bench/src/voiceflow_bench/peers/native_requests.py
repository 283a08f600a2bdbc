"""The request bodies of the peers that do not take binary OIP, built from the same float32 window bytes: OIP v2 JSON
(MLServer refuses the binary extension) and a JSON body carrying the bytes base64-encoded (LitServe, BentoML)."""

from __future__ import annotations

import base64

import numpy as np
import orjson

from voiceflow_bench.serving.http_client import Request
from voiceflow_contract.spec import INPUT_NAME

JSON = (("Content-Type", "application/json"),)


def oip_json_request(model: str, batch: np.ndarray) -> Request:
    """``POST /v2/models/{model}/infer`` with the tensor inline as a JSON list (pre-serialised once)."""
    data = np.ascontiguousarray(batch, dtype="<f4")
    body = orjson.dumps(
        {"inputs": [{"name": INPUT_NAME, "shape": list(data.shape), "datatype": "FP32", "data": data.ravel().tolist()}]}
    )
    return Request("POST", f"/v2/models/{model}/infer", body, JSON)


def base64_json_request(path: str, batch: np.ndarray) -> Request:
    """``POST path`` with ``{"audio": base64 of the float32 bytes, "shape": [B, N]}``."""
    data = np.ascontiguousarray(batch, dtype="<f4")
    body = orjson.dumps({"audio": base64.b64encode(data.tobytes()).decode(), "shape": list(data.shape)})
    return Request("POST", path, body, JSON)


__all__ = ["base64_json_request", "oip_json_request"]
