"""Silero VAD through ONNX Runtime (torch-free) and the VAD selection the server uses (metadata ``diarization.vad``)."""

from __future__ import annotations

import importlib.util
import wave
from pathlib import Path

import numpy as np
import pytest

from voiceflow_contract.diarization import DiarizationError, diarize_audio, make_vad
from voiceflow_contract.diarization.silero import SileroVad, to_16k

REPO = Path(__file__).resolve().parents[2]
REAL_SAMPLE = REPO / "data" / "real-sample" / "sample.wav"
needs_silero = pytest.mark.skipif(
    importlib.util.find_spec("silero_vad") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="needs the silero-vad wheel (make setup: pip install --no-deps silero-vad) and onnxruntime",
)


def test_energy_is_the_default_and_unknown_kinds_fail() -> None:
    vad = make_vad("energy")
    out = vad(np.zeros((2, 48000), dtype=np.float32), 48000)
    assert [speech for speech, _ in out] == [False, False] and out[0][1].shape == (50,)
    with pytest.raises(DiarizationError, match="vad: must be one of"):
        make_vad("webrtc")


def test_decimation_to_16k() -> None:
    t = np.arange(48000) / 48000
    tone = np.sin(2 * np.pi * 440 * t)[None, :]
    low = to_16k(tone, 48000)
    assert low.shape == (1, 16000) and low.dtype == np.float32
    assert np.isclose(np.sqrt(np.mean(low[0, 100:-100] ** 2)), np.sqrt(0.5), atol=0.02)  # 440 Hz passes
    alias = to_16k(np.sin(2 * np.pi * 15000 * t)[None, :], 48000)  # above the new Nyquist: filtered away
    assert np.sqrt(np.mean(alias[0, 100:-100] ** 2)) < 0.05
    with pytest.raises(DiarizationError, match="multiple of 16000"):
        to_16k(tone, 44100)


@needs_silero
def test_silero_rejects_silence_and_noise_and_keeps_the_frame_grid() -> None:
    vad = make_vad("silero")
    assert make_vad("silero") is vad  # one shared ONNX Runtime session per process
    rng = np.random.default_rng(0)
    batch = np.stack([np.zeros(48000), 0.001 * rng.normal(size=48000)]).astype(np.float32)
    out = vad(batch, 48000)
    assert [speech for speech, _ in out] == [False, False]
    assert all(mask.shape == (50,) and mask.dtype == bool for _, mask in out)
    with pytest.raises(DiarizationError, match="speech_prob"):
        SileroVad(speech_prob=1.5)


@needs_silero
@pytest.mark.skipif(not REAL_SAMPLE.is_file(), reason="real sample absent: run `make real-sample`")
def test_silero_finds_the_speech_of_the_real_sample() -> None:
    with wave.open(str(REAL_SAMPLE), "rb") as handle:
        audio = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float32) / 32768
    # The sample's reference has speech from 6.69 s on and none before 6 s.
    segments = diarize_audio(audio, 16000, lambda b: np.ones((len(b), 2)), vad="silero")
    assert segments and segments[0].start > 5.5
    assert sum(s.duration for s in segments) > 15.0
