"""Cutting a signal into the overlapping windows the model sees."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voiceflow_contract.diarization.errors import DiarizationError

FloatArray = npt.NDArray[np.float64]


def frame_audio(
    audio: npt.ArrayLike, sample_rate: int, window_s: float = 1.0, hop_s: float = 0.5
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.float32]]:
    """Cut ``audio`` into windows: (starts_s, ends_s, windows[N, window_samples] float32).

    Windows start every ``hop_s``; the last one is zero-padded to full length but its end is clipped to the audio, so
    no turn extends beyond the recording. Audio shorter than a window gives one padded window.
    """
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate <= 0:
        raise DiarizationError(f"sample_rate: must be positive, got {sample_rate}")
    if samples.size == 0:
        raise DiarizationError("audio: is empty")
    win = round(window_s * sample_rate)
    hop = round(hop_s * sample_rate)
    if win <= 0 or hop <= 0:
        raise DiarizationError(f"window_s/hop_s: must give at least one sample, got {window_s}, {hop_s}")
    n_windows = 1 + max(0, int(np.ceil((samples.size - win) / hop)))
    padded = np.zeros((n_windows - 1) * hop + win, dtype=np.float32)
    padded[: samples.size] = samples
    index = np.arange(n_windows)[:, None] * hop + np.arange(win)[None, :]
    starts = np.arange(n_windows, dtype=np.float64) * hop / sample_rate
    ends = np.minimum(starts + win / sample_rate, samples.size / sample_rate)
    return starts, ends, padded[index]
