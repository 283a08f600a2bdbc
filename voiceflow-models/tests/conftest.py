"""Shared fixtures for the voiceflow_models tests: tiny networks that follow the DiarizationModel interface."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from voiceflow_models.benchmarks.latency import build_report
from voiceflow_models.evaluation.accuracy_report import evaluate
from voiceflow_models.evaluation.held_out import held_out_conversations, validation_conversations
from voiceflow_models.evaluation.timing import benchmark_onnx
from voiceflow_models.export.to_onnx import export_onnx
from voiceflow_models.models.fast_cnn import FastCNN
from voiceflow_models.models.lit_module import CHECKPOINT_KEY
from voiceflow_models.release.publish import main as publish_main


class TinyDiarizer(nn.Module):
    """A few-thousand-parameter raw-waveform CNN with the DiarizationModel interface (forward -> logits, embedding)."""

    sample_rate = 48_000
    window_samples = 48_000

    def __init__(self, num_speakers: int = 4, embedding_dim: int = 16, channels: int = 8, depth: int = 1) -> None:
        super().__init__()
        self.num_speakers = num_speakers
        self.embedding_dim = embedding_dim
        self.arch_type = "cnn"
        self.arch_name = "tiny-cnn" if depth == 1 else f"tiny-cnn-d{depth}"
        layers: list[nn.Module] = [
            nn.Conv1d(1, channels, kernel_size=400, stride=160),
            nn.BatchNorm1d(channels),
            nn.ReLU(),
        ]
        for _ in range(depth):
            layers += [nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.BatchNorm1d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.embed = nn.Linear(2 * channels, embedding_dim)
        self.classifier = nn.Linear(embedding_dim, num_speakers)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features(audio.unsqueeze(1))
        stats = torch.cat([x.mean(dim=-1), x.std(dim=-1)], dim=-1)
        embedding = torch.tanh(self.embed(stats))
        return self.classifier(embedding), embedding


def make_tiny(seed: int = 0, **kwargs: int) -> TinyDiarizer:
    """A deterministic tiny network (BatchNorm running stats randomised so folding is exercised)."""
    torch.manual_seed(seed)
    net = TinyDiarizer(**kwargs)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture(scope="session")
def tiny_network() -> TinyDiarizer:
    return make_tiny(0)


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory, tiny_network):
    """One exported tiny model shared by the tests that only read it."""
    path = tmp_path_factory.mktemp("export") / "model.onnx"
    return export_onnx(tiny_network, path)


def make_fast(seed: int = 0, channels: tuple[int, ...] = (16, 16)):
    """A small real FastCNN (the production class, narrow): same class, other widths -> another layer signature."""
    torch.manual_seed(seed)
    n = len(channels)
    return FastCNN(
        num_speakers=4,
        embedding_dim=16,
        channels=channels,
        kernels=(3,) * n,
        strides=(1, 2) * (n // 2) + (1,) * (n % 2),
        n_mels=16,
    ).eval()


def write_checkpoint(net, path, **run_info):
    """A checkpoint in DiarizationLitModule's format (state_dict under 'net.' + the voiceflow entry)."""
    cls = type(net)
    torch.save(
        {
            "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
            CHECKPOINT_KEY: {
                "net_target": f"{cls.__module__}.{cls.__qualname__}",
                "net_config": net.architecture_config(),
                "arch_type": net.arch_type,
                "arch_name": net.arch_name,
                "profile": net.profile,
                "training": {"epochs": 3, "batch_size": 16, "optimizer": "AdamW", "learning_rate": 0.002},
                **run_info,
            },
        },
        path,
    )
    return path


@pytest.fixture(scope="session")
def fast_onnx(tmp_path_factory):
    """Small FastCNN exported once (seed 0)."""
    return export_onnx(make_fast(0), tmp_path_factory.mktemp("fast") / "model.onnx")


@pytest.fixture(scope="session")
def heldout_conversations():
    """Two short two-speaker conversations of unseen synthetic voices."""
    return held_out_conversations(2, duration_s=15.0, seed=99)


@pytest.fixture(scope="session")
def fit_conversations():
    """One short validation-voice conversation (fits the MFCC baseline's standardisation)."""
    return validation_conversations(1, duration_s=10.0, seed=5)


@pytest.fixture(scope="session")
def fast_factory():
    """make_fast, for tests (conftest is not importable under --import-mode=importlib)."""
    return make_fast


@pytest.fixture(scope="session")
def checkpoint_writer():
    """write_checkpoint, for tests."""
    return write_checkpoint


@pytest.fixture
def registry_url(tmp_path):
    """An empty file:// registry."""
    root = tmp_path / "registry"
    root.mkdir()
    return root.as_uri()


@pytest.fixture(scope="session")
def release_inputs(tmp_path_factory, fast_onnx, heldout_conversations):
    """Benchmark and accuracy JSON, a Hydra run dir and a checkpoint: everything release.publish reads."""
    root = tmp_path_factory.mktemp("release")
    results = benchmark_onnx(fast_onnx.path, threads=(1,), runs=10, warmup=2)
    bench = root / "benchmark_results.json"
    bench.write_text(json.dumps(build_report(fast_onnx.path, results, runs=10, warmup=2)))
    acc = root / "accuracy.json"
    doc = evaluate(fast_onnx.path, heldout_conversations[:1], baselines=False)
    acc.write_text(json.dumps(doc))
    run_dir = root / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(
        "seed: 42\n"
        "data:\n  _target_: voiceflow_models.data.datamodule.SyntheticConversationDataModule\n  batch_size: 16\n"
        "  num_train_voices: 8\n"
        "model:\n  optimizer:\n    _target_: torch.optim.AdamW\n    _partial_: true\n    lr: 0.002\n"
        "trainer:\n  max_epochs: 3\n"
    )
    return {"benchmark": bench, "accuracy": acc, "run_dir": run_dir}


@pytest.fixture
def publish(release_inputs, registry_url):
    """Publish a model file with voiceflow-publish's CLI (--auto unless a version is given); returns the exit code."""

    def run(model_path, *extra):
        args = [
            "--model",
            str(model_path),
            "--registry",
            registry_url,
            "--benchmark",
            str(release_inputs["benchmark"]),
            "--accuracy",
            str(release_inputs["accuracy"]),
            "--run-dir",
            str(release_inputs["run_dir"]),
        ]
        # No latency budget here: ~8 people share this 2-core box, so p99 in a test says nothing about the model.
        return publish_main([*args, "--no-latency-check", *(extra or ("--auto",))])

    return run
