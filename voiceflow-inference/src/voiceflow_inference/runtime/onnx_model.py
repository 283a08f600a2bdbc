"""ONNX Runtime session wrapper: one verified model.onnx, its graph's input/output names, warm-up, batched runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voiceflow_contract.runtime import CPU_PROVIDER, create_session
from voiceflow_contract.spec import EMBEDDING_OUTPUT, PROBABILITIES_OUTPUT, WINDOW_SAMPLES
from voiceflow_inference.config import BatchingSettings
from voiceflow_inference.runtime.audio_input import InputError, check_audio
from voiceflow_inference.runtime.memory_arena import capped_arena_entries
from voiceflow_inference.runtime.micro_batcher import MicroBatcher

#: Open Inference Protocol datatypes by ONNX Runtime's type string (``NodeArg.type``).
OIP_DATATYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


class InferenceEngine:
    """An ONNX Runtime session for one contract model.

    ``run`` is safe to call concurrently from a thread pool (ONNX Runtime sessions are thread-safe for ``run``).
    With ``batching`` enabled, concurrent ``run`` calls are merged into batches
    (:mod:`voiceflow_inference.runtime.micro_batcher`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        providers: Sequence[str] = (CPU_PROVIDER,),
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
        batching: BatchingSettings | None = None,
        arena_max_mb: int = 0,
    ) -> None:
        self.path = Path(path)
        self.session = create_session(
            self.path,
            intra_op_threads=intra_op_threads,
            inter_op_threads=inter_op_threads,
            providers=providers,
            config_entries=capped_arena_entries(arena_max_mb),
        )
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise InputError(f"model has {len(inputs)} inputs; the contract allows exactly one")
        # The graph's own name: the validator has checked it is the contract's INPUT_NAME for every served model;
        # benchmarks and tests also run unvalidated single-input graphs through this class.
        self.input_name: str = inputs[0].name
        self.output_names: list[str] = [o.name for o in self.session.get_outputs()]
        self.probabilities_name = (
            PROBABILITIES_OUTPUT if PROBABILITIES_OUTPUT in self.output_names else self.output_names[0]
        )
        self.embedding_name: str | None = EMBEDDING_OUTPUT if EMBEDDING_OUTPUT in self.output_names else None
        self.providers: list[str] = list(self.session.get_providers())
        self.batcher: MicroBatcher | None = None
        if batching is not None and batching.enabled:
            self.batcher = MicroBatcher(
                self._run_session,
                max_batch=batching.max_batch,
                max_delay_ms=batching.max_delay_ms,
                max_concurrent=batching.max_concurrent,
            )

    def describe(self) -> dict[str, list[dict[str, object]]]:
        """Graph inputs and outputs as ``{"inputs": [{name, datatype, shape}], "outputs": [...]}`` (-1 = dynamic)."""

        def _shape(dims: Sequence[object]) -> list[int]:
            return [d if isinstance(d, int) else -1 for d in dims]

        def _dtype(type_str: str) -> str:
            return OIP_DATATYPES.get(type_str, type_str)

        return {
            "inputs": [
                {"name": i.name, "datatype": _dtype(i.type), "shape": _shape(i.shape)}
                for i in self.session.get_inputs()
            ],
            "outputs": [
                {"name": o.name, "datatype": _dtype(o.type), "shape": _shape(o.shape)}
                for o in self.session.get_outputs()
            ],
        }

    def run(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        """Run float32 audio [B, WINDOW_SAMPLES]; returns every graph output by name. Raises InputError on bad
        audio."""
        return self.execute(check_audio(audio))[0]

    def execute(self, data: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
        """Run audio that :func:`~voiceflow_inference.runtime.audio_input.check_audio` has already accepted; returns
        the outputs and the executions this call stands for (1; with micro-batching 0 when it joined another
        caller's batch)."""
        if self.batcher is not None:
            outputs, head = self.batcher.run_counted(data)
            return outputs, int(head)
        return self._run_session(data), 1

    def _run_session(self, data: np.ndarray) -> dict[str, np.ndarray]:
        results = self.session.run(None, {self.input_name: data})
        return {name: np.asarray(value) for name, value in zip(self.output_names, results, strict=True)}

    def warm_up(self, runs: int = 3) -> None:
        """Run a few batches so the first real request does not pay for lazy initialisation."""
        rng = np.random.default_rng(0)
        for i in range(runs):
            batch = 1 if i % 2 == 0 else 2
            self.run((rng.standard_normal((batch, WINDOW_SAMPLES)) * 0.1).astype(np.float32))


__all__ = ["InferenceEngine"]
