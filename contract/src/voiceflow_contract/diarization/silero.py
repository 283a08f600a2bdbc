"""Silero VAD (the ``silero-vad`` wheel's ONNX model, MIT) run with ONNX Runtime: torch-free.

The model scores 32 ms chunks of 16 kHz audio (512 samples plus 64 samples of context) with a recurrent state. Each
window is scored on its own from a fresh state, so a window's answer does not depend on the windows before it (the
same contract as the energy VAD: one window in, a speech flag and a 20 ms frame mask out); a batch of windows runs as
one ONNX batch, chunk by chunk. Audio at a multiple of 16 kHz (the contract's 48 kHz) is low-pass filtered and
decimated first.

Install the model without its torch dependency: ``pip install --no-deps silero-vad`` (the package is located, never
imported, since its ``__init__`` imports torch). onnxruntime is the contract's optional ``cpu``/``gpu`` extra.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voiceflow_contract.diarization.errors import DiarizationError
from voiceflow_contract.runtime import create_session

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

SILERO_RATE = 16_000
CHUNK = 512
CONTEXT = 64
#: Chunk probability at or above which the chunk is speech (Silero's own default).
DEFAULT_SPEECH_PROB = 0.5
_TAPS = 63


def silero_model_path() -> Path:
    """The ONNX file shipped in the installed ``silero-vad`` wheel (located without importing the package)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise DiarizationError("vad: 'silero' needs the silero-vad wheel (pip install --no-deps silero-vad)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise DiarizationError(f"vad: the silero-vad package has no {path.name} at {path.parent}")
    return path


@functools.lru_cache(maxsize=4)
def _lowpass(factor: int) -> FloatArray:
    """Windowed-sinc anti-aliasing filter for decimating by ``factor`` (cut-off at 0.9 of the new Nyquist)."""
    n = np.arange(_TAPS) - (_TAPS - 1) / 2
    cutoff = 0.9 / factor
    taps = cutoff * np.sinc(cutoff * n) * np.hamming(_TAPS)
    taps /= taps.sum()
    taps.flags.writeable = False
    return np.asarray(taps, dtype=np.float64)


def to_16k(windows: npt.ArrayLike, sample_rate: int) -> npt.NDArray[np.float32]:
    """[B, N] windows at ``sample_rate`` (a multiple of 16 kHz) as [B, N / factor] at 16 kHz."""
    batch = np.atleast_2d(np.asarray(windows, dtype=np.float64))
    if sample_rate <= 0 or sample_rate % SILERO_RATE:
        raise DiarizationError(f"sample_rate: silero VAD needs a multiple of {SILERO_RATE} Hz, got {sample_rate}")
    factor = sample_rate // SILERO_RATE
    if factor == 1:
        return batch.astype(np.float32)
    taps = _lowpass(factor)
    filtered = np.stack([np.convolve(row, taps, mode="same") for row in batch])
    return np.ascontiguousarray(filtered[:, ::factor], dtype=np.float32)


class SileroVad:
    """Window VAD with the Silero model: ``vad(windows, sample_rate)`` -> one ``(speech, frame_mask)`` per window.

    A 20 ms frame (``frame_s``) is speech when the chunk holding its centre scores at least ``speech_prob``; a window
    is speech when at least ``min_speech_fraction`` of its frames are.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        speech_prob: float = DEFAULT_SPEECH_PROB,
        frame_s: float = 0.02,
        min_speech_fraction: float = 0.1,
    ) -> None:
        if not 0.0 < speech_prob < 1.0:
            raise DiarizationError(f"speech_prob: must be within (0, 1), got {speech_prob}")
        if not 0.0 <= min_speech_fraction <= 1.0:
            raise DiarizationError(f"min_speech_fraction: must be within [0, 1], got {min_speech_fraction}")
        self.speech_prob = float(speech_prob)
        self.frame_s = float(frame_s)
        self.min_speech_fraction = float(min_speech_fraction)
        self._session: Any = create_session(model_path or silero_model_path(), quiet=True)

    def chunk_probabilities(self, audio_16k: npt.NDArray[np.float32]) -> FloatArray:
        """[B, chunks] speech probability of every 32 ms chunk of [B, N] 16 kHz windows (fresh state per window)."""
        batch = audio_16k.shape[0]
        n_chunks = -(-audio_16k.shape[1] // CHUNK)
        padded = np.zeros((batch, CONTEXT + n_chunks * CHUNK), dtype=np.float32)
        padded[:, CONTEXT : CONTEXT + audio_16k.shape[1]] = audio_16k
        state = np.zeros((2, batch, 128), dtype=np.float32)
        sr = np.array(SILERO_RATE, dtype=np.int64)
        probs = np.zeros((batch, n_chunks))
        for k in range(n_chunks):
            chunk = padded[:, k * CHUNK : k * CHUNK + CONTEXT + CHUNK]
            out, state = self._session.run(None, {"input": chunk, "state": state, "sr": sr})
            probs[:, k] = np.asarray(out).reshape(batch)
        return probs

    def __call__(self, windows: npt.ArrayLike, sample_rate: int) -> list[tuple[bool, BoolArray]]:
        batch = np.atleast_2d(np.asarray(windows, dtype=np.float32))
        if batch.shape[0] == 0:
            return []
        if not np.all(np.isfinite(batch)):
            raise DiarizationError("window: contains NaN or infinite samples")
        probs = self.chunk_probabilities(to_16k(batch, sample_rate))
        n_frames = max(1, batch.shape[1] // max(1, round(self.frame_s * sample_rate)))
        centres = (np.arange(n_frames) + 0.5) * self.frame_s
        chunk_of_frame = np.minimum((centres * SILERO_RATE / CHUNK).astype(np.int64), probs.shape[1] - 1)
        masks = probs[:, chunk_of_frame] >= self.speech_prob
        return [(bool(m.mean() >= self.min_speech_fraction and m.any()), m) for m in masks]


@functools.lru_cache(maxsize=1)
def shared_silero_vad() -> SileroVad:
    """One process-wide Silero VAD at the defaults (an ONNX Runtime session may run from several threads)."""
    return SileroVad()
