"""Training end to end on CPU: fast_dev_run, seeding, resume from last.ckpt, DDP with 2 processes, eval, a short
real run that beats chance, checkpoint -> bare network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from voiceflow_models.models.lit_module import load_checkpoint_info, load_network
from voiceflow_models.training.config import compose_config
from voiceflow_models.training.eval import evaluate
from voiceflow_models.training.train import train
from voiceflow_models.training.utils import metric_value, resolve_ckpt_path

# Small everything: 4 training voices, a few dozen windows, a two-block FastCNN.
TINY = [
    "data.num_train_voices=4",
    "data.num_val_voices=2",
    "data.num_test_voices=2",
    "data.windows_per_epoch=64",
    "data.val_windows=32",
    "data.test_windows=32",
    "data.batch_size=16",
    "data.seconds_per_voice=4",
    "data.num_test_conversations=1",
    "data.conversation_duration_s=6",
    "model.net.channels=[32,48]",
    "model.net.kernels=[5,3]",
    "model.net.strides=[1,2]",
    "model.net.embedding_dim=32",
    "extras.print_config=false",
    "trainer.max_epochs=1",
]


def run(tmp_path: Path, *overrides: str) -> tuple[dict, dict]:
    cfg = compose_config([*TINY, f"publish_dir={tmp_path / 'artifacts'}", *overrides], tmp_path)
    return train(cfg)


def test_fast_dev_run_on_cpu_is_seeded(tmp_path):
    metrics_a, objects = run(tmp_path / "a", "++trainer.fast_dev_run=true", "test_conversations=false")
    metrics_b, _ = run(tmp_path / "b", "++trainer.fast_dev_run=true", "test_conversations=false")
    assert "train/loss" in metrics_a and "test/acc" in metrics_a
    assert float(metrics_a["train/loss"]) == pytest.approx(float(metrics_b["train/loss"]), abs=1e-6)
    assert objects["trainer"].num_devices == 1
    assert objects["best_checkpoint"] == ""  # fast_dev_run writes no checkpoint


def test_train_checkpoint_resume_eval_and_load_network(tmp_path):
    out = tmp_path / "run"
    metrics, objects = run(out, "test_conversations=true")
    last = out / "checkpoints" / "last.ckpt"
    assert last.is_file()
    assert objects["trainer"].current_epoch == 1
    # Conversations of unseen voices were diarized and scored, and the logged scores agree with each other: DER is
    # false alarm + missed + confusion over reference speech, so it is at least the missed share (1 - recall) plus
    # the confused share ((1 - speaker accuracy) * recall); a swapped, zeroed or mis-aggregated score breaks that.
    der, recall = float(metrics["test/der"]), float(metrics["test/recall"])
    speaker_accuracy = float(metrics["test/speaker_accuracy"])
    assert 0.0 <= recall <= 1.0 and 0.0 <= speaker_accuracy <= 1.0
    assert der >= (1.0 - recall) + (1.0 - speaker_accuracy) * recall - 1e-6, dict(metrics)
    assert float(metrics["test/der_collar_025"]) >= 0.0
    # One epoch: the best validation accuracy is that epoch's (only) accuracy.
    assert metric_value(metrics, "val/acc_best") == pytest.approx(float(metrics["val/acc"]), abs=1e-6)
    assert 0.0 < metric_value(metrics, "val/acc_best") <= 1.0

    # The published copy rebuilds as a bare, eval-mode network without Hydra.
    published = out / "artifacts" / "fast-cnn" / "model.ckpt"
    assert published.is_file() and (published.parent / "train_metrics.json").is_file()
    net = load_network(published)
    assert not net.training and net.num_speakers == 4 and net.arch_name == "fast-cnn"
    logits, embedding = net(torch.zeros(2, 48000))
    assert logits.shape == (2, 4) and embedding.shape == (2, 32)
    info = load_checkpoint_info(published)
    assert info["layer_signature"] == net.layer_signature()
    assert info["training"]["optimizer"] == "AdamW" and info["training"]["batch_size"] == 16
    assert info["seed"] == 42 and len(info["dataset_fingerprint"]) == 64
    assert info["config"]["model"]["net"]["channels"] == [32, 48]

    # eval.py on the best checkpoint reproduces test/acc.
    eval_cfg = compose_config(
        [o for o in TINY if not o.startswith("model.")]
        + [f"ckpt_path={objects['best_checkpoint']}", "test_conversations=false"],
        tmp_path / "eval",
        config_name="eval",
    )
    eval_metrics, _ = evaluate(eval_cfg)
    assert float(eval_metrics["test/acc"]) == pytest.approx(float(metrics["test/acc"]), abs=1e-3)

    # Resume: ckpt_path=last continues from epoch 1 to epoch 2 in the same run folder.
    resumed, objects2 = run(out, "ckpt_path=last", "trainer.max_epochs=2", "test=false")
    assert objects2["trainer"].current_epoch == 2
    assert torch.load(last, weights_only=True)["epoch"] == 1
    assert "train/loss" in resumed


def test_resolve_ckpt_path_finds_earlier_runs_and_names_what_is_missing(tmp_path):
    earlier = tmp_path / "logs" / "train" / "runs" / "r1" / "checkpoints"
    earlier.mkdir(parents=True)
    (earlier / "last.ckpt").write_bytes(b"x")
    found = resolve_ckpt_path("last", tmp_path / "new", tmp_path / "logs", "train")
    assert found == str(earlier / "last.ckpt")
    assert resolve_ckpt_path(None, tmp_path, tmp_path, "train") is None
    with pytest.raises(FileNotFoundError, match="ckpt_path=last"):
        resolve_ckpt_path("last", tmp_path / "new", tmp_path / "nothing", "train")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        resolve_ckpt_path(str(tmp_path / "missing.ckpt"), tmp_path, tmp_path, "train")


def test_ddp_on_cpu_with_two_processes(tmp_path):
    metrics, objects = run(
        tmp_path,
        "trainer=ddp_sim",
        "test_conversations=false",
        "++trainer.limit_train_batches=2",
        "++trainer.limit_val_batches=1",
        "++trainer.limit_test_batches=1",
        "logger=none",
    )
    trainer = objects["trainer"]
    assert trainer.world_size == 2 and type(trainer.strategy).__name__ == "DDPStrategy"
    assert "train/loss" in metrics and "test/acc" in metrics
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_short_training_beats_chance_on_held_out_windows(tmp_path):
    # The real FastCNN on 4 voices, 384 windows x 2 epochs: held-out windows must be far above chance (0.25).
    metrics, _ = run(
        tmp_path,
        "model.net.channels=[192,256,320,384,448,512]",
        "model.net.kernels=[5,3,3,3,3,3]",
        "model.net.strides=[1,2,1,2,1,1]",
        "model.net.embedding_dim=192",
        "data.windows_per_epoch=192",
        "data.val_windows=64",
        "data.seconds_per_voice=8",
        "trainer.max_epochs=2",
        "test_conversations=false",
        "logger=none",
    )
    assert float(metrics["val/acc_best"]) > 0.6, metrics


def test_train_cli_help():
    result = subprocess.run(
        [sys.executable, "-m", "voiceflow_models.training.train", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "data: librispeech, rttm_corpus, synthetic" in result.stdout
    assert "experiment: fast_cnn_synthetic" in result.stdout


@pytest.mark.slow
def test_optuna_sweep_runs_two_trials(tmp_path):
    tiny = [o for o in TINY if not o.startswith("extras.")]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "voiceflow_models.training.train",
            "-m",
            "hparams_search=fast_cnn_optuna",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.sampler.n_startup_trials=2",
            f"hydra.sweep.dir={tmp_path}",
            "++trainer.limit_train_batches=2",
            "++trainer.limit_val_batches=1",
            "test=false",
            "logger=none",
            "extras.print_config=false",
            f"paths.root_dir={tmp_path}",
            *tiny,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "optimization_results.yaml").is_file()


def test_sophisticated_fast_dev_run_on_cpu(tmp_path):
    data_only = [o for o in TINY if not o.startswith("model.")]
    cfg = compose_config(
        [
            "experiment=sophisticated_cpu_smoke",
            *data_only,
            "++trainer.fast_dev_run=true",
            "test_conversations=false",
            f"publish_dir={tmp_path / 'artifacts'}",
        ],
        tmp_path,
    )
    metrics, objects = train(cfg)
    assert objects["model"].net.arch_name == "sophisticated"
    assert torch.isfinite(torch.as_tensor(metrics["train/loss"]))
