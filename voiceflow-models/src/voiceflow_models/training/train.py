"""Train a diarization network with Lightning, configured by Hydra (lightning-hydra-template layout).

    python -m voiceflow_models.training.train experiment=fast_cnn_synthetic trainer=cpu
    python -m voiceflow_models.training.train model=sophisticated trainer=gpu data.batch_size=64
    python -m voiceflow_models.training.train ckpt_path=last          # resume the newest run of this task
    python -m voiceflow_models.training.train -m hparams_search=fast_cnn_optuna

Outputs: ``<paths.log_dir>/<task_name>/runs/<timestamp>/`` holds ``checkpoints/{epoch_NNN,last}.ckpt``, ``csv/`` logs
and ``.hydra/``; the best checkpoint is then copied to ``<publish_dir>/<arch_name>/model.ckpt`` with
``train_metrics.json`` beside it (``publish_dir`` defaults to ``paths.artifacts_dir`` = ``$ARTIFACTS`` or ./artifacts).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from voiceflow_models.models.lit_module import DiarizationLitModule
from voiceflow_models.training.config import register_resolvers
from voiceflow_models.training.utils import (
    apply_extras,
    instantiate_callbacks,
    instantiate_loggers,
    metric_value,
    mlflow_run_id,
    resolve_ckpt_path,
)

log = logging.getLogger(__name__)
register_resolvers()  # before @hydra.main composes the configs


def _to_float(value: Any) -> Any:
    return float(value.item()) if isinstance(value, torch.Tensor) else value


def _run_info(cfg: DictConfig, datamodule: L.LightningDataModule) -> dict[str, Any]:
    """Lineage stored in every checkpoint: resolved config, seed, dataset description and fingerprint."""
    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # unresolvable interpolations (e.g. outside a Hydra run) must not stop training
        config = OmegaConf.to_container(cfg, resolve=False)
    fingerprint = getattr(datamodule, "fingerprint", None)
    description = getattr(datamodule, "describe", None)
    return {
        "config": config,
        "seed": int(cfg.seed) if cfg.get("seed") is not None else None,
        "dataset": description() if callable(description) else str(cfg.data.get("source", "unknown")),
        "dataset_fingerprint": fingerprint() if callable(fingerprint) else None,
    }


def publish_checkpoint(
    checkpoint: str | Path, publish_dir: str | Path, arch_name: str, metrics: dict[str, Any]
) -> Path:
    """Copy ``checkpoint`` to ``<publish_dir>/<arch_name>/model.ckpt`` and write ``train_metrics.json`` beside it."""
    target_dir = Path(publish_dir) / arch_name
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "model.ckpt"
    shutil.copyfile(checkpoint, target)
    summary = {"source_checkpoint": str(checkpoint), "metrics": {k: _to_float(v) for k, v in metrics.items()}}
    (target_dir / "train_metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return target


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit (and test) the configured model; returns ``(metric_dict, object_dict)``.

    Instantiates ``cfg.data``, ``cfg.model``, ``cfg.callbacks``, ``cfg.logger`` and ``cfg.trainer``; seeds everything
    from ``cfg.seed`` (data workers included); resumes from ``cfg.ckpt_path`` (``last`` supported); tests on the best
    checkpoint; publishes it when ``cfg.publish_dir`` is set.
    """
    if cfg.get("seed") is not None:
        L.seed_everything(int(cfg.seed), workers=True)

    log.info("Instantiating datamodule <%s>", cfg.data._target_)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)

    log.info("Instantiating model <%s> with net <%s>", cfg.model._target_, cfg.model.net._target_)
    model: DiarizationLitModule = hydra.utils.instantiate(cfg.model)
    model.run_info = _run_info(cfg, datamodule)

    if "spawn" in str(cfg.trainer.get("strategy") or ""):
        # Spawned DDP workers receive the module's tensors through shared memory; the default file-descriptor
        # transport fails in some sandboxes ("unable to resize file ... Invalid argument"), /dev/shm files do not.
        torch.multiprocessing.set_sharing_strategy("file_system")
    logger = instantiate_loggers(cfg.get("logger"))
    run_id = mlflow_run_id(logger)
    if run_id:
        model.run_info["mlflow_run_id"] = run_id  # the checkpoint carries it into the published lineage
    callbacks = instantiate_callbacks(cfg.get("callbacks"), has_logger=bool(logger))
    log.info("Instantiating trainer <%s>", cfg.trainer._target_)
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=logger or False)

    object_dict = {
        "cfg": cfg,
        "datamodule": datamodule,
        "model": model,
        "callbacks": callbacks,
        "logger": logger,
        "trainer": trainer,
    }
    if logger:
        for lg in logger:
            lg.log_hyperparams(
                {
                    "model": OmegaConf.to_container(cfg.model, resolve=True),
                    "seed": cfg.get("seed"),
                    "params": model.net.count_parameters(),
                    "tags": list(cfg.get("tags") or []),
                }
            )

    if cfg.get("train", True):
        ckpt = resolve_ckpt_path(cfg.get("ckpt_path"), cfg.paths.output_dir, cfg.paths.log_dir, cfg.task_name)
        if ckpt:
            log.info("Resuming from %s", ckpt)
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt)
    train_metrics = dict(trainer.callback_metrics)

    best_path = ""
    if trainer.checkpoint_callback is not None:
        best_path = getattr(trainer.checkpoint_callback, "best_model_path", "") or ""

    if cfg.get("test", True):
        if best_path:
            log.info("Testing best checkpoint %s", best_path)
        else:
            log.warning("No best checkpoint (checkpointing off or fast_dev_run): testing the current weights")
        trainer.test(model=model, datamodule=datamodule, ckpt_path=best_path or None)
        test_metrics = dict(trainer.callback_metrics)
        if cfg.get("test_conversations") and hasattr(datamodule, "conversation_dataloader"):
            log.info("Diarizing the held-out conversations (unseen voices)")
            # The weights of the best checkpoint are already in `model` after the test above.
            trainer.test(model=model, dataloaders=datamodule.conversation_dataloader("test"))
            test_metrics.update(trainer.callback_metrics)
    else:
        test_metrics = {}
    metric_dict = {**train_metrics, **test_metrics}

    publish_dir = cfg.get("publish_dir")
    if publish_dir and best_path and trainer.is_global_zero:
        published = publish_checkpoint(best_path, publish_dir, model.net.arch_name, metric_dict)
        log.info("Published best checkpoint to %s", published)
        object_dict["published_checkpoint"] = published
    object_dict["best_checkpoint"] = best_path
    return metric_dict, object_dict


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    """Console entry point (``voiceflow-train``); returns the optimized metric for Hydra sweepers."""
    apply_extras(cfg)
    metric_dict, _ = train(cfg)
    return metric_value(metric_dict, cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
