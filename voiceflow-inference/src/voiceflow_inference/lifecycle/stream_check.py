"""The last load-time check: a few seconds of synthetic audio through the real streaming pipeline
(:class:`~voiceflow_inference.streaming.diarization_session.DiarizationSession`: decode, windows, VAD, inference,
online clustering, finalize), so a model whose outputs or metadata the clusterer cannot use never serves."""

from __future__ import annotations

import numpy as np

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_inference.streaming.diarization_session import DiarizationSession, PinnedModel, SessionOptions
from voiceflow_inference.streaming.messages import StartMessage

CHECK_SECONDS = 3.0


class StreamCheckError(RuntimeError):
    """The model (with its metadata) fails the streaming pipeline; the message says where."""


def synthetic_speech(seconds: float = CHECK_SECONDS, seed: int = 0) -> np.ndarray:
    """Two alternating harmonic 'voices' with a little noise, float32 at SAMPLE_RATE (loud enough for the VAD)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    low = sum(np.sin(2 * np.pi * 150.0 * h * t) / h for h in (1, 2, 3))
    high = sum(np.sin(2 * np.pi * 1700.0 * h * t) / h for h in (1, 2))
    voice = np.where((t // 1.0) % 2 == 0, low, high)
    return (0.2 * voice + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def check_stream(model: PinnedModel, *, max_batch: int) -> None:
    """Stream :func:`synthetic_speech` through a session pinned to ``model`` and finalize it."""
    try:
        session = DiarizationSession(
            session_id="load-check",
            start=StartMessage(),
            model=model,
            options=SessionOptions(max_batch=max_batch),
        )
        audio = synthetic_speech().astype("<f4").tobytes()
        step = SAMPLE_RATE * 4  # 1 s frames
        for lo in range(0, len(audio), step):
            session.process(audio[lo : lo + step])
        session.finish()
    except Exception as exc:  # anything the pipeline raises refuses the model
        raise StreamCheckError(f"{type(exc).__name__}: {exc}") from exc


__all__ = ["CHECK_SECONDS", "StreamCheckError", "check_stream", "synthetic_speech"]
