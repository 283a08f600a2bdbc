"""Deterministic benchmark audio: 1 s windows that pass the VAD (so the model really runs on every window)."""

from __future__ import annotations

import numpy as np

from voiceflow_contract.spec import SAMPLE_RATE, WINDOW_SECONDS


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Float32 mono at the contract's sample rate: a voiced-like harmonic tone with a 3 Hz envelope and light noise
    (VAD says speech)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = 140.0 + 40.0 * rng.random()
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t)
    signal = 0.15 * tone * envelope + 0.005 * rng.standard_normal(n)
    return np.clip(signal, -1.0, 1.0).astype(np.float32)


def window_batch(batch: int, seed: int = 0) -> np.ndarray:
    """``batch`` speech-like windows, float32 [batch, WINDOW_SAMPLES]."""
    return np.stack([speech_like(WINDOW_SECONDS, seed + i) for i in range(batch)])


__all__ = ["speech_like", "window_batch"]
