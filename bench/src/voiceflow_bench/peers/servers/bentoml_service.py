"""BentoML (1.4 SDK) serving the ONNX file: one ``@bentoml.service`` class, ``POST /infer`` with the JSON body
``{"audio": base64 of the float32 window bytes, "shape": [B, N]}`` (the same body LitServe gets), answered with
``{"probabilities": base64 float32, "shape": [...]}``.

Started by ``bentoml serve bentoml_service:OrtService --host 127.0.0.1 --port P`` in this folder; the model and tensor
names come from PEER_MODEL / PEER_INPUT / PEER_OUTPUT and the worker count from PEER_WORKERS.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import bentoml
import numpy as np
from ort_session import create_session


@bentoml.service(
    workers=int(os.environ.get("PEER_WORKERS", "1")),
    traffic={"timeout": 30},
    logging={"access": {"enabled": False}},  # no access log (ours runs without one too)
)
class OrtService:
    """One ONNX Runtime session per worker process."""

    def __init__(self) -> None:
        self.session = create_session(os.environ["PEER_MODEL"])
        self.input_name = os.environ["PEER_INPUT"]
        self.output_name = os.environ["PEER_OUTPUT"]

    @bentoml.api  # type: ignore[misc,untyped-decorator]
    def infer(self, audio: str, shape: list[int]) -> dict[str, Any]:
        data = np.frombuffer(base64.b64decode(audio), dtype="<f4").reshape(shape)
        (probs,) = self.session.run([self.output_name], {self.input_name: data})
        probs = np.asarray(probs, dtype="<f4")
        return {"probabilities": base64.b64encode(probs.tobytes()).decode(), "shape": list(probs.shape)}
