"""The VAD a model is served with (metadata.json ``diarization.vad``): energy or Silero, one interface.

A window VAD takes a batch of windows [B, N] at a sample rate and answers ``(speech, frame_mask)`` per window: the
gate (a non-speech window is not embedded) and the 20 ms activity mask ``StreamingDiarizer.push`` takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

from voiceflow_contract.diarization.errors import DiarizationError
from voiceflow_contract.diarization.silero import shared_silero_vad
from voiceflow_contract.diarization.vad import window_speech

VadKind = Literal["energy", "silero"]
VAD_KINDS: tuple[VadKind, ...] = ("energy", "silero")
WindowVad = Callable[[npt.ArrayLike, int], list[tuple[bool, npt.NDArray[np.bool_]]]]


def energy_vad(threshold_db: float = -40.0) -> WindowVad:
    """The energy + spectral-flatness VAD (``window_speech``) over a batch of windows."""

    def vad(windows: npt.ArrayLike, sample_rate: int) -> list[tuple[bool, npt.NDArray[np.bool_]]]:
        return [window_speech(w, sample_rate, threshold_db) for w in np.atleast_2d(np.asarray(windows))]

    return vad


def make_vad(kind: VadKind | str = "energy", *, threshold_db: float = -40.0) -> WindowVad:
    """The window VAD named ``kind`` (``silero`` needs onnxruntime and the silero-vad wheel)."""
    if kind == "energy":
        return energy_vad(threshold_db)
    if kind == "silero":
        return shared_silero_vad()
    raise DiarizationError(f"vad: must be one of {', '.join(VAD_KINDS)}; got {kind!r}")
