"""ONNX Runtime session wrapper: one verified model.onnx, its graph's input/output names, warm-up, batched runs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

from voiceflow_inference.batching import MicroBatcher
from voiceflow_inference.config import BatchingSettings

logger = logging.getLogger(__name__)

WINDOW_SAMPLES = 48000
PROBABILITIES_OUTPUT = "speaker_embeddings"
EMBEDDING_OUTPUT = "embedding"


class InputError(ValueError):
    """The audio handed to the engine breaks the contract (shape, dtype, NaN/Inf); the message says which rule."""


def check_audio(audio: np.ndarray, max_batch: int | None = None) -> np.ndarray:
    """Return ``audio`` as contiguous float32 [B, 48000] or raise InputError naming the broken rule."""
    if audio.ndim != 2 or audio.shape[1] != WINDOW_SAMPLES:
        raise InputError(f"audio.shape: expected [batch, {WINDOW_SAMPLES}], got {list(audio.shape)}")
    if audio.shape[0] < 1:
        raise InputError("audio.batch: at least one window is required")
    if max_batch is not None and audio.shape[0] > max_batch:
        raise InputError(f"audio.batch: {audio.shape[0]} windows exceed the limit of {max_batch}")
    if not np.issubdtype(audio.dtype, np.floating):
        raise InputError(f"audio.dtype: expected float32, got {audio.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow to Inf is reported below, not warned about
        data = np.ascontiguousarray(audio, dtype=np.float32)
    if not np.isfinite(data).all():
        raise InputError("audio.values: NaN or Inf (or a value beyond float32 range) is not allowed")
    return data


class InferenceEngine:
    """An ONNX Runtime session for one contract model.

    ``run`` is safe to call concurrently from a thread pool (ONNX Runtime sessions are thread-safe for ``run``).
    With ``batching`` enabled, concurrent ``run`` calls are merged into batches (voiceflow_inference.batching).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
        batching: BatchingSettings | None = None,
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = set(ort.get_available_providers())
        chosen = [p for p in providers if p in available] or ["CPUExecutionProvider"]
        if len(chosen) < len(providers):
            logger.warning("providers %s not available here; using %s", list(providers), chosen)
        self.path = Path(path)
        self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=chosen)
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise InputError(f"model has {len(inputs)} inputs; the contract allows exactly one")
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
            return {"tensor(float)": "FP32", "tensor(float16)": "FP16", "tensor(double)": "FP64"}.get(
                type_str, type_str
            )

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
        """Run float32 audio [B, 48000]; returns every graph output by name. Raises InputError on bad audio."""
        data = check_audio(audio)
        if self.batcher is not None:
            return self.batcher.run(data)
        return self._run_session(data)

    def _run_session(self, data: np.ndarray) -> dict[str, np.ndarray]:
        results = self.session.run(None, {self.input_name: data})
        return {name: np.asarray(value) for name, value in zip(self.output_names, results, strict=True)}

    def warm_up(self, runs: int = 3) -> None:
        """Run a few batches so the first real request does not pay for lazy initialisation."""
        rng = np.random.default_rng(0)
        for i in range(runs):
            batch = 1 if i % 2 == 0 else 2
            self.run((rng.standard_normal((batch, WINDOW_SAMPLES)) * 0.1).astype(np.float32))


__all__ = ["EMBEDDING_OUTPUT", "PROBABILITIES_OUTPUT", "WINDOW_SAMPLES", "InferenceEngine", "InputError", "check_audio"]
