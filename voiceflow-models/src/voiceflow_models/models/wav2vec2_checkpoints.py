"""Hugging Face wav2vec2 checkpoints for the Sophisticated model's torchaudio ``Wav2Vec2Model`` encoder.

A ``transformers`` ``Wav2Vec2Model`` / ``Wav2Vec2ForCTC`` / ``Wav2Vec2ForPreTraining`` state dict
(``pytorch_model.bin`` or ``model.safetensors``, downloaded by the user) is renamed the way
``torchaudio.models.wav2vec2.utils.import_huggingface_model`` maps the modules, without needing ``transformers``:
``feature_extractor.*`` stays, ``feature_projection.*`` -> ``encoder.feature_projection.*``, ``encoder.*`` ->
``encoder.transformer.*``; the pre-training and CTC heads (quantizer, projections, ``lm_head``, masking embedding) are
dropped. torchaudio's own ``Wav2Vec2Model`` state dicts load with the generic ``state_dict`` adapter.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from voiceflow_models.models.pretrained import (
    CheckpointAdapter,
    register_adapter,
    rename_weight_norm,
    tensors_of,
)

_HF_PREFIX = "wav2vec2."
_DROPPED = ("masked_spec_embed", "quantizer.", "project_q.", "project_hid.", "lm_head.", "dropout_features")


def _hf_key(key: str) -> str | None:
    """The torchaudio key of one Hugging Face key, None for tensors the encoder does not have."""
    key = key.removeprefix(_HF_PREFIX)
    if key.startswith(_DROPPED):
        return None
    if key.startswith("feature_projection."):
        return "encoder." + key
    if key.startswith("encoder."):
        return "encoder.transformer." + key.removeprefix("encoder.")
    return key


@register_adapter
class HuggingFaceWav2Vec2Adapter(CheckpointAdapter):
    """``transformers`` wav2vec2 state dict -> torchaudio ``Wav2Vec2Model`` state dict."""

    name: ClassVar[str] = "huggingface-wav2vec2"

    def detect(self, checkpoint: Any) -> bool:
        """HF spells the projection ``feature_projection.*`` at the top level (torchaudio nests it in ``encoder``)."""
        keys = tensors_of(checkpoint)
        return any(k.removeprefix(_HF_PREFIX).startswith("feature_projection.") for k in keys)

    def convert(self, checkpoint: Any, target_keys: list[str]) -> dict[str, torch.Tensor]:
        """Rename every encoder tensor; drop the heads."""
        renamed = {}
        for key, value in tensors_of(checkpoint).items():
            new = _hf_key(key)
            if new is not None:
                renamed[new] = value
        return rename_weight_norm(renamed, target_keys)
