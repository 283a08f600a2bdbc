"""The MLServer custom runtime for an ONNX file (MLServer ships none): a tiny ``mlserver.MLModel`` subclass.

MLServer imports it by name (``"implementation": "mlserver_runtime.OrtRuntime"``) from the model folder that
``mlserver_server.py`` writes; ``parameters.uri`` is the ONNX file, ``parameters.extra`` names the tensors.
"""

from __future__ import annotations

from typing import Any

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from ort_session import create_session


class OrtRuntime(MLModel):  # type: ignore[misc]
    """One ONNX Runtime session; the first input in, the configured output back (OIP v2)."""

    async def load(self) -> bool:
        params = self.settings.parameters
        extra: dict[str, Any] = params.extra or {}
        self.input_name: str = extra["input"]
        self.output_name: str = extra["output"]
        self.session = create_session(str(params.uri))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        audio = NumpyCodec.decode_input(payload.inputs[0])
        (probs,) = self.session.run([self.output_name], {self.input_name: audio})
        return InferenceResponse(
            model_name=self.name,
            id=payload.id,
            outputs=[NumpyCodec.encode_output(name=self.output_name, payload=probs)],
        )
