"""The optimised VAD (in-place framing, cached Hann window, band-only magnitudes) decides exactly like the plain form.

``_reference_speech_frames`` is the implementation the serving benchmark measured before the optimisation, kept here
verbatim so any later change to ``speech_frames`` is checked against the same decisions.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from voiceflow_contract.diarization import frame_energy_db, is_speech, speech_frames, window_speech
from voiceflow_contract.diarization.errors import DiarizationError

SR = 48000
_EPS = 1e-12


def _reference_speech_frames(
    window: npt.ArrayLike,
    sample_rate: int,
    threshold_db: float = -40.0,
    *,
    frame_s: float = 0.02,
    max_flatness: float = 0.35,
) -> npt.NDArray[np.bool_]:
    samples = np.asarray(window, dtype=np.float64)
    if samples.ndim == 2 and 1 in samples.shape:
        samples = samples.reshape(-1)
    if len(samples) == 0:
        return np.zeros(0, dtype=bool)
    samples = samples - samples.mean()
    frame_len = max(1, round(frame_s * sample_rate))
    n_frames = len(samples) // frame_len
    frames = samples[np.newaxis, :] if n_frames == 0 else samples[: n_frames * frame_len].reshape(n_frames, frame_len)
    frames = frames - frames.mean(axis=1, keepdims=True)
    level = 20.0 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + _EPS)
    loud = level > threshold_db
    if not loud.any():
        return np.zeros(frames.shape[0], dtype=bool)
    flat = np.ones(frames.shape[0])
    idx = np.flatnonzero(loud)
    band_frames = frames[idx]
    windowed = band_frames * np.hanning(band_frames.shape[1])
    power = np.abs(np.fft.rfft(windowed, axis=1)) ** 2 + _EPS
    top_bin = max(2, round(8000.0 * band_frames.shape[1] / sample_rate))
    power = power[:, 1 : top_bin + 1]
    flat[idx] = np.exp(np.mean(np.log(power), axis=1)) / np.mean(power, axis=1)
    return np.asarray(loud & (flat < max_flatness), dtype=bool)


def _reference_window_speech(
    window: npt.ArrayLike, sample_rate: int, threshold_db: float = -40.0
) -> tuple[bool, object]:
    mask = _reference_speech_frames(window, sample_rate, threshold_db)
    return bool(mask.size and mask.any() and mask.mean() >= 0.1), mask


def _speech_like(rng: np.random.Generator, seconds: float = 1.0, level: float = 0.3) -> np.ndarray:
    """Harmonic bursts (syllables) with pauses: some frames loud and peaky, some near silent."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(90, 250)
    voiced = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 6) * t + rng.uniform(0, 6.3)), 0, None) ** 2
    return (level * envelope * voiced + rng.normal(0, 1e-4, t.size)).astype(np.float32)


def _windows() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(1234)
    out: list[tuple[str, np.ndarray]] = []
    for i in range(12):
        out.append((f"speech{i}", _speech_like(rng, level=float(rng.choice([0.5, 0.05, 0.012, 0.0105])))))
    for i in range(6):
        out.append((f"random{i}", rng.uniform(-1, 1, SR).astype(np.float32)))
        out.append((f"noise{i}", rng.normal(0, float(rng.choice([0.3, 0.01, 0.001])), SR).astype(np.float32)))
    out.append(("silence", np.zeros(SR, dtype=np.float32)))
    out.append(("dc", np.full(SR, 0.4, dtype=np.float32)))
    half = _speech_like(rng)
    half[: SR // 2] = rng.normal(0, 0.2, SR // 2)  # loud flat noise then speech: only some frames reach the FFT
    out.append(("noise_then_speech", half))
    out.append(("speech_plus_dc", _speech_like(rng) + np.float32(0.3)))
    out.append(("float64_speech", _speech_like(rng).astype(np.float64)))
    out.append(("ragged_tail", _speech_like(rng, seconds=1.013)))
    out.append(("shorter_than_frame", _speech_like(rng, seconds=0.01)))
    out.append(("column", _speech_like(rng).reshape(-1, 1)))
    return out


@pytest.mark.parametrize(("name", "window"), _windows(), ids=lambda v: v if isinstance(v, str) else "")
def test_optimised_vad_matches_reference(name: str, window: np.ndarray) -> None:
    original = window.copy()
    for threshold_db in (-40.0, -30.0, -55.0):
        expected_speech, expected_mask = _reference_window_speech(window, SR, threshold_db)
        speech, mask = window_speech(window, SR, threshold_db)
        assert speech == expected_speech, name
        np.testing.assert_array_equal(mask, expected_mask, err_msg=name)
        np.testing.assert_array_equal(speech_frames(window, SR, threshold_db), expected_mask, err_msg=name)
        assert is_speech(window, SR, threshold_db) == expected_speech
    np.testing.assert_array_equal(window, original, err_msg=f"{name}: the VAD changed the caller's samples")


def test_reference_set_covers_both_decisions() -> None:
    decisions = {_reference_window_speech(w, SR)[0] for _, w in _windows()}
    assert decisions == {True, False}
    partial = _reference_speech_frames(dict(_windows())["noise_then_speech"], SR)
    assert 0 < partial.sum() < partial.size  # the mixed path (loud frames only through the FFT) is exercised


def test_frame_energy_db_keeps_input_and_values() -> None:
    rng = np.random.default_rng(7)
    window = _speech_like(rng).astype(np.float64)
    original = window.copy()
    levels = frame_energy_db(window, SR)
    np.testing.assert_array_equal(window, original)
    centred = window - window.mean()
    frames = centred.reshape(50, 960)
    frames = frames - frames.mean(axis=1, keepdims=True)
    np.testing.assert_array_equal(levels, 20.0 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + _EPS))


def test_bad_windows_still_raise() -> None:
    with pytest.raises(DiarizationError, match="NaN or infinite"):
        speech_frames(np.array([0.1, np.nan] * 960), SR)
    with pytest.raises(DiarizationError, match="1-D mono"):
        speech_frames(np.zeros((2, 960)), SR)
