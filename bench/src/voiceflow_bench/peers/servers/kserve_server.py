"""KServe's Python model server (``kserve.ModelServer``) serving the ONNX file through a ``kserve.Model`` subclass.

Run by the kserve venv's interpreter:  python kserve_server.py --model M.onnx --name N --port P --input I --output O
[--workers W]. KServe binds 0.0.0.0 with no option to change it, so uvicorn's Config is pinned to 127.0.0.1 here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import uvicorn

_config_init = uvicorn.Config.__init__


def _loopback_config(self: Any, *args: Any, **kwargs: Any) -> None:
    kwargs["host"] = "127.0.0.1"  # every uvicorn server KServe builds listens on loopback only
    _config_init(self, *args, **kwargs)


uvicorn.Config.__init__ = _loopback_config  # type: ignore[method-assign]

from kserve import Model, ModelServer  # noqa: E402  (after the loopback patch)
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse  # noqa: E402
from ort_session import create_session  # noqa: E402

# No access log or per-request trace lines (the VoiceFlow server runs without its access log too).
for _quiet in ("uvicorn.access", "kserve.trace"):
    logging.getLogger(_quiet).setLevel(logging.WARNING)


class OrtModel(Model):  # type: ignore[misc]
    """One ONNX model; v2 infer in, the requested output back as binary tensor data."""

    def __init__(self, name: str, path: str, input_name: str, output_name: str) -> None:
        super().__init__(name)
        self.path, self.input_name, self.output_name = path, input_name, output_name
        self.session: Any = None

    def load(self) -> bool:
        self.session = create_session(self.path)
        self.ready = True
        return True

    def __getstate__(self) -> dict[str, Any]:
        # KServe's multi-worker server pickles the registered models into each spawned worker: ship the path, and
        # let every worker open its own session.
        state = dict(self.__dict__)
        state["session"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.session = create_session(self.path)

    def predict(self, payload: InferRequest, headers: Any = None, response_headers: Any = None) -> InferResponse:
        audio = payload.inputs[0].as_numpy()
        (probs,) = self.session.run([self.output_name], {self.input_name: audio})
        output = InferOutput(name=self.output_name, shape=list(probs.shape), datatype="FP32")
        output.set_data_from_numpy(probs, binary_data=True)
        return InferResponse(model_name=self.name, infer_outputs=[output], response_id=payload.id or "0")


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--model", "--name", "--input", "--output"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args, _ = parser.parse_known_args()
    sys.argv = sys.argv[:1]  # kserve parses sys.argv itself
    model = OrtModel(args.name, args.model, args.input, args.output)
    model.load()
    server = ModelServer(http_port=args.port, workers=args.workers, enable_grpc=False, enable_latency_logging=False)
    server.start([model])


if __name__ == "__main__":
    main()
