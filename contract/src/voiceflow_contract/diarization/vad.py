"""Energy-based voice activity detection for 1 s windows, with a spectral-flatness guard against steady noise.

Speech is bursty and harmonic: some short frames are well above the floor and those frames have a peaky spectrum.
Silence and low noise fail the energy test; loud white/steady noise passes it but its frames are spectrally flat.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from voiceflow_contract.diarization.errors import DiarizationError

FloatArray = npt.NDArray[np.float64]

_EPS = 1e-12


def _as_mono(window: npt.ArrayLike) -> FloatArray:
    # Always a private float64 copy: callers then work on it in place instead of copying again at every step.
    samples = np.array(window, dtype=np.float64, copy=True)
    if samples.ndim == 2 and 1 in samples.shape:
        samples = samples.reshape(-1)
    if samples.ndim != 1:
        raise DiarizationError(f"window: expected a 1-D mono signal, got shape {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise DiarizationError("window: contains NaN or infinite samples")
    return samples


def _frames(samples: FloatArray, sample_rate: int, frame_s: float) -> FloatArray:
    if sample_rate <= 0:
        raise DiarizationError(f"sample_rate: must be positive, got {sample_rate}")
    if frame_s <= 0:
        raise DiarizationError(f"frame_s: must be positive, got {frame_s}")
    frame_len = max(1, round(frame_s * sample_rate))
    n_frames = len(samples) // frame_len
    if n_frames == 0:
        return samples[np.newaxis, :] if len(samples) else np.zeros((0, frame_len))
    return samples[: n_frames * frame_len].reshape(n_frames, frame_len)  # a view: no copy


@functools.lru_cache(maxsize=8)
def _hann(length: int) -> FloatArray:
    # Read-only so a cached window can never be changed by a caller.
    window = np.hanning(length)
    window.flags.writeable = False
    return window


def frame_energy_db(window: npt.ArrayLike, sample_rate: int, frame_s: float = 0.02) -> FloatArray:
    """RMS level in dBFS of consecutive ``frame_s`` frames of ``window`` after removing its DC offset."""
    samples = _as_mono(window)
    if len(samples):
        samples -= samples.mean()
    frames = _frames(samples, sample_rate, frame_s)
    if frames.shape[0] == 0:
        return np.zeros(0)
    frames -= frames.mean(axis=1, keepdims=True)  # slow DC drift within the window
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return np.asarray(20.0 * np.log10(rms + _EPS), dtype=np.float64)


def speech_frames(
    window: npt.ArrayLike,
    sample_rate: int,
    threshold_db: float = -40.0,
    *,
    frame_s: float = 0.02,
    max_flatness: float = 0.35,
) -> npt.NDArray[np.bool_]:
    """Per-frame speech mask: frame level above ``threshold_db`` dBFS and spectrum less flat than ``max_flatness``."""
    # Runs once per streamed window, so it works in place on one private copy, transforms only the loud frames, and
    # takes magnitudes of the band it measures only; every step is the same float64 arithmetic as the plain form
    # (contract/tests/test_vad_fast.py keeps that form and checks the masks are identical).
    samples = _as_mono(window)
    if len(samples) == 0:
        return np.zeros(0, dtype=bool)
    samples -= samples.mean()
    frames = _frames(samples, sample_rate, frame_s)
    frames -= frames.mean(axis=1, keepdims=True)
    level = 20.0 * np.log10(np.sqrt(np.mean(np.square(frames), axis=1)) + _EPS)
    loud = level > threshold_db
    if not loud.any():
        return np.zeros(frames.shape[0], dtype=bool)
    # Flatness is measured on a band up to 8 kHz only: speech energy lives there, and at 48 kHz the empty top band would
    # make every frame look "peaky".
    flat = np.ones(frames.shape[0])
    all_loud = bool(loud.all())
    band_frames = frames if all_loud else frames[loud]
    band_frames *= _hann(band_frames.shape[1])  # in place: frames are not needed after the level
    top_bin = max(2, round(8000.0 * band_frames.shape[1] / sample_rate))
    spectrum = np.fft.rfft(band_frames, axis=1)[:, 1 : top_bin + 1]
    power = np.abs(spectrum) ** 2 + _EPS
    flatness = np.exp(np.mean(np.log(power), axis=1)) / np.mean(power, axis=1)
    if all_loud:
        flat = flatness
    else:
        flat[loud] = flatness
    return np.asarray(loud & (flat < max_flatness), dtype=bool)


def is_speech(
    window: npt.ArrayLike,
    sample_rate: int,
    threshold_db: float = -40.0,
    *,
    frame_s: float = 0.02,
    min_speech_fraction: float = 0.1,
    max_flatness: float = 0.35,
) -> bool:
    """Decide whether a window (typically 1 s) contains speech.

    The window counts as speech when at least ``min_speech_fraction`` of its ``frame_s`` frames are louder than
    ``threshold_db`` dBFS (after DC removal) and not spectrally flat. Robust to a DC offset, accepts quiet speech
    down to the threshold, rejects digital silence, low noise and steady broadband noise.
    """
    speech, _ = window_speech(
        window,
        sample_rate,
        threshold_db,
        frame_s=frame_s,
        min_speech_fraction=min_speech_fraction,
        max_flatness=max_flatness,
    )
    return speech


def window_speech(
    window: npt.ArrayLike,
    sample_rate: int,
    threshold_db: float = -40.0,
    *,
    frame_s: float = 0.02,
    min_speech_fraction: float = 0.1,
    max_flatness: float = 0.35,
) -> tuple[bool, npt.NDArray[np.bool_]]:
    """``(is_speech(...), speech_frames(...))`` of one window, computed once: the gate and the activity mask that
    ``StreamingDiarizer.push`` takes."""
    if not 0.0 <= min_speech_fraction <= 1.0:
        raise DiarizationError(f"min_speech_fraction: must be within [0, 1], got {min_speech_fraction}")
    mask = speech_frames(window, sample_rate, threshold_db, frame_s=frame_s, max_flatness=max_flatness)
    speech = bool(mask.size and mask.any() and mask.mean() >= min_speech_fraction)
    return speech, mask
