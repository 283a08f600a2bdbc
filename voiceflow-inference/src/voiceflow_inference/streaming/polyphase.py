"""Polyphase FIR resampling in numpy: the output of ``scipy.signal.resample_poly`` without scipy in the image.

:func:`kaiser_lowpass` designs the filter ``scipy.signal.firwin(n, cutoff, window=("kaiser", beta))`` designs, and
:func:`resample_poly` upsamples by ``up``, filters and downsamples by ``down`` exactly as ``resample_poly`` does with
an explicit window (zero padding at both ends, output length ``ceil(len(x) * up / down)``), computing only the output
samples it keeps (one dot product of ``len(taps) / up`` taps each).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Float64Array = npt.NDArray[np.float64]


def kaiser_lowpass(numtaps: int, cutoff: float, beta: float) -> Float64Array:
    """Linear-phase low-pass FIR (cutoff as a fraction of Nyquist), Kaiser-windowed, unit gain at DC."""
    m = np.arange(numtaps, dtype=np.float64) - (numtaps - 1) / 2.0
    taps = cutoff * np.sinc(cutoff * m) * np.kaiser(numtaps, beta)
    return np.asarray(taps / taps.sum(), dtype=np.float64)


def _output_len(len_h: int, n_in: int, up: int, down: int) -> int:
    total = (n_in + (len_h + (-len_h % up)) // up - 1) * up
    return -(-total // down)


def resample_poly(x: npt.ArrayLike, up: int, down: int, taps: Float64Array) -> Float64Array:
    """Resample the 1-D signal ``x`` by ``up / down`` with the odd-length FIR ``taps`` (as scipy does)."""
    signal = np.asarray(x, dtype=np.float64)
    n_in = signal.size
    n_out = -(-(n_in * up) // down)
    if n_in == 0:
        return np.zeros(0, dtype=np.float64)
    half_len = (taps.size - 1) // 2
    h = taps.astype(np.float64) * up
    n_pre_pad = down - half_len % down
    n_pre_remove = (half_len + n_pre_pad) // down
    n_post_pad = 0
    while _output_len(h.size + n_pre_pad + n_post_pad, n_in, up, down) < n_out + n_pre_remove:
        n_post_pad += 1
    h = np.concatenate([np.zeros(n_pre_pad), h, np.zeros(n_post_pad)])
    h = np.concatenate([h, np.zeros(-h.size % up)])  # whole phases: column p holds taps p, p + up, ...
    per_phase = h.size // up
    phases = h.reshape(per_phase, up)
    # Output k of the upsampled-filtered-downsampled signal sits at upsampled index t = k * down:
    # y[k] = sum_i h[t % up + i * up] * x[t // up - i].
    t = (np.arange(n_pre_remove, n_pre_remove + n_out, dtype=np.int64)) * down
    base, phase = t // up, t % up
    idx = base[:, None] - np.arange(per_phase, dtype=np.int64)[None, :]
    padded = np.concatenate([np.zeros(per_phase), signal, np.zeros(per_phase)])
    pos = idx + per_phase
    valid = (idx >= 0) & (idx < n_in)
    gathered = np.where(valid, padded[np.clip(pos, 0, padded.size - 1)], 0.0)
    return np.asarray(np.einsum("ki,ki->k", gathered, phases[:, phase].T), dtype=np.float64)


__all__ = ["kaiser_lowpass", "resample_poly"]
