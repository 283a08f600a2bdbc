"""Resemblyzer's GE2E front end as exportable graph ops: ``[B, 48000]`` at 48 kHz -> ``[B, frames, 40]`` mel power.

Resemblyzer (``resemblyzer/audio.py``) resamples to 16 kHz, normalises the volume to -30 dBFS (increase only) and
feeds the encoder ``librosa.feature.melspectrogram(y, sr=16000, n_fft=400, hop_length=160, n_mels=40)``: the mel
*power* (not its log) of a centred, zero-padded, periodic-Hann STFT with the slaney mel scale and slaney area
normalisation. The same steps here, all fixed buffers (no parameters):

1. anti-aliased 48 -> 16 kHz decimation, a windowed-sinc FIR as one strided ``Conv1d``
   (:class:`~voiceflow_models.models.sophisticated.Decimate`);
2. the per-window gain of ``resemblyzer.audio.normalize_volume(wav, -30, increase_only=True)``, capped at
   ``max_gain_db`` so digital silence and dither stay quiet;
3. ``n_fft // 2`` zeros on both sides (librosa's ``center=True, pad_mode="constant"``), the 400-point windowed DFT as
   a strided ``Conv1d`` (cos and sin rows), ``re^2 + im^2``, and the slaney mel matrix as a matmul.

For 1 s (16000 samples at 16 kHz) that gives librosa's 101 frames. The only difference from resemblyzer's pipeline is
the resampler (librosa uses soxr); tests/test_ge2e.py measures both the mel and the embedding against it.
"""

from __future__ import annotations

import math

import torch
import torchaudio
from torch import nn

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_models.models.sophisticated import Decimate

ENCODER_SAMPLE_RATE = 16_000  # resemblyzer.hparams.sampling_rate
INT16_MAX = 2**15 - 1  # resemblyzer.audio.int16_max: its dBFS are measured on the int16 scale


class Ge2eMelFrontEnd(nn.Module):
    """48 kHz waveform -> resemblyzer's mel power frames ``[B, frames, n_mels]`` (batch first, as the LSTM reads it).

    Args:
        n_fft: STFT size at 16 kHz (25 ms = 400).
        hop_length: STFT hop at 16 kHz (10 ms = 160).
        n_mels: mel bands (40).
        num_taps: length of the 48 -> 16 kHz anti-alias FIR.
        cutoff: FIR cutoff as a fraction of the 16 kHz Nyquist (8 kHz).
        normalize_volume: apply resemblyzer's increase-only volume normalisation per window.
        target_dbfs: its target level (``resemblyzer.hparams.audio_norm_target_dBFS`` = -30).
        max_gain_db: the largest gain the normalisation may apply.
    """

    def __init__(
        self,
        n_fft: int = 400,
        hop_length: int = 160,
        n_mels: int = 40,
        num_taps: int = 127,
        cutoff: float = 0.94,
        normalize_volume: bool = True,
        target_dbfs: float = -30.0,
        max_gain_db: float = 40.0,
    ) -> None:
        super().__init__()
        factor, remainder = divmod(SAMPLE_RATE, ENCODER_SAMPLE_RATE)
        if remainder:
            raise ValueError(f"contract sample rate {SAMPLE_RATE} is not a multiple of {ENCODER_SAMPLE_RATE}")
        self.decimate = Decimate(factor=factor, num_taps=num_taps, cutoff=cutoff)
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64).unsqueeze(1)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)  # scipy get_window("hann", fftbins=True)
        phase = 2 * math.pi * k * n / n_fft
        basis = torch.cat([torch.cos(phase) * window, -torch.sin(phase) * window], dim=0)
        self.register_buffer("dft", basis.unsqueeze(1).float())  # conv weight [2 * bins, 1, n_fft]
        fbanks = torchaudio.functional.melscale_fbanks(
            n_freqs=n_fft // 2 + 1,
            f_min=0.0,
            f_max=ENCODER_SAMPLE_RATE / 2,
            n_mels=n_mels,
            sample_rate=ENCODER_SAMPLE_RATE,
            norm="slaney",
            mel_scale="slaney",  # librosa.filters.mel's default (htk=False), not torchaudio's htk default
        )
        self.register_buffer("mel", fbanks.float())  # [bins, n_mels]
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.n_bins = n_fft // 2 + 1
        self.normalize_volume = bool(normalize_volume)
        self.target_rms = INT16_MAX * 10 ** (target_dbfs / 20)  # int16 scale, as resemblyzer measures it
        self.max_gain = 10 ** (max_gain_db / 20)

    def resample(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, 48000]`` -> ``[B, 16000]``, anti-aliased."""
        return self.decimate(audio)

    def gain(self, wav: torch.Tensor) -> torch.Tensor:
        """Per-window factor ``[B, 1]`` of resemblyzer's increase-only normalisation (1 when already loud enough)."""
        rms = torch.sqrt(torch.mean((wav * INT16_MAX) ** 2, dim=-1, keepdim=True) + 1e-12)
        return torch.clamp(self.target_rms / rms, min=1.0, max=self.max_gain)

    def mel_power(self, wav: torch.Tensor) -> torch.Tensor:
        """16 kHz ``[B, T]`` -> ``[B, 1 + T // hop, n_mels]`` mel power, librosa's ``melspectrogram`` defaults."""
        x = nn.functional.pad(wav.unsqueeze(1), (self.n_fft // 2, self.n_fft // 2))
        spec = nn.functional.conv1d(x, self.dft, stride=self.hop_length)  # [B, 2 * bins, frames]
        real, imag = spec[:, : self.n_bins], spec[:, self.n_bins :]
        power = (real * real + imag * imag).transpose(1, 2)  # [B, frames, bins]
        return power @ self.mel

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, 48000]`` -> ``[B, frames, n_mels]`` (101 frames for 1 s)."""
        wav = self.resample(audio)
        if self.normalize_volume:
            wav = wav * self.gain(wav)
        return self.mel_power(wav)
