"""Freeze / unfreeze schedule for pretrained encoders: train the head first, then optionally the top encoder layer.

Works with any network that has ``encoder_parameters()`` and ``top_encoder_parameters()`` (GE2E, Sophisticated).

* The encoder is frozen (``requires_grad=False``) for the whole run, except its top layer when ``unfreeze_top``:
  that layer stays in the autograd graph but its gradients are dropped before every optimizer step of the first
  ``freeze_epochs`` epochs, so it does not move. Keeping it registered from the start is what makes the schedule
  work under DDP, which only synchronises parameters that required gradients when it wrapped the model.
* At fit start the top layer's parameters move into their own optimizer group at ``top_lr_scale`` times the base LR,
  and every ``LambdaLR``-based scheduler (``WarmupCosineLR``) gets a matching entry, so warm-up and decay apply to it
  too. That happens before Lightning restores a checkpoint's optimizer state, so resuming (``ckpt_path``) works.

Configured as ``callbacks=finetune`` (configs/callbacks/finetune.yaml), e.g.
``callbacks.encoder_finetune.freeze_epochs=2 callbacks.encoder_finetune.unfreeze_top=true``.
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as L
import torch
from torch import nn

log = logging.getLogger(__name__)


class EncoderFinetuning(L.Callback):
    """Freeze a pretrained encoder; after ``freeze_epochs`` epochs optionally train its top layer at a lower LR.

    Args:
        freeze_epochs: epochs during which the whole encoder is frozen (the head alone trains).
        unfreeze_top: train the top encoder layer from epoch ``freeze_epochs`` on (False: frozen throughout).
        top_lr_scale: the top layer's LR relative to the head's, in (0, 1].
    """

    def __init__(self, freeze_epochs: int = 1, unfreeze_top: bool = False, top_lr_scale: float = 0.1) -> None:
        super().__init__()
        if freeze_epochs < 0:
            raise ValueError(f"freeze_epochs must be >= 0, got {freeze_epochs}")
        if not 0 < top_lr_scale <= 1:
            raise ValueError(f"top_lr_scale must be in (0, 1], got {top_lr_scale}")
        self.freeze_epochs = int(freeze_epochs)
        self.unfreeze_top = bool(unfreeze_top)
        self.top_lr_scale = float(top_lr_scale)
        self._top: list[nn.Parameter] = []

    @staticmethod
    def _network(pl_module: L.LightningModule) -> Any:
        net = getattr(pl_module, "net", pl_module)
        for method in ("encoder_parameters", "top_encoder_parameters"):
            if not callable(getattr(net, method, None)):
                raise TypeError(
                    f"callbacks.encoder_finetune: {type(net).__name__} has no {method}(); the freeze schedule needs a "
                    "pretrained-encoder model (model=ge2e, model=sophisticated)"
                )
        return net

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Freeze the encoder before the optimizer is built (the top layer stays registered when it will train)."""
        if stage != "fit":
            return
        net = self._network(pl_module)
        self._top = list(net.top_encoder_parameters()) if self.unfreeze_top else []
        top_ids = {id(p) for p in self._top}
        for param in net.encoder_parameters():
            param.requires_grad_(id(param) in top_ids)
        log.info(
            "Encoder frozen%s",
            f"; top layer trains from epoch {self.freeze_epochs} at {self.top_lr_scale:g} x LR" if self._top else "",
        )

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Give the top layer its own optimizer group at the lower LR, and extend the LR schedulers to it."""
        if not self._top:
            return
        top_ids = {id(p) for p in self._top}
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["params"] = [p for p in group["params"] if id(p) not in top_ids]
            base = optimizer.param_groups[0]
            base_lr = float(base.get("initial_lr", base["lr"])) * self.top_lr_scale
            factor = base["lr"] / float(base.get("initial_lr", base["lr"]) or 1.0)
            optimizer.add_param_group({"params": self._top, "lr": base_lr * factor, "initial_lr": base_lr})
            for config in trainer.lr_scheduler_configs:
                if config.scheduler.optimizer is optimizer:
                    _extend_scheduler(config.scheduler, base_lr)

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        """While frozen, drop the top layer's gradients so the optimizer skips it (no update, no moments, no decay)."""
        if self._top and trainer.current_epoch < self.freeze_epochs:
            for param in self._top:
                param.grad = None


def _extend_scheduler(scheduler: Any, base_lr: float) -> None:
    """Add the new last param group to ``scheduler`` (``LambdaLR`` family: same multiplier as group 0)."""
    if not isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        raise TypeError(
            f"callbacks.encoder_finetune: cannot add the top-layer group to a {type(scheduler).__name__}; "
            "use WarmupCosineLR (or another LambdaLR) or no scheduler"
        )
    scheduler.lr_lambdas.append(scheduler.lr_lambdas[0])
    scheduler.base_lrs.append(base_lr)
    scheduler._last_lr.append(scheduler.optimizer.param_groups[-1]["lr"])  # read by get_last_lr() / LR monitor
