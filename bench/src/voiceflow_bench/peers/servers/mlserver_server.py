"""Seldon MLServer serving the ONNX file through ``mlserver_runtime.OrtRuntime``: writes ``settings.json`` and the
model's ``model-settings.json`` into a work folder, then runs ``mlserver start`` there (in this process).

Run by the mlserver venv's interpreter:  python mlserver_server.py --model M.onnx --name N --port P --grpc-port G
--metrics-port Q --input I --output O --work DIR [--max-batch B]. Everything binds 127.0.0.1; ``parallel_workers``
is 0 (inference on the server's event loop): with the default 1 the worker pool crashes under uvloop.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--model", "--name", "--input", "--output", "--work"):
        parser.add_argument(flag, required=True)
    for flag in ("--port", "--grpc-port", "--metrics-port"):
        parser.add_argument(flag, type=int, required=True)
    parser.add_argument("--max-batch", type=int, default=0)
    args = parser.parse_args()
    work = Path(args.work)
    model_dir = work / args.name
    model_dir.mkdir(parents=True, exist_ok=True)
    for module in ("mlserver_runtime.py", "ort_session.py"):
        shutil.copy(HERE / module, model_dir / module)
    settings = {
        "host": "127.0.0.1",
        "http_port": args.port,
        "grpc_port": args.grpc_port,
        "metrics_port": args.metrics_port,
        "parallel_workers": 0,
        "debug": False,
    }
    model_settings = {
        "name": args.name,
        "implementation": "mlserver_runtime.OrtRuntime",
        "parameters": {"uri": str(Path(args.model).resolve()), "extra": {"input": args.input, "output": args.output}},
    }
    if args.max_batch > 1:
        model_settings.update({"max_batch_size": args.max_batch, "max_batch_time": 0.001})
    (work / "settings.json").write_text(json.dumps(settings))
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings))
    from mlserver.cli.main import main as mlserver_main  # the peer's own CLI, imported once its folder exists

    sys.argv = ["mlserver", "start", str(work)]
    mlserver_main()


if __name__ == "__main__":
    main()
