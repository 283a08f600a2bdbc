"""The one LightningModule: trains any :class:`DiarizationModel` as a speaker classifier over 1 s windows.

Batches are ``(audio [B, WINDOW_SAMPLES] float32, speaker [B] int64)``. Checkpoints carry a ``"voiceflow"`` entry
(architecture class + constructor arguments + training summary) so :func:`load_network` rebuilds the bare network
without Hydra.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from voiceflow_models.evaluation.metrics import aggregate_scores
from voiceflow_models.evaluation.network_diarization import evaluate_conversations
from voiceflow_models.models.base import DiarizationModel
from voiceflow_models.models.schedulers import WarmupCosineLR

CHECKPOINT_KEY = "voiceflow"
log = logging.getLogger(__name__)


class AAMSoftmaxHead(nn.Module):
    """Additive angular margin (ArcFace) logits from the classifier's weights: ``s * cos(theta + m)`` on the target.

    Used only for the training loss; the exported graph keeps the plain linear classifier so eval/ONNX stay simple.
    """

    def __init__(self, margin: float = 0.2, scale: float = 30.0) -> None:
        super().__init__()
        if not 0 <= margin < math.pi / 2 or scale <= 0:
            raise ValueError(f"aam margin must be in [0, pi/2) and scale > 0, got margin={margin} scale={scale}")
        self.margin = margin
        self.scale = scale

    def forward(self, embedding: torch.Tensor, weight: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Margin-adjusted, scaled cosine logits ``[B, num_speakers]``."""
        cosine = F.linear(F.normalize(embedding), F.normalize(weight)).clamp(-1 + 1e-7, 1 - 1e-7)
        theta = torch.acos(cosine)
        target_logit = torch.cos(theta + self.margin)
        one_hot = F.one_hot(target, cosine.shape[1]).to(cosine.dtype)
        return self.scale * (one_hot * target_logit + (1 - one_hot) * cosine)


