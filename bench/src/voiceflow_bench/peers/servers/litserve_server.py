"""LitServe serving the ONNX file through a ``litserve.LitAPI``; ``POST /predict`` with ``{"audio": base64 of the
float32 window bytes, "shape": [B, N]}`` (LitServe hands a JSON body to ``decode_request``; raw bodies cannot cross
its worker queue), answered with ``{"probabilities": base64 float32, "shape": [...]}``.

Run by the litserve venv's interpreter:  python litserve_server.py --model M.onnx --port P --input I --output O
[--workers W] [--max-batch B]. Binds 127.0.0.1 (LitServe's default is 0.0.0.0).
"""

from __future__ import annotations

import argparse
import base64
from typing import Any

import litserve as ls
import numpy as np
from ort_session import create_session


class OrtAPI(ls.LitAPI):  # type: ignore[misc]
    """Decode the window bytes, run the session, encode the probabilities."""

    def __init__(self, path: str, input_name: str, output_name: str, max_batch: int) -> None:
        super().__init__(max_batch_size=max_batch, batch_timeout=0.001 if max_batch > 1 else 0.0)
        self.path, self.input_name, self.output_name = path, input_name, output_name
        self.session: Any = None

    def setup(self, device: str) -> None:
        self.session = create_session(self.path)

    def decode_request(self, request):  # type: ignore[no-untyped-def]  # unannotated: LitServe then parses JSON
        data = np.frombuffer(base64.b64decode(request["audio"]), dtype="<f4")
        return data.reshape(request["shape"])

    def batch(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(inputs)

    def predict(self, audio: np.ndarray) -> np.ndarray:
        (probs,) = self.session.run([self.output_name], {self.input_name: audio})
        return np.asarray(probs, dtype="<f4")

    def unbatch(self, output: np.ndarray) -> list[np.ndarray]:
        return [output[i : i + 1] for i in range(output.shape[0])]

    def encode_response(self, output: np.ndarray) -> dict[str, Any]:
        return {"probabilities": base64.b64encode(output.tobytes()).decode(), "shape": list(output.shape)}


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--model", "--input", "--output"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=1)
    args = parser.parse_args()
    api = OrtAPI(args.model, args.input, args.output, args.max_batch)
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=args.workers, fast_queue=True)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
