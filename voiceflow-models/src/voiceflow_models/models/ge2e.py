"""GE2E: Resemblyzer's pretrained speaker encoder behind the contract, plus a softmax head over the training voices.

The encoder is resemblyzer's ``VoiceEncoder`` network (3-layer LSTM(256) over 40-band mel power at 16 kHz, the last
layer's final hidden state, Linear(256), ReLU, L2 norm; GE2E loss, Wan et al. 2018), with the front end in the graph
(:mod:`voiceflow_models.models.ge2e_frontend`), so the exported file takes the contract's 1 s at 48 kHz. Resemblyzer
embeds 1.6 s partial utterances; here the whole 1 s window (101 frames) is one utterance.

Weights: ``pretrained="resemblyzer"`` reads ``resemblyzer/pretrained.pt`` (Apache-2.0) from the installed package's
directory (the package is not imported: its ``__init__`` needs librosa and webrtcvad); any other value is a local
checkpoint path (:mod:`voiceflow_models.models.pretrained`); ``null`` leaves the encoder randomly initialised.
Outputs: ``(logits, embedding)`` like every :class:`DiarizationModel`; the embedding is the encoder's unit vector and
the logits are a cosine classifier over the training voices (softmax is added at export).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from voiceflow_models.models.base import DiarizationModel
from voiceflow_models.models.ge2e_frontend import Ge2eMelFrontEnd
from voiceflow_models.models.pretrained import (
    CONFIG_KEY,
    CheckpointAdapter,
    PretrainedError,
    load_pretrained,
    register_adapter,
)

RESEMBLYZER = "resemblyzer"
HIDDEN = 256  # resemblyzer.hparams.model_hidden_size
EMBEDDING_DIM = 256  # resemblyzer.hparams.model_embedding_size
NUM_LAYERS = 3  # resemblyzer.hparams.model_num_layers
N_MELS = 40  # resemblyzer.hparams.mel_n_channels


def resemblyzer_weights() -> Path:
    """Path of ``pretrained.pt`` inside the installed ``resemblyzer`` package (found without importing it)."""
    spec = importlib.util.find_spec(RESEMBLYZER)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedError(
            f"{CONFIG_KEY}={RESEMBLYZER}: the resemblyzer package is not installed "
            "(pip install --no-deps resemblyzer; `make setup` does), or give a checkpoint path"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise PretrainedError(f"{CONFIG_KEY}={RESEMBLYZER}: {path} is missing from the installed package")
    return path


@register_adapter
class ResemblyzerAdapter(CheckpointAdapter):
    """resemblyzer's training checkpoint: ``{"step", "model_state", "optimizer_state"}``; GE2E's scale/bias dropped."""

    name: ClassVar[str] = RESEMBLYZER

    def detect(self, checkpoint: Any) -> bool:
        """A dict with a ``model_state`` holding the LSTM."""
        state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
        return isinstance(state, dict) and "lstm.weight_ih_l0" in state

    def convert(self, checkpoint: Any, target_keys: list[str]) -> dict[str, torch.Tensor]:
        """``model_state`` without ``similarity_weight``/``similarity_bias`` (the GE2E loss's parameters)."""
        return {k: v for k, v in checkpoint["model_state"].items() if not k.startswith("similarity_")}


class Ge2eEncoder(nn.Module):
    """resemblyzer's ``VoiceEncoder`` network: mel power ``[B, frames, 40]`` -> unit embedding ``[B, 256]``."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, HIDDEN, NUM_LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, EMBEDDING_DIM)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """The top layer's final hidden state, projected, ReLU, L2-normalised (eps keeps an all-zero vector finite)."""
        _, (hidden, _) = self.lstm(mels)
        return F.normalize(torch.relu(self.linear(hidden[-1])), dim=-1, eps=1e-12)

    def top_parameters(self) -> list[nn.Parameter]:
        """The last LSTM layer and the projection: what fine-tuning may unfreeze."""
        top = f"_l{NUM_LAYERS - 1}"
        return [p for n, p in self.lstm.named_parameters() if n.endswith(top)] + list(self.linear.parameters())


class CosineClassifier(nn.Module):
    """``scale * cos(embedding, w_k)`` per training voice; ``weight`` is what the AAM loss reads."""

    def __init__(self, dim: int, num_classes: int, scale: float) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"head_scale must be > 0, got {scale}")
        self.weight = nn.Parameter(torch.randn(num_classes, dim) * dim**-0.5)
        self.scale = float(scale)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]``."""
        return self.scale * F.linear(F.normalize(embedding, dim=-1), F.normalize(self.weight, dim=-1))


class GE2E(DiarizationModel):
    """Resemblyzer's GE2E encoder (front end in the graph) + cosine softmax head.

    Args:
        num_speakers: head width (the training voices).
        embedding_dim: must be 256 (the pretrained encoder's width).
        pretrained: ``"resemblyzer"`` (the installed package's weights), a local checkpoint path, or None.
        pretrained_format: checkpoint adapter name (``auto``, ``resemblyzer``, ``state_dict``, or a registered one).
        head_scale: cosine-logit scale of the head.
        normalize_volume / max_gain_db: resemblyzer's increase-only -30 dBFS normalisation per window, its gain cap.
        num_taps / cutoff: the 48 -> 16 kHz anti-alias FIR (255 taps at 0.96 of 8 kHz match librosa's soxr
            resampling to cosine > 0.9999 on speech).
    """

    arch_type: ClassVar[str] = "lstm"
    arch_name: ClassVar[str] = "ge2e"
    profile: ClassVar[str] = "cpu-realtime"

    def __init__(
        self,
        num_speakers: int = 40,
        embedding_dim: int = EMBEDDING_DIM,
        pretrained: str | None = RESEMBLYZER,
        pretrained_format: str = "auto",
        head_scale: float = 30.0,
        normalize_volume: bool = True,
        max_gain_db: float = 40.0,
        num_taps: int = 255,
        cutoff: float = 0.96,
    ) -> None:
        super().__init__(num_speakers=num_speakers, embedding_dim=embedding_dim)
        if embedding_dim != EMBEDDING_DIM:
            raise ValueError(f"model.net.embedding_dim: the GE2E encoder is {EMBEDDING_DIM} wide, got {embedding_dim}")
        self.hparams_ = {
            "head_scale": head_scale,
            "normalize_volume": normalize_volume,
            "max_gain_db": max_gain_db,
            "num_taps": num_taps,
            "cutoff": cutoff,
        }
        self.frontend = Ge2eMelFrontEnd(
            n_mels=N_MELS, num_taps=num_taps, cutoff=cutoff, normalize_volume=normalize_volume, max_gain_db=max_gain_db
        )
        self.encoder = Ge2eEncoder()
        self.classifier = CosineClassifier(EMBEDDING_DIM, num_speakers, head_scale)
        if pretrained:
            path = resemblyzer_weights() if pretrained == RESEMBLYZER else Path(pretrained)
            load_pretrained(
                self.encoder, path, pretrained_format, architecture=f"{self.arch_name} ({Ge2eEncoder.__name__})"
            )

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``audio [B, 48000]`` -> ``(logits [B, num_speakers], embedding [B, 256])``."""
        embedding = self.encoder(self.frontend(audio))
        return self.classifier(embedding), embedding

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Every pretrained parameter (what fine-tuning freezes)."""
        return list(self.encoder.parameters())

    def top_encoder_parameters(self) -> list[nn.Parameter]:
        """The top LSTM layer and the projection (what fine-tuning may unfreeze)."""
        return self.encoder.top_parameters()

    def num_layers(self) -> int:
        """LSTM layers + projection + head (the front end has no weights)."""
        return NUM_LAYERS + 2

    def architecture_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this architecture; the weights come with the checkpoint, not the file."""
        return {**super().architecture_config(), **self.hparams_, "pretrained": None}
