"""The interface every VoiceFlow diarization network meets.

A network takes ``audio`` float32 ``[B, WINDOW_SAMPLES]`` (1 s at the contract's sample rate, mono, roughly in
[-1, 1]) and returns ``(logits [B, num_speakers], embedding [B, embedding_dim])``. Softmax is applied by the
export wrapper, not here, so training can use ``cross_entropy`` on the logits directly.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

import torch
from torch import nn

from voiceflow_contract.spec import SAMPLE_RATE, WINDOW_SAMPLES


class DiarizationModel(nn.Module):
    """Base class: subclasses set ``arch_type``/``arch_name`` and implement :meth:`forward`.

    Attributes:
        sample_rate: input sample rate in Hz (the contract's ``SAMPLE_RATE``).
        window_samples: samples per input window (the contract's ``WINDOW_SAMPLES``, 1 s).
        num_speakers: width of the logits (the training speakers).
        embedding_dim: width of the penultimate embedding output.
        arch_type: architecture family, e.g. ``"cnn"`` or ``"wav2vec2"``.
        arch_name: registry model name, e.g. ``"fast-cnn"`` or ``"sophisticated"``.
        profile: the contract performance profile the model is built for.
    """

    arch_type: ClassVar[str] = "base"
    arch_name: ClassVar[str] = "base"
    profile: ClassVar[str] = "cpu-realtime"

    def __init__(self, num_speakers: int, embedding_dim: int) -> None:
        super().__init__()
        if num_speakers < 2:
            raise ValueError(f"num_speakers must be >= 2 (contract min_num_speakers), got {num_speakers}")
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        self.sample_rate = SAMPLE_RATE
        self.window_samples = WINDOW_SAMPLES
        self.num_speakers = int(num_speakers)
        self.embedding_dim = int(embedding_dim)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        """Map ``audio [B, window_samples]`` to ``(logits [B, num_speakers], embedding [B, embedding_dim])``."""
        raise NotImplementedError

    def check_input(self, audio: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the rule when ``audio`` is not ``[B, window_samples]`` float32.

        Only called from eager entry points (e.g. the Lightning module), never inside ``forward`` so that the
        exported graph has no data-dependent control flow.
        """
        if audio.dim() != 2 or audio.shape[1] != self.window_samples:
            raise ValueError(f"audio must have shape [batch, {self.window_samples}], got {list(audio.shape)}")
        if audio.dtype != torch.float32:
            raise ValueError(f"audio must be float32, got {audio.dtype}")

    def count_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) parameters; fixed buffers such as filterbanks are not counted."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def architecture_config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this architecture (subclasses extend it)."""
        return {"num_speakers": self.num_speakers, "embedding_dim": self.embedding_dim}

    def layer_signature(self) -> str:
        """sha256 over the ordered layer types and parameter/buffer shapes, never the weights.

        Two models share a signature exactly when they have the same architecture, so retraining keeps it (a PATCH bump)
        while a changed layer, width or speaker count changes it (a MINOR bump at least).
        """
        layers = [
            {"name": name, "type": type(module).__name__}
            for name, module in self.named_modules()
            if name  # the root is described by arch_type/arch_name below
        ]
        tensors = [
            [name, list(t.shape)] for name, t in self.state_dict().items() if not name.endswith("num_batches_tracked")
        ]
        payload = {
            "arch_type": self.arch_type,
            "arch_name": self.arch_name,
            "window_samples": self.window_samples,
            "sample_rate": self.sample_rate,
            "layers": layers,
            "tensors": tensors,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def num_layers(self) -> int:
        """Count of weight-bearing layers (Conv/Linear), the ``layers`` figure in metadata.json."""
        return sum(1 for m in self.modules() if isinstance(m, nn.Conv1d | nn.Linear))
