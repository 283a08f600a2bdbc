"""Sophisticated: a Wav2Vec2 encoder (``torchaudio.models.wav2vec2_model``, from scratch) for the gpu-large profile.

The contract's 48 kHz window is decimated to 16 kHz *inside the graph* by a fixed anti-alias FIR as a stride-3
``Conv1d`` (``torchaudio.functional.resample`` is not reliably exportable). Frames are pooled with attentive
statistics pooling into an embedding, then a speaker classifier. Nothing is downloaded: every preset is initialised
randomly unless ``pretrained`` names a local checkpoint (a torchaudio ``Wav2Vec2Model`` state dict or a Hugging Face
wav2vec2 ``pytorch_model.bin``/``model.safetensors``, see :mod:`voiceflow_models.models.wav2vec2_checkpoints`);
``base`` matches wav2vec2-base's encoder (~94M parameters, ~380 MB fp32).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torchaudio
from torch import nn

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_models.models import wav2vec2_checkpoints  # noqa: F401  (registers the huggingface-wav2vec2 format)
from voiceflow_models.models.base import DiarizationModel
from voiceflow_models.models.pretrained import load_pretrained

# Encoder presets: keyword arguments of torchaudio.models.wav2vec2_model (the rest are shared defaults below).
_BASE_CONV = [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
PRESETS: dict[str, dict[str, Any]] = {
    # For tests and CPU smoke runs: a few hundred thousand parameters, same 20 ms frame rate as base.
    "tiny": {
        "extractor_conv_layer_config": [(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2,
        "encoder_embed_dim": 64,
        "encoder_pos_conv_kernel": 16,
        "encoder_pos_conv_groups": 4,
        "encoder_num_layers": 2,
        "encoder_num_heads": 2,
        "encoder_ff_interm_features": 128,
    },
    "small": {
        "extractor_conv_layer_config": [(256, 10, 5)] + [(256, 3, 2)] * 4 + [(256, 2, 2)] * 2,
        "encoder_embed_dim": 384,
        "encoder_pos_conv_kernel": 64,
        "encoder_pos_conv_groups": 16,
        "encoder_num_layers": 6,
        "encoder_num_heads": 6,
        "encoder_ff_interm_features": 1536,
    },
    "base": {
        "extractor_conv_layer_config": _BASE_CONV,
        "encoder_embed_dim": 768,
        "encoder_pos_conv_kernel": 128,
        "encoder_pos_conv_groups": 16,
        "encoder_num_layers": 12,
        "encoder_num_heads": 12,
        "encoder_ff_interm_features": 3072,
    },
}


def lowpass_fir(num_taps: int, cutoff: float) -> torch.Tensor:
    """Hann-windowed sinc low-pass; ``cutoff`` is a fraction of the input Nyquist (0..1)."""
    if num_taps % 2 == 0 or not 0 < cutoff < 1:
        raise ValueError(f"num_taps must be odd and 0 < cutoff < 1, got {num_taps}, {cutoff}")
    n = torch.arange(num_taps, dtype=torch.float64) - (num_taps - 1) / 2
    taps = cutoff * torch.sinc(cutoff * n) * torch.hann_window(num_taps, periodic=False, dtype=torch.float64)
    return (taps / taps.sum()).float()


class Decimate(nn.Module):
    """Fixed anti-alias FIR + keep every ``factor``-th sample (48 kHz -> 16 kHz at factor 3).

    Computed as one strided conv with ``block`` output channels, channel ``j`` holding the taps shifted by
    ``factor * j``: the same sums as a stride-``factor`` FIR, but ONNX Runtime then runs a small GEMM instead of a
    one-channel conv whose im2col buffer is ``num_taps`` times the input (measured: 2.0 -> 0.3 ms for 255 taps).
    """

    def __init__(self, factor: int = 3, num_taps: int = 63, cutoff: float = 0.9, block: int = 16) -> None:
        super().__init__()
        # ``cutoff`` is a fraction of the output Nyquist; 0.9 keeps the transition band below it.
        taps = lowpass_fir(num_taps, cutoff / factor)
        self.register_buffer("taps", taps.view(1, 1, -1))
        blocked = torch.zeros(block, 1, num_taps + factor * (block - 1))
        for j in range(block):
            blocked[j, 0, factor * j : factor * j + num_taps] = taps
        self.register_buffer("blocked_taps", blocked, persistent=False)  # derived: not in checkpoints
        self.factor = factor
        self.block = block
        self.num_taps = num_taps
        self.padding = num_taps // 2

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, T] -> [B, T // factor]``."""
        length = audio.shape[-1]
        n_out = (length + 2 * self.padding - self.num_taps) // self.factor + 1
        kernel = self.blocked_taps.shape[-1]
        stride = self.factor * self.block
        blocks = -(-n_out // self.block)
        extra = max(0, (blocks - 1) * stride + kernel - (length + 2 * self.padding))
        x = nn.functional.pad(audio.unsqueeze(1), (self.padding, self.padding + extra))
        y = nn.functional.conv1d(x, self.blocked_taps, stride=stride)  # [B, block, blocks]
        return y.transpose(1, 2).reshape(audio.shape[0], -1)[:, :n_out]


class AttentiveStatsPool(nn.Module):
    """Attentive statistics pooling (Okabe et al. 2018): attention-weighted mean and std over frames."""

    def __init__(self, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T, D] -> [B, 2D]``."""
        weights = torch.softmax(self.attention(x), dim=1)  # [B, T, 1]
        mean = (weights * x).sum(dim=1)
        var = (weights * (x - mean.unsqueeze(1)).pow(2)).sum(dim=1)
        return torch.cat([mean, torch.sqrt(var + 1e-5)], dim=-1)


class Sophisticated(DiarizationModel):
    """Wav2Vec2 encoder from scratch + attentive statistics pooling + embedding + classifier.

    Args:
        num_speakers: classifier width.
        embedding_dim: embedding width.
        size: encoder preset, one of ``PRESETS`` (``tiny`` for tests/CPU, ``base`` for GPU training).
        dropout: encoder dropouts (projection, attention, feed-forward, block) and the classifier dropout.
        layer_drop: encoder LayerDrop probability (training only; eval graphs are unaffected).
        pretrained: local checkpoint path loaded into the encoder (``model.net.pretrained=PATH``), or None.
        pretrained_format: checkpoint adapter (``auto``, ``state_dict`` for torchaudio, ``huggingface-wav2vec2``).
    """

    arch_type: ClassVar[str] = "wav2vec2"
    arch_name: ClassVar[str] = "sophisticated"
    profile: ClassVar[str] = "gpu-large"

    def __init__(
        self,
        num_speakers: int = 40,
        embedding_dim: int = 256,
        size: str = "tiny",
        dropout: float = 0.1,
        layer_drop: float = 0.0,
        pretrained: str | None = None,
        pretrained_format: str = "auto",
    ) -> None:
        super().__init__(num_speakers=num_speakers, embedding_dim=embedding_dim)
        if size not in PRESETS:
            raise ValueError(f"size must be one of {sorted(PRESETS)}, got {size!r}")
        self.hparams_ = {"size": size, "dropout": dropout, "layer_drop": layer_drop}
        self.decimate = Decimate(factor=3)
        preset = PRESETS[size]
        self.encoder = torchaudio.models.wav2vec2_model(
            extractor_mode="group_norm",
            extractor_conv_bias=False,
            encoder_projection_dropout=dropout,
            encoder_attention_dropout=dropout,
            encoder_ff_interm_dropout=dropout,
            encoder_dropout=dropout,
            encoder_layer_norm_first=False,
            encoder_layer_drop=layer_drop,
            aux_num_out=None,
            **preset,
        )
        dim = int(preset["encoder_embed_dim"])
        self.pool = AttentiveStatsPool(dim)
        self.embed = nn.Sequential(nn.Linear(2 * dim, embedding_dim), nn.LayerNorm(embedding_dim))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(embedding_dim, num_speakers)
        if pretrained:
            load_pretrained(self.encoder, pretrained, pretrained_format, architecture=f"wav2vec2 preset {size!r}")

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``audio [B, WINDOW_SAMPLES]`` -> ``(logits [B, num_speakers], embedding [B, embedding_dim])``."""
        x = self.decimate(audio)
        # Per-window zero mean / unit variance, as wav2vec2 expects; eps keeps silence finite.
        x = (x - x.mean(dim=-1, keepdim=True)) / torch.sqrt(x.var(dim=-1, keepdim=True) + 1e-5)
        frames, _ = self.encoder(x)  # [B, T, D]; lengths=None: no masking, no data-dependent branches
        embedding = self.embed(self.pool(frames))
        logits = self.classifier(self.dropout(torch.relu(embedding)))
        return logits, embedding

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The wav2vec2 encoder's parameters (what fine-tuning freezes)."""
        return list(self.encoder.parameters())

    def top_encoder_parameters(self) -> list[nn.Parameter]:
        """The last transformer layer (what fine-tuning may unfreeze)."""
        return list(self.encoder.encoder.transformer.layers[-1].parameters())

    def architecture_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this architecture (the weights come with the checkpoint)."""
        return {**super().architecture_config(), **self.hparams_}


def decimation_response_db(freq_hz: float, factor: int = 3, num_taps: int = 63) -> float:
    """Magnitude response of the :class:`Decimate` FIR at ``freq_hz`` (48 kHz input), in dB; used by tests."""
    taps = lowpass_fir(num_taps, 0.9 / factor).double()
    n = torch.arange(num_taps, dtype=torch.float64)
    w = 2 * math.pi * freq_hz / SAMPLE_RATE
    resp = torch.complex((taps * torch.cos(w * n)).sum(), -(taps * torch.sin(w * n)).sum())
    return float(20 * torch.log10(resp.abs() + 1e-12))


__all__ = ["PRESETS", "AttentiveStatsPool", "Decimate", "Sophisticated", "decimation_response_db", "torchaudio"]
