"""The audio a model accepts: float32 windows ``[batch, WINDOW_SAMPLES]``, finite, within the batch limit."""

from __future__ import annotations

import numpy as np

from voiceflow_contract.spec import WINDOW_SAMPLES


class InputError(ValueError):
    """The audio handed to the engine breaks the contract (shape, dtype, NaN/Inf); the message says which rule."""


def check_audio(audio: np.ndarray, max_batch: int | None = None) -> np.ndarray:
    """Return ``audio`` as contiguous float32 [B, WINDOW_SAMPLES] or raise InputError naming the broken rule."""
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


__all__ = ["InputError", "check_audio"]
