"""logger=tensorboard and logger=mlflow: a short run writes its logs; the MLflow run id reaches the checkpoint and the
published lineage. Skipped where the optional `loggers` extra (tensorboard, mlflow-skinny) is not installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from voiceflow_models.models.lit_module import load_checkpoint_info
from voiceflow_models.release.lineage import training_facts
from voiceflow_models.training.config import compose_config
from voiceflow_models.training.train import train

SHORT = [
    "data.num_train_voices=4",
    "data.num_val_voices=2",
    "data.num_test_voices=2",
    "data.windows_per_epoch=32",
    "data.val_windows=16",
    "data.test_windows=16",
    "data.batch_size=16",
    "data.seconds_per_voice=4",
    "extras.print_config=false",
    "trainer.max_epochs=1",
    "test=false",
    "test_conversations=false",
    "publish_dir=null",
]


def _needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed: pip install 'voiceflow-models[loggers]'")


def test_tensorboard_logger_writes_event_files(tmp_path):
    _needs("tensorboard")
    _, objects = train(compose_config([*SHORT, "logger=tensorboard"], tmp_path))
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    assert objects["best_checkpoint"]


def test_mlflow_logger_uses_a_local_store_and_its_run_id_reaches_the_lineage(tmp_path, monkeypatch):
    _needs("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = compose_config([*SHORT, "logger=mlflow"], tmp_path)
    assert cfg.logger.mlflow.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    _, objects = train(cfg)
    run_id = objects["logger"][0].run_id
    assert run_id and (tmp_path / "mlflow.db").is_file()
    client = objects["logger"][0].experiment
    assert "train/loss" in client.get_run(run_id).data.metrics
    info = load_checkpoint_info(Path(objects["best_checkpoint"]))
    assert info["mlflow_run_id"] == run_id
    assert training_facts(None, info).mlflow_run_id == run_id


def test_without_mlflow_the_lineage_has_no_run_id():
    assert training_facts({"seed": 1}, {}).mlflow_run_id is None
