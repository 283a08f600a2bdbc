"""Evaluate a trained checkpoint on the test split: ``python -m voiceflow_models.training.eval ckpt_path=PATH``.

The network is rebuilt from the checkpoint itself (``load_network``), so any architecture's checkpoint works with
the default ``model`` config; ``data`` must describe the same speaker set size for ``test/acc`` to mean anything.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as L
from omegaconf import DictConfig, OmegaConf

from voiceflow_models.models.lit_module import DiarizationLitModule, load_network
from voiceflow_models.training.config import register_resolvers
from voiceflow_models.training.utils import apply_extras, instantiate_loggers

log = logging.getLogger(__name__)
register_resolvers()  # before @hydra.main composes the configs


def _plain(node: Any) -> dict[str, Any]:
    """A config node as a plain dict (empty for None)."""
    if node is None:
        return {}
    return dict(OmegaConf.to_container(node, resolve=True)) if isinstance(node, DictConfig) else dict(node)


def evaluate(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test ``cfg.ckpt_path`` on ``cfg.data``'s test split; returns ``(metric_dict, object_dict)``."""
    ckpt = Path(str(cfg.ckpt_path))
    if not ckpt.is_file():
        raise FileNotFoundError(f"ckpt_path: checkpoint not found: {ckpt}")
    if cfg.get("seed") is not None:
        L.seed_everything(int(cfg.seed), workers=True)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)
    net = load_network(ckpt)
    model = DiarizationLitModule(
        net=net,
        optimizer=hydra.utils.instantiate(cfg.model.optimizer),
        eval_vector=str(cfg.model.get("eval_vector", "probs")),
        diarizer_options=_plain(cfg.model.get("diarizer_options")),
    )
    logger = instantiate_loggers(cfg.get("logger"))
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, logger=logger or False)
    trainer.test(model=model, datamodule=datamodule)
    metrics = dict(trainer.callback_metrics)
    if cfg.get("test_conversations") and hasattr(datamodule, "conversation_dataloader"):
        trainer.test(model=model, dataloaders=datamodule.conversation_dataloader("test"))
        metrics.update(trainer.callback_metrics)
    return metrics, {"cfg": cfg, "model": model, "trainer": trainer, "datamodule": datamodule}


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval.yaml")
def main(cfg: DictConfig) -> None:
    """Console entry point."""
    apply_extras(cfg)
    evaluate(cfg)


if __name__ == "__main__":
    main()
