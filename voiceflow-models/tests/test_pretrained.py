"""``model.net.pretrained=PATH``: local checkpoints load into the encoder; bad ones fail naming the key."""

from __future__ import annotations

import pytest
import torch

from voiceflow_models.models.ge2e import GE2E, Ge2eEncoder, resemblyzer_weights
from voiceflow_models.models.pretrained import (
    ADAPTERS,
    CheckpointAdapter,
    PretrainedError,
    load_pretrained,
    register_adapter,
)
from voiceflow_models.models.sophisticated import Sophisticated


def _equal_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_ge2e_loads_the_packaged_resemblyzer_weights():
    state = torch.load(resemblyzer_weights(), map_location="cpu", weights_only=True)["model_state"]
    net = GE2E(num_speakers=3)
    assert torch.equal(net.encoder.lstm.weight_hh_l2, state["lstm.weight_hh_l2"])
    assert torch.equal(net.encoder.linear.bias, state["linear.bias"])


def test_ge2e_loads_a_plain_and_a_lightning_state_dict(tmp_path):
    torch.manual_seed(1)
    source = Ge2eEncoder()
    plain = tmp_path / "encoder.pt"
    torch.save(source.state_dict(), plain)
    assert _equal_state(GE2E(num_speakers=3, pretrained=str(plain)).encoder, source)
    lightning = tmp_path / "run.ckpt"
    head = {"net.classifier.weight": torch.zeros(3, 256), "net.frontend.dft": torch.zeros(1)}
    torch.save({"state_dict": {**{f"net.encoder.{k}": v for k, v in source.state_dict().items()}, **head}}, lightning)
    assert _equal_state(GE2E(num_speakers=3, pretrained=str(lightning)).encoder, source)


def test_missing_path_names_the_config_key(tmp_path):
    with pytest.raises(PretrainedError, match=r"model\.net\.pretrained: checkpoint not found: .*nope\.pt"):
        GE2E(num_speakers=3, pretrained=str(tmp_path / "nope.pt"))


def test_wrong_architecture_names_the_keys(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(8, 1, 3), "fc.bias": torch.zeros(8)}, path)
    with pytest.raises(PretrainedError, match=r"wrong architecture.*missing key\(s\) \['lstm\.weight_ih_l0'"):
        GE2E(num_speakers=3, pretrained=str(path))


def test_mismatched_shape_names_the_key_and_both_shapes(tmp_path):
    state = Ge2eEncoder().state_dict()
    state["linear.weight"] = torch.zeros(128, 256)
    path = tmp_path / "narrow.pt"
    torch.save(state, path)
    with pytest.raises(PretrainedError, match=r"shape mismatch at key 'linear\.weight': checkpoint \(128, 256\)"):
        GE2E(num_speakers=3, pretrained=str(path))


def test_unknown_format_and_unreadable_file(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedError, match="not a readable torch checkpoint"):
        GE2E(num_speakers=3, pretrained=str(path))
    with pytest.raises(PretrainedError, match="unknown checkpoint format 'wespeaker'"):
        GE2E(num_speakers=3, pretrained=str(resemblyzer_weights()), pretrained_format="wespeaker")


def test_a_registered_adapter_maps_foreign_key_names(tmp_path):
    """What docs/model.md shows for WeSpeaker/ECAPA: rename the file's keys onto the encoder's."""

    @register_adapter
    class RenamingAdapter(CheckpointAdapter):
        name = "test-renaming"

        def convert(self, checkpoint, target_keys):
            return {k.replace("rnn.", "lstm.").replace("proj.", "linear."): v for k, v in checkpoint["model"].items()}

    try:
        source = Ge2eEncoder()
        renamed = {k.replace("lstm.", "rnn.").replace("linear.", "proj."): v for k, v in source.state_dict().items()}
        path = tmp_path / "foreign.pt"
        torch.save({"model": renamed}, path)
        target = Ge2eEncoder()
        assert load_pretrained(target, path, "test-renaming").name == "test-renaming"
        assert _equal_state(target, source)
    finally:
        ADAPTERS.pop("test-renaming")


def _hf_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A torchaudio Wav2Vec2Model state dict spelled like transformers' Wav2Vec2ForCTC (old weight-norm names)."""
    out = {}
    for key, value in state.items():
        if key.startswith("encoder.feature_projection."):
            key = key.removeprefix("encoder.")
        elif key.startswith("encoder.transformer."):
            key = "encoder." + key.removeprefix("encoder.transformer.")
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        out["wav2vec2." + key] = value
    out["wav2vec2.masked_spec_embed"] = torch.zeros(64)
    out["lm_head.weight"] = torch.zeros(32, 64)
    return out


def test_sophisticated_loads_torchaudio_and_huggingface_wav2vec2(tmp_path):
    torch.manual_seed(3)
    source = Sophisticated(num_speakers=3, size="tiny")
    torchaudio_file = tmp_path / "wav2vec2_tiny.pth"
    torch.save(source.encoder.state_dict(), torchaudio_file)
    loaded = Sophisticated(num_speakers=3, size="tiny", pretrained=str(torchaudio_file))
    assert _equal_state(loaded.encoder, source.encoder)
    assert "pretrained" not in loaded.architecture_config()  # export rebuilds from the checkpoint, not the file

    hf_file = tmp_path / "pytorch_model.bin"
    torch.save(_hf_layout(source.encoder.state_dict()), hf_file)
    from_hf = Sophisticated(num_speakers=3, size="tiny", pretrained=str(hf_file))
    assert _equal_state(from_hf.encoder, source.encoder)

    with pytest.raises(PretrainedError, match=r"preset 'small' \(wrong architecture\?\): missing key\(s\) \['encoder"):
        Sophisticated(num_speakers=3, size="small", pretrained=str(torchaudio_file))
    state = source.encoder.state_dict()
    state["encoder.feature_projection.projection.weight"] = torch.zeros(64, 16)
    torch.save(state, torchaudio_file)
    with pytest.raises(
        PretrainedError, match=r"shape mismatch at key 'encoder\.feature_projection\.projection\.weight'"
    ):
        Sophisticated(num_speakers=3, size="tiny", pretrained=str(torchaudio_file))
