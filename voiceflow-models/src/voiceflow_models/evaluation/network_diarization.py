"""Diarize a recording with a PyTorch network exactly as the server does, and score it against its reference.

The pipeline is the shared one, ``voiceflow_contract.diarization.pipeline.diarize_audio`` (numpy): 1 s windows every
``hop_s``, VAD per window, the network's window vector (softmax probabilities, or the embedding), online clustering
and ``finalize``. Only the network call differs from serving (torch here, ONNX Runtime there), so DER measured
during training is the DER the served model gets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol

import numpy as np
import torch

from voiceflow_contract.diarization import Segment
from voiceflow_contract.diarization.pipeline import diarize_audio as shared_diarize_audio
from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_models.evaluation.metrics import score_diarization

VectorKind = Literal["probs", "embedding"]


class WindowNetwork(Protocol):
    """What scoring needs of a network (``voiceflow_models.models.base.DiarizationModel`` satisfies it): windows in,
    ``(logits, embedding)`` out, its sample rate and window length, and torch's train/eval switch."""

    sample_rate: int
    window_samples: int
    training: bool

    def __call__(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...

    def eval(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


@torch.no_grad()
def window_vectors(
    net: WindowNetwork, windows: np.ndarray, vector: VectorKind = "probs", batch_size: int = 64
) -> np.ndarray:
    """Run ``net`` over ``windows [N, samples]`` in batches; ``probs`` = softmax of the logits, else the embedding."""
    if vector not in ("probs", "embedding"):
        raise ValueError(f"vector must be 'probs' or 'embedding', got {vector!r}")
    device = next(net.parameters()).device
    out = []
    for i in range(0, len(windows), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size], dtype=np.float32)).to(device)
        logits, embedding = net(batch)
        values = torch.softmax(logits, dim=-1) if vector == "probs" else embedding
        out.append(values.float().cpu().numpy())
    return np.concatenate(out, axis=0) if out else np.zeros((0, 0), dtype=np.float32)


def diarize_audio(
    net: WindowNetwork,
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    hop_s: float = 0.5,
    vector: VectorKind = "probs",
    batch_size: int = 64,
    **diarizer_options: Any,
) -> list[Segment]:
    """Speaker turns of a mono recording (``sample_rate`` must be the network's), via the shared pipeline."""
    if sample_rate != net.sample_rate:
        raise ValueError(f"sample_rate must be the network's {net.sample_rate} Hz, got {sample_rate}")
    was_training = net.training
    net.eval()
    try:
        return shared_diarize_audio(
            audio,
            sample_rate,
            lambda windows: window_vectors(net, windows, vector=vector, batch_size=batch_size),
            window_s=net.window_samples / sample_rate,
            hop_s=hop_s,
            batch_size=batch_size,
            **diarizer_options,
        )
    finally:
        net.train(was_training)


def evaluate_conversations(
    net: WindowNetwork,
    conversations: Sequence[Any],
    *,
    hop_s: float = 0.5,
    vector: VectorKind = "probs",
    **diarizer_options: Any,
) -> list[dict[str, float]]:
    """Per-conversation scores (see ``score_diarization``) for objects with ``audio``, ``sample_rate``, ``segments``."""
    results = []
    for conv in conversations:
        audio = conv["audio"] if isinstance(conv, dict) else conv.audio
        sample_rate = int(conv["sample_rate"] if isinstance(conv, dict) else conv.sample_rate)
        reference = conv["segments"] if isinstance(conv, dict) else conv.segments
        audio_np = audio.cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
        hypothesis = diarize_audio(net, audio_np, sample_rate, hop_s=hop_s, vector=vector, **diarizer_options)
        results.append(score_diarization(reference, hypothesis, uem=(0.0, len(audio_np) / sample_rate)))
    return results
