"""The freeze/unfreeze schedule: head first, the top encoder layer later at a lower LR; configs compose."""

from __future__ import annotations

from functools import partial

import pytest
import pytorch_lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from voiceflow_contract.spec import WINDOW_SAMPLES
from voiceflow_models.models.base import DiarizationModel
from voiceflow_models.models.lit_module import DiarizationLitModule
from voiceflow_models.models.schedulers import WarmupCosineLR
from voiceflow_models.training.config import compose_config
from voiceflow_models.training.finetune import EncoderFinetuning


class TinyPretrained(DiarizationModel):
    """A two-layer 'encoder' over a pooled waveform, plus a head: what EncoderFinetuning needs, in milliseconds."""

    def __init__(self, num_speakers: int = 3) -> None:
        super().__init__(num_speakers=num_speakers, embedding_dim=8)
        self.encoder = nn.Sequential(nn.Linear(60, 8), nn.Tanh(), nn.Linear(8, 8))
        self.classifier = nn.Linear(8, num_speakers)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.encoder(audio.view(audio.shape[0], 60, -1).mean(-1))
        return self.classifier(embedding), embedding

    def encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def top_encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder[2].parameters())


class Snapshots(L.Callback):
    def __init__(self) -> None:
        self.per_epoch: list[dict[str, torch.Tensor]] = []
        self.lrs: list[list[float]] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.per_epoch.append({k: v.detach().clone() for k, v in pl_module.net.state_dict().items()})
        self.lrs.append([g["lr"] for g in trainer.optimizers[0].param_groups])


def _fit(schedule: EncoderFinetuning, tmp_path, epochs: int = 3) -> tuple[TinyPretrained, Snapshots]:
    torch.manual_seed(0)
    net = TinyPretrained()
    start = {k: v.clone() for k, v in net.state_dict().items()}
    module = DiarizationLitModule(
        net,
        optimizer=partial(torch.optim.AdamW, lr=0.01, weight_decay=0.01),
        scheduler=partial(WarmupCosineLR, warmup_fraction=0.0, final_lr_ratio=0.5),
    )
    data = TensorDataset(torch.randn(8, WINDOW_SAMPLES) * 0.1, torch.arange(8) % 3)
    snapshots = Snapshots()
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        callbacks=[schedule, snapshots],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, DataLoader(data, batch_size=4))
    snapshots.per_epoch.insert(0, start)
    return net, snapshots


def _moved(snapshots: Snapshots, epoch: int, prefix: str) -> bool:
    before, after = snapshots.per_epoch[epoch], snapshots.per_epoch[epoch + 1]
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


def test_head_trains_while_the_encoder_stays_frozen(tmp_path):
    _, snaps = _fit(EncoderFinetuning(freeze_epochs=1, unfreeze_top=False), tmp_path, epochs=2)
    for epoch in range(2):
        assert _moved(snaps, epoch, "classifier.")
        assert not _moved(snaps, epoch, "encoder.")
    assert len(snaps.lrs[0]) == 1


def test_top_layer_unfreezes_after_freeze_epochs_at_a_lower_lr(tmp_path):
    _, snaps = _fit(EncoderFinetuning(freeze_epochs=1, unfreeze_top=True, top_lr_scale=0.1), tmp_path, epochs=3)
    assert _moved(snaps, 0, "classifier.") and not _moved(snaps, 0, "encoder.")
    for epoch in (1, 2):
        assert _moved(snaps, epoch, "encoder.2.")  # the top layer trains
        assert not _moved(snaps, epoch, "encoder.0.")  # the lower layer never does
    for head_lr, top_lr in snaps.lrs:  # the scheduler drives both groups, keeping the ratio
        assert top_lr == pytest.approx(0.1 * head_lr)


def test_networks_without_an_encoder_are_refused(tmp_path):
    class Plain(DiarizationModel):
        def forward(self, audio):  # pragma: no cover - never reached
            raise AssertionError

    module = DiarizationLitModule(Plain(3, 4), optimizer=partial(torch.optim.AdamW, lr=0.01))
    with pytest.raises(TypeError, match="encoder_parameters"):
        EncoderFinetuning().setup(L.Trainer(logger=False), module, "fit")
    with pytest.raises(ValueError, match="top_lr_scale"):
        EncoderFinetuning(top_lr_scale=0)


@pytest.mark.parametrize(
    "overrides",
    [
        ["experiment=ge2e_synthetic"],
        ["experiment=ge2e_synthetic", "data=rttm_corpus", "data.root=/corpora/ami"],
        ["experiment=ge2e_synthetic", "trainer=ddp", "trainer.devices=2"],
        ["model=sophisticated", "callbacks=finetune", "model.net.pretrained=/w/wav2vec2.pth"],
    ],
)
def test_finetune_configs_compose(overrides, tmp_path):
    cfg = compose_config(overrides, tmp_path)
    assert cfg.callbacks.encoder_finetune._target_.endswith("EncoderFinetuning")
    if "experiment=ge2e_synthetic" in overrides:
        assert cfg.model.net._target_.endswith("GE2E") and cfg.model.net.pretrained == "resemblyzer"
        assert cfg.model.eval_vector == "embedding"
    if "data=rttm_corpus" in overrides:
        assert cfg.data.source == "rttm" and cfg.data.root == "/corpora/ami"
    if "trainer=ddp" in overrides:
        assert cfg.trainer.strategy == "ddp"
