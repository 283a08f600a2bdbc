"""FastCNN: a ~2.3M-parameter 1D CNN over a fixed, export-friendly log-mel front end.

Why this shape: the CPU budget (p99 < 4.48 ms on one or two ORT threads) is dominated by early, high-resolution layers.
The front end is therefore a *fixed* windowed-DFT as one strided ``Conv1d`` (only the bins below ``f_max``), a power
spectrum and a mel matrix (no STFT/complex ops, so both exporters handle it), and the wide layers run on 100 or fewer
frames. Gain is removed in the log domain by subtracting one scalar per window (the per-band spectral envelope, which
carries speaker identity, is kept).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torchaudio
from torch import nn

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_models.models.base import DiarizationModel


class LogMelFrontEnd(nn.Module):
    """Fixed log-mel spectrogram built from convolutions: ``[B, T] -> [B, n_mels, frames]``.

    The DFT basis (Hann-windowed cos/sin for bins up to ``f_max``) and the mel matrix are buffers, not parameters.
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        n_fft: int = 960,
        hop_length: int = 480,
        n_mels: int = 64,
        f_min: float = 60.0,
        f_max: float = 8000.0,
    ) -> None:
        super().__init__()
        if not 0 <= f_min < f_max <= sample_rate / 2:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={f_min} f_max={f_max}")
        n_bins = math.floor(f_max * n_fft / sample_rate) + 1
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_bins, dtype=torch.float64).unsqueeze(1)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        phase = 2 * math.pi * k * n / n_fft
        basis = torch.cat([torch.cos(phase) * window, -torch.sin(phase) * window], dim=0)  # [2*bins, n_fft]
        self.register_buffer("dft", basis.unsqueeze(1).float())  # conv weight [2*bins, 1, n_fft]
        fbanks = torchaudio.functional.melscale_fbanks(
            n_freqs=n_fft // 2 + 1, f_min=f_min, f_max=f_max, n_mels=n_mels, sample_rate=sample_rate, norm="slaney"
        )[:n_bins]  # [bins, n_mels]; rows above f_max are zero anyway
        self.register_buffer("mel", fbanks.T.contiguous().unsqueeze(-1).float())  # as 1x1 conv weight [n_mels, bins, 1]
        self.n_bins = n_bins
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` float waveform -> ``[B, n_mels, frames]`` log-mel with the window's mean log level removed."""
        x = audio.unsqueeze(1)
        spec = nn.functional.conv1d(x, self.dft, stride=self.hop_length)  # [B, 2*bins, F]
        real, imag = spec[:, : self.n_bins], spec[:, self.n_bins :]
        power = real * real + imag * imag
        mel = nn.functional.conv1d(power, self.mel)
        logmel = torch.log(mel + 1e-6)
        # One scalar per window: removes input gain without flattening the spectral envelope.
        return logmel - logmel.mean(dim=(1, 2), keepdim=True)

    def num_frames(self, samples: int) -> int:
        """Frames produced for an input of ``samples`` samples."""
        return (samples - self.n_fft) // self.hop_length + 1


def conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Conv1d (no bias, BN follows) + BatchNorm1d + ReLU with 'same'-style padding."""
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(inplace=True),
    )


class StatsPool(nn.Module):
    """Mean and standard deviation over time: ``[B, C, T] -> [B, 2C]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate the per-channel mean and std (``sqrt(var + eps)``, stable at zero variance)."""
        mean = x.mean(dim=-1)
        var = (x - mean.unsqueeze(-1)).pow(2).mean(dim=-1)
        return torch.cat([mean, torch.sqrt(var + 1e-5)], dim=-1)


class FastCNN(DiarizationModel):
    """Log-mel + Conv-BN-ReLU stack + statistics pooling + embedding + speaker classifier.

    Args:
        num_speakers: classifier width (the training speakers).
        embedding_dim: embedding width (second ONNX output).
        channels: output channels of the conv blocks; every block after the first halves time when its
            stride (``strides``) is 2.
        kernels: kernel size per block.
        strides: stride per block.
        n_mels / n_fft / hop_length / f_max: front end settings (20 ms Hann windows every 10 ms: 99 frames per window).
        dropout: dropout before the classifier.
    """

    arch_type: ClassVar[str] = "cnn"
    arch_name: ClassVar[str] = "fast-cnn"
    profile: ClassVar[str] = "cpu-realtime"

    def __init__(
        self,
        num_speakers: int = 40,
        embedding_dim: int = 192,
        channels: tuple[int, ...] | list[int] = (192, 256, 320, 384, 448, 512),
        kernels: tuple[int, ...] | list[int] = (5, 3, 3, 3, 3, 3),
        strides: tuple[int, ...] | list[int] = (1, 2, 1, 2, 1, 1),
        n_mels: int = 64,
        n_fft: int = 960,
        hop_length: int = 480,
        f_max: float = 8000.0,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(num_speakers=num_speakers, embedding_dim=embedding_dim)
        if not len(channels) == len(kernels) == len(strides) or not channels:
            raise ValueError(
                "channels, kernels and strides must be non-empty and equally long, "
                f"got {channels}, {kernels}, {strides}"
            )
        self.hparams_ = {
            "channels": [int(c) for c in channels],
            "kernels": [int(k) for k in kernels],
            "strides": [int(s) for s in strides],
            "n_mels": n_mels,
            "n_fft": n_fft,
            "hop_length": hop_length,
            "f_max": f_max,
            "dropout": dropout,
        }
        self.frontend = LogMelFrontEnd(n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, f_max=f_max)
        self.input_norm = nn.BatchNorm1d(n_mels)
        blocks = []
        c_prev = n_mels
        for c, k, s in zip(channels, kernels, strides, strict=True):
            blocks.append(conv_bn_relu(c_prev, c, k, s))
            c_prev = c
        self.blocks = nn.Sequential(*blocks)
        self.pool = StatsPool()
        self.embed = nn.Sequential(nn.Linear(2 * c_prev, embedding_dim), nn.BatchNorm1d(embedding_dim))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embedding_dim, num_speakers)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``audio [B, WINDOW_SAMPLES]`` -> ``(logits [B, num_speakers], embedding [B, embedding_dim])``."""
        x = self.input_norm(self.frontend(audio))
        x = self.blocks(x)
        embedding = self.embed(self.pool(x))
        logits = self.classifier(self.dropout(torch.relu(embedding)))
        return logits, embedding

    def architecture_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this architecture."""
        return {**super().architecture_config(), **self.hparams_}
