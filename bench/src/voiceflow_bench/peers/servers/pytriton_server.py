"""Triton Inference Server through PyTriton (its wheel bundles tritonserver): the ONNX Runtime session as a Python
inference callable bound with Triton's dynamic batcher; Triton serves OIP v2 (binary tensors included) itself.

Run by the pytriton venv's interpreter:  python pytriton_server.py --model M.onnx --name N --port P --grpc-port G
--metrics-port Q --input I --output O [--max-batch B] [--instances K]. Everything binds 127.0.0.1. The bundled Triton
stub needs the base interpreter's libpython on LD_LIBRARY_PATH (the adapter sets it).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from ort_session import create_session
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig


def make_infer(path: str, input_name: str, output_name: str) -> Any:
    """One batched inference callable with its own session (Triton runs one per instance)."""
    session = create_session(path)

    @batch  # type: ignore[misc,untyped-decorator]
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        (probs,) = session.run([output_name], {input_name: inputs[input_name]})
        return {output_name: np.asarray(probs, dtype=np.float32)}

    return infer


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--model", "--name", "--input", "--output"):
        parser.add_argument(flag, required=True)
    for flag in ("--port", "--grpc-port", "--metrics-port"):
        parser.add_argument(flag, type=int, required=True)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--instances", type=int, default=1)
    args = parser.parse_args()
    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=args.port,
        grpc_address="127.0.0.1",
        grpc_port=args.grpc_port,
        metrics_address="127.0.0.1",
        metrics_port=args.metrics_port,
        allow_metrics=False,
        log_verbose=0,
    )
    with Triton(config=config) as triton:
        triton.bind(
            model_name=args.name,
            infer_func=[make_infer(args.model, args.input, args.output) for _ in range(args.instances)],
            inputs=[Tensor(name=args.input, dtype=np.float32, shape=(-1,))],
            outputs=[Tensor(name=args.output, dtype=np.float32, shape=(-1,))],
            config=ModelConfig(max_batch_size=args.max_batch, batcher=DynamicBatcher(max_queue_delay_microseconds=0)),
            strict=False,
        )
        triton.serve()


if __name__ == "__main__":
    main()
