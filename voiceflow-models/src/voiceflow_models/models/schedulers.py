"""Learning-rate schedules that survive resuming with a longer run.

``OneCycleLR`` stores its ``total_steps`` in the checkpoint, so resuming with a larger ``max_epochs`` fails
("Tried to step N times"). :class:`WarmupCosineLR` asks for the total at every step instead (the Lightning module
passes ``trainer.estimated_stepping_batches``), and keeps only primitives in its state dict.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch


class WarmupCosineLR(torch.optim.lr_scheduler.LambdaLR):
    """Linear warm-up to the optimizer's LR over ``warmup_fraction`` of the steps, then cosine decay to
    ``final_lr_ratio`` times it.

    Args:
        optimizer: the wrapped optimizer.
        total_steps: the run's optimizer steps, or a zero-argument callable returning them (re-read every step).
        warmup_fraction: share of the steps spent warming up, in [0, 1).
        final_lr_ratio: LR at the end relative to the peak, in [0, 1].
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_steps: int | Callable[[], int],
        warmup_fraction: float = 0.1,
        final_lr_ratio: float = 0.01,
        last_epoch: int = -1,
    ) -> None:
        if not 0 <= warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
        if not 0 <= final_lr_ratio <= 1:
            raise ValueError(f"final_lr_ratio must be in [0, 1], got {final_lr_ratio}")
        self._total_steps = total_steps
        self.warmup_fraction = float(warmup_fraction)
        self.final_lr_ratio = float(final_lr_ratio)
        super().__init__(optimizer, self.factor, last_epoch)

    def total(self) -> int:
        """Current total number of steps (at least 1)."""
        value = self._total_steps() if callable(self._total_steps) else self._total_steps
        return max(1, int(value))

    def factor(self, step: int) -> float:
        """LR multiplier at ``step``."""
        total = self.total()
        warmup = int(total * self.warmup_fraction)
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return self.final_lr_ratio + (1 - self.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def state_dict(self) -> dict[str, Any]:
        """Primitives only (no callables), so checkpoints load with ``weights_only=True``."""
        return {
            key: value
            for key, value in self.__dict__.items()
            if key not in {"optimizer", "lr_lambdas", "_total_steps"} and not callable(value)
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the step counters; the total keeps coming from the live callable/int."""
        self.__dict__.update({k: v for k, v in state_dict.items() if k not in {"lr_lambdas", "_total_steps"}})
