"""Describe a network's structure (not its weights): parameter count, weight layers and a structural signature.

The signature drives the semantic-version rules: same signature -> new weights only (PATCH); a different one -> an
architecture change (MINOR, as long as the I/O contract holds).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from torch import nn

from voiceflow_contract.spec import SAMPLE_RATE, WINDOW_SAMPLES

# Leaf modules that carry learned weights and count as "layers" in metadata.json (norms and activations do not).
_WEIGHT_LAYERS = (
    nn.Conv1d,
    nn.Conv2d,
    nn.ConvTranspose1d,
    nn.Linear,
    nn.LSTM,
    nn.GRU,
    nn.RNN,
    nn.MultiheadAttention,
    nn.Embedding,
)


@dataclass(frozen=True)
class ArchitectureInfo:
    """What metadata.json's `architecture` block and the ONNX metadata record."""

    type: str
    name: str
    params: int
    layers: int
    signature: str
    num_speakers: int
    embedding_dim: int
    sample_rate: int
    window_samples: int


def architecture_signature(model: nn.Module) -> str:
    """sha256 (16 hex) over every submodule's class and every parameter/buffer name and shape."""
    lines = [f"module {name or '<root>'} {type(m).__name__}" for name, m in model.named_modules()]
    lines += [f"tensor {name} {tuple(t.shape)}" for name, t in model.state_dict().items()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def count_layers(model: nn.Module) -> int:
    """Number of weight layers (convolutions, linear, recurrent, attention)."""
    return sum(1 for m in model.modules() if isinstance(m, _WEIGHT_LAYERS))


def describe(model: nn.Module) -> ArchitectureInfo:
    """Read the DiarizationModel attributes and structure.

    A DiarizationModel's own ``layer_signature()``/``num_layers()`` win (so the training package stays the one
    definition); plain modules, e.g. test networks, fall back to the equivalents here.
    """
    layer_signature = getattr(model, "layer_signature", None)
    num_layers = getattr(model, "num_layers", None)
    return ArchitectureInfo(
        type=str(getattr(model, "arch_type", "unknown")),
        name=str(getattr(model, "arch_name", type(model).__name__)),
        params=sum(p.numel() for p in model.parameters()),
        layers=int(num_layers()) if callable(num_layers) else count_layers(model),
        signature=str(layer_signature()) if callable(layer_signature) else architecture_signature(model),
        num_speakers=int(getattr(model, "num_speakers", 0)),
        embedding_dim=int(getattr(model, "embedding_dim", 0)),
        sample_rate=int(getattr(model, "sample_rate", SAMPLE_RATE)),
        window_samples=int(getattr(model, "window_samples", WINDOW_SAMPLES)),
    )
