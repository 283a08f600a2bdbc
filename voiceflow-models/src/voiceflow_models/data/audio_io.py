"""Audio file reading with soundfile (any format libsndfile reads), mono mix-down and resampling to 48 kHz."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from voiceflow_contract.spec import SAMPLE_RATE

TARGET_SAMPLE_RATE = SAMPLE_RATE


def resample(audio: np.ndarray, orig_sr: int, target_sr: int = TARGET_SAMPLE_RATE) -> np.ndarray:
    """Resample mono float audio with torchaudio's band-limited sinc resampler (no-op when rates match)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return np.asarray(audio, dtype=np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    return AF.resample(tensor, orig_sr, target_sr).numpy()


def audio_info(path: str | Path) -> tuple[int, int]:
    """(sample_rate, frames) of an audio file without reading it."""
    info = sf.info(str(path))
    return int(info.samplerate), int(info.frames)


def read_audio(
    path: str | Path,
    start_s: float | None = None,
    end_s: float | None = None,
    target_sr: int = TARGET_SAMPLE_RATE,
) -> np.ndarray:
    """Read ``[start_s, end_s)`` of an audio file as mono float32 at ``target_sr`` (only that span is read)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"audio file not found: {file}")
    sr, frames = audio_info(file)
    first = 0 if start_s is None else max(0, int(np.floor(start_s * sr)))
    last = frames if end_s is None else min(frames, int(np.ceil(end_s * sr)))
    if last <= first:
        return np.zeros(0, dtype=np.float32)
    data, sr = sf.read(str(file), start=first, stop=last, dtype="float32", always_2d=True)
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return resample(mono, int(sr), target_sr)
