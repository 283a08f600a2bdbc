"""Hydra configs: every group option composes and its objects instantiate (data, model, callbacks, logger, trainer)."""

from __future__ import annotations

from importlib.resources import files

import pytest
import pytorch_lightning as L
from hydra.utils import instantiate
from omegaconf import OmegaConf

from voiceflow_models.models.lit_module import DiarizationLitModule
from voiceflow_models.training.augmentation import Compose
from voiceflow_models.training.config import compose_config
from voiceflow_models.training.utils import instantiate_callbacks, instantiate_loggers

CONFIGS = files("voiceflow_models.configs")


def options(group: str) -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in (CONFIGS / group).iterdir() if p.name.endswith(".yaml"))


def test_every_expected_group_and_option_exists():
    assert {"synthetic", "rttm_corpus", "librispeech"} <= set(options("data"))
    assert {"fast_cnn", "sophisticated"} <= set(options("model"))
    assert {"default", "cpu", "gpu", "mps", "ddp", "ddp_sim"} <= set(options("trainer"))
    assert {"default", "fdr", "limit", "overfit", "profiler"} <= set(options("debug"))
    assert {"fast_cnn_synthetic", "sophisticated_gpu"} <= set(options("experiment"))
    assert {"csv", "none", "tensorboard", "mlflow"} <= set(options("logger"))
    assert (CONFIGS / "local" / "README.md").is_file()
    assert options("hparams_search") and options("paths") and options("hydra") and options("extras")


def test_default_train_config(tmp_path):
    cfg = compose_config([], tmp_path)
    assert cfg.seed == 42
    assert cfg.model.net.num_speakers == cfg.data.num_train_voices
    assert cfg.callbacks.model_checkpoint.save_last is True
    assert cfg.callbacks.model_checkpoint.dirpath == f"{tmp_path.resolve()}/checkpoints"
    assert cfg.trainer.enable_progress_bar is True
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes_and_instantiates(experiment, tmp_path):
    cfg = compose_config(
        [f"experiment={experiment}", "model.net.size=tiny"]
        if "sophisticated" in experiment
        else [f"experiment={experiment}"],
        tmp_path,
    )
    OmegaConf.to_container(cfg, resolve=True)
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, L.LightningDataModule)
    model = instantiate(cfg.model)
    assert isinstance(model, DiarizationLitModule)
    assert model.net.num_speakers == cfg.data.num_train_voices
    assert isinstance(model.augmentation, Compose)
    assert instantiate_callbacks(cfg.callbacks, has_logger=True)
    assert instantiate_loggers(cfg.logger)
    if cfg.trainer.accelerator == "cpu":
        assert isinstance(instantiate(cfg.trainer), L.Trainer)


@pytest.mark.parametrize("data", options("data"))
def test_every_data_option_composes(data, tmp_path):
    cfg = compose_config([f"data={data}"], tmp_path)
    assert cfg.data.source in {"synthetic", "rttm", "librispeech"}
    assert cfg.data._target_ == "voiceflow_models.data.datamodule.DiarizationDataModule"
    if data == "synthetic":
        assert isinstance(instantiate(cfg.data), L.LightningDataModule)
    else:
        assert str(cfg.data.root).startswith(str(tmp_path.resolve()))


@pytest.mark.parametrize("model", options("model"))
def test_every_model_option_instantiates(model, tmp_path):
    cfg = compose_config([f"model={model}", "data.num_train_voices=5"], tmp_path)
    if model == "sophisticated":
        assert cfg.model.net.size == "base"  # GPU default; tiny keeps the test cheap
        cfg.model.net.size = "tiny"
    module = instantiate(cfg.model)
    assert module.net.num_speakers == 5
    optimizers = module.optimizer_factory(params=module.parameters())
    assert type(optimizers).__name__ == "AdamW"


@pytest.mark.parametrize("trainer", options("trainer"))
def test_every_trainer_option_composes(trainer, tmp_path):
    cfg = compose_config([f"trainer={trainer}"], tmp_path)
    assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
    if trainer in {"ddp", "ddp_sim"}:
        assert cfg.trainer.strategy.startswith("ddp")
    if cfg.trainer.accelerator == "cpu":
        built = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
        assert isinstance(built, L.Trainer)
        if trainer == "ddp_sim":
            assert built.num_devices == 2


@pytest.mark.parametrize("debug", options("debug"))
def test_every_debug_option_composes(debug, tmp_path):
    cfg = compose_config([f"debug={debug}"], tmp_path)
    assert cfg.trainer.accelerator == "cpu" and cfg.data.num_workers == 0
    assert not cfg.callbacks and not cfg.logger
    if debug == "fdr":
        assert cfg.trainer.fast_dev_run is True
    assert isinstance(instantiate(cfg.trainer, logger=False, enable_checkpointing=False), L.Trainer)


@pytest.mark.parametrize("name", options("hparams_search"))
def test_hparams_search_composes_with_optuna_sweeper(name, tmp_path):
    cfg = compose_config([f"hparams_search={name}", "experiment=fast_cnn_synthetic"], tmp_path)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
    assert cfg.optimized_metric == "val/acc_best"
    assert "model.optimizer.lr" in cfg.hydra.sweeper.params


@pytest.mark.parametrize(
    "overrides", [["logger=none"], ["callbacks=none"], ["augmentation=none"], ["augmentation=strong"]]
)
def test_optional_groups(overrides, tmp_path):
    cfg = compose_config(overrides, tmp_path)
    model = instantiate(cfg.model)
    if overrides == ["augmentation=none"]:
        assert model.augmentation is None
    loggers = instantiate_loggers(cfg.logger)
    callbacks = instantiate_callbacks(cfg.callbacks, has_logger=bool(loggers))
    if overrides == ["logger=none"]:
        assert loggers == [] and not any(type(c).__name__ == "LearningRateMonitor" for c in callbacks)
    if overrides == ["callbacks=none"]:
        assert callbacks == []


def test_eval_config_requires_a_checkpoint(tmp_path):
    cfg = compose_config([], tmp_path, config_name="eval")
    assert OmegaConf.is_missing(cfg, "ckpt_path")
    cfg = compose_config(["ckpt_path=/x/model.ckpt"], tmp_path, config_name="eval")
    assert cfg.ckpt_path == "/x/model.ckpt" and cfg.task_name == "eval"