class DiarizationLitModule(L.LightningModule):
    """Speaker-classification training of a diarization network.

    Args:
        net: the network (Hydra instantiates it from ``model.net``).
        optimizer: partial optimizer, called with the parameters (``_partial_: true`` in the config).
        scheduler: partial LR scheduler called with the optimizer, or None. ``OneCycleLR`` gets ``total_steps``
            from the trainer automatically.
        scheduler_interval: ``"step"`` or ``"epoch"``.
        aam_margin: additive angular margin for the loss (0 = plain cross-entropy on the linear logits).
        aam_scale: cosine scale used with the margin.
        label_smoothing: cross-entropy label smoothing.
        augmentation: optional callable ``(audio [B, T]) -> audio`` applied to training batches only (on the fly).
        eval_vector: window vector used when diarizing conversation batches (``probs`` or ``embedding``).
        diarizer_options: keyword arguments for ``StreamingDiarizer`` when diarizing conversation batches.

    Validation/test batches may be windows ``(audio, speaker)`` (logged as ``*/acc``, ``*/loss``) or conversation
    dicts (``audio``, ``sample_rate``, ``segments``; batch size 1), which are diarized with the shared streaming code
    and scored (logged as ``*/der`` at collar 0, ``*/der_collar_025``, ``*/precision``, ``*/recall``,
    ``*/speaker_accuracy``).
    """

    def __init__(
        self,
        net: DiarizationModel,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        aam_margin: float = 0.0,
        aam_scale: float = 30.0,
        label_smoothing: float = 0.0,
        augmentation: Callable[[torch.Tensor], torch.Tensor] | None = None,
        eval_vector: str = "probs",
        diarizer_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if eval_vector not in {"probs", "embedding"}:
            raise ValueError(f"eval_vector must be 'probs' or 'embedding', got {eval_vector!r}")
        # Plain dict (not DictConfig) so the checkpoint stays loadable with weights_only=True.
        diarizer_options = {str(k): v for k, v in dict(diarizer_options or {}).items()}
        if not isinstance(net, DiarizationModel):
            raise TypeError(f"net must be a DiarizationModel, got {type(net).__name__}")
        if scheduler_interval not in {"step", "epoch"}:
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}")
        # Only primitives go into hparams so checkpoints load with torch.load(weights_only=True); the net is rebuilt
        # from the "voiceflow" checkpoint entry, the optimizer/scheduler/augmentation from the config.
        self.save_hyperparameters(logger=False, ignore=["net", "augmentation", "optimizer", "scheduler"])
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.augmentation = augmentation
        self.aam = AAMSoftmaxHead(aam_margin, aam_scale) if aam_margin > 0 else None
        num_classes = net.num_speakers
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.train_loss = MeanMetric()
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.val_acc_best = MaxMetric()
        self._conversation_scores: dict[str, list[dict[str, float]]] = {"val": [], "test": []}
        # Filled by train.py so checkpoints carry their lineage (resolved config, seed, dataset description).
        self.run_info: dict[str, Any] = {}

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, embedding)`` of the wrapped network."""
        return self.net(audio)

    def _check_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch, list | tuple) or len(batch) != 2:
            raise ValueError(f"a batch must be (audio [B, {self.net.window_samples}] float32, speaker [B] int64)")
        audio, target = batch
        self.net.check_input(audio)
        if target.dim() != 1 or target.shape[0] != audio.shape[0]:
            raise ValueError(f"speaker labels must have shape [{audio.shape[0]}], got {list(target.shape)}")
        if target.numel() and (int(target.min()) < 0 or int(target.max()) >= self.net.num_speakers):
            raise ValueError(
                f"speaker labels must be in [0, {self.net.num_speakers}) (net.num_speakers = data.num_train_voices), "
                f"got [{int(target.min())}, {int(target.max())}]"
            )
        return audio, target.long()

    def model_step(self, batch: Any, train: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Loss, predictions and targets for one batch (augmentation and margin only when ``train``)."""
        audio, target = self._check_batch(batch)
        if train and self.augmentation is not None:
            with torch.no_grad():
                audio = self.augmentation(audio)
        logits, embedding = self.net(audio)
        if train and self.aam is not None:
            loss_logits = self.aam(embedding, self.net.classifier.weight, target)  # type: ignore[arg-type]
        else:
            loss_logits = logits
        loss = F.cross_entropy(loss_logits, target, label_smoothing=self.hparams.label_smoothing)
        return loss, logits.argmax(dim=-1), target

    def on_train_start(self) -> None:
        """Reset validation state so the sanity check does not leak into ``val/acc_best``."""
        self.val_loss.reset()
        self.val_acc.reset()
        self.val_acc_best.reset()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        """One optimisation step; logs ``train/loss`` and ``train/acc``.

        A one-window batch (the remainder of an epoch whose size is not a multiple of the batch size) is skipped:
        BatchNorm cannot normalise a single example in training mode.
        """
        if isinstance(batch, list | tuple) and len(batch) == 2 and batch[0].shape[0] == 1:
            log.warning("Skipping a one-window training batch (BatchNorm needs >= 2); adjust data.windows_per_epoch")
            return None
        loss, preds, target = self.model_step(batch, train=True)
        self.train_loss(loss)
        self.train_acc(preds, target)
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    @staticmethod
    def _is_conversation(batch: Any) -> bool:
        return isinstance(batch, dict) and "audio" in batch and "segments" in batch

    def _conversation_step(self, stage: str, batch: dict[str, Any]) -> None:
        scores = evaluate_conversations(
            self.net, [batch], vector=self.hparams.eval_vector, **self.hparams.diarizer_options
        )
        self._conversation_scores[stage].extend(scores)

    def _log_conversation_scores(self, stage: str) -> None:
        scores = self._conversation_scores[stage]
        if not scores:
            return
        summary = aggregate_scores(scores)
        names = {
            "der_collar_0": "der",
            "der_collar_025": "der_collar_025",
            "precision": "precision",
            "recall": "recall",
            "speaker_accuracy": "speaker_accuracy",
        }
        for key, name in names.items():
            self.log(f"{stage}/{name}", float(summary[key]), sync_dist=True, prog_bar=name == "der")
        scores.clear()

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Conversation dicts hold frozen ``Segment`` dataclasses Lightning cannot traverse: move only the audio."""
        if self._is_conversation(batch):
            moved = dict(batch)
            if isinstance(moved["audio"], torch.Tensor):
                moved["audio"] = moved["audio"].to(device)
            return moved
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Window batches: ``val/loss``, ``val/acc``; conversation batches: diarization scores (see class doc)."""
        if self._is_conversation(batch):
            self._conversation_step("val", batch)
            return
        loss, preds, target = self.model_step(batch)
        self.val_loss(loss)
        self.val_acc(preds, target)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True, add_dataloader_idx=False)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True, add_dataloader_idx=False)

    def on_validation_epoch_end(self) -> None:
        """Track the best validation accuracy as ``val/acc_best``; log conversation scores."""
        if self.val_acc.update_count > 0:
            self.val_acc_best(self.val_acc.compute())
            self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True, prog_bar=True)
        self._log_conversation_scores("val")

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Window batches: ``test/loss``, ``test/acc``; conversation batches: diarization scores."""
        if self._is_conversation(batch):
            self._conversation_step("test", batch)
            return
        loss, preds, target = self.model_step(batch)
        self.test_loss(loss)
        self.test_acc(preds, target)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True, prog_bar=True, add_dataloader_idx=False)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True, prog_bar=True, add_dataloader_idx=False)

    def on_test_epoch_end(self) -> None:
        """Log the test conversations' diarization scores."""
        self._log_conversation_scores("test")

    def configure_optimizers(self) -> dict[str, Any]:
        """AdamW (or whatever partial the config gives) plus the optional LR scheduler."""
        optimizer = self.optimizer_factory(params=self.trainer.model.parameters())
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler_factory = self.scheduler_factory
        target = getattr(scheduler_factory, "func", scheduler_factory)
        if target is WarmupCosineLR:
            # Re-read every step, so resuming with a larger max_epochs stretches the schedule instead of failing.
            scheduler = scheduler_factory(
                optimizer=optimizer, total_steps=lambda: int(self.trainer.estimated_stepping_batches)
            )
        elif target is torch.optim.lr_scheduler.OneCycleLR:
            scheduler = scheduler_factory(
                optimizer=optimizer, total_steps=max(1, int(self.trainer.estimated_stepping_batches))
            )
        else:
            scheduler = scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "monitor": "val/loss",
                "interval": self.hparams.scheduler_interval,
                "frequency": 1,
            },
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store how to rebuild the bare network plus the training summary that metadata.json needs."""
        net = self.net
        cls = type(net)
        optimizer = self.optimizer_factory
        opt_cls = getattr(optimizer, "func", optimizer)
        lr = (getattr(optimizer, "keywords", None) or {}).get("lr")
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        checkpoint[CHECKPOINT_KEY] = {
            "net_target": f"{cls.__module__}.{cls.__qualname__}",
            "net_config": net.architecture_config(),
            "arch_type": net.arch_type,
            "arch_name": net.arch_name,
            "profile": net.profile,
            "params": net.count_parameters(),
            "layers": net.num_layers(),
            "layer_signature": net.layer_signature(),
            "num_speakers": net.num_speakers,
            "embedding_dim": net.embedding_dim,
            "sample_rate": net.sample_rate,
            "window_samples": net.window_samples,
            "training": {
                "epochs": int(self.current_epoch) + 1 if self._trainer is not None else 0,
                "batch_size": _batch_size(datamodule),
                "optimizer": getattr(opt_cls, "__name__", str(opt_cls)),
                "learning_rate": float(lr) if lr is not None else None,
            },
            **self.run_info,
        }


def _batch_size(datamodule: Any) -> int:
    """The datamodule's batch size (attribute or hparam), 0 when unknown."""
    if datamodule is None:
        return 0
    value = getattr(datamodule, "batch_size", None)
    if value is None:
        value = getattr(datamodule, "hparams", {}).get("batch_size", 0)
    return int(value or 0)


def load_checkpoint_info(checkpoint_path: str | Path) -> dict[str, Any]:
    """The ``"voiceflow"`` entry of a checkpoint written by :class:`DiarizationLitModule` (architecture + lineage)."""
    path = Path(checkpoint_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if CHECKPOINT_KEY not in checkpoint:
        raise ValueError(f"{path} has no '{CHECKPOINT_KEY}' entry: not written by DiarizationLitModule")
    return dict(checkpoint[CHECKPOINT_KEY])


def load_network(checkpoint_path: str | Path) -> DiarizationModel:
    """Rebuild the bare network from a Lightning checkpoint, load its weights, and return it in eval mode."""
    path = Path(checkpoint_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    info = checkpoint.get(CHECKPOINT_KEY)
    if info is None:
        raise ValueError(f"{path} has no '{CHECKPOINT_KEY}' entry: not written by DiarizationLitModule")
    module_name, _, class_name = info["net_target"].rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    net: DiarizationModel = cls(**info["net_config"])
    state = {k.removeprefix("net."): v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(state)
    return net.eval()
