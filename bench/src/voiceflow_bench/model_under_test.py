"""The models the suite measures, validated and published to a temporary file:// registry for the server to pull: an
untrained fast-cnn exported to the contract's ONNX (latency does not depend on the weights' values), and the
real-speech default ge2e (the pretrained encoder with an untrained head, optimised the way publish ships it)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from voiceflow_bench.config import MODEL_NAME
from voiceflow_contract.errors import ContractError
from voiceflow_contract.schemas import Accuracy, Architecture, DevicePerformance, Lineage, Training
from voiceflow_contract.testing import contract_metadata, publish_model_file
from voiceflow_models.export.optimize import optimize_model
from voiceflow_models.export.to_onnx import export_onnx
from voiceflow_models.models.fast_cnn import FastCNN
from voiceflow_models.models.ge2e import GE2E
from voiceflow_models.release.publish import model_file_facts


def export_fast_cnn(out: Path, seed: int = 0) -> tuple[Path, torch.nn.Module]:
    """An untrained fast-cnn (the training config's shape, 2 output speakers) exported to the contract's ONNX."""
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" chatter
    torch.manual_seed(seed)
    network = FastCNN(num_speakers=2).eval()
    export_onnx(network, out, check_parity=False)
    return out, network


def export_ge2e(out: Path, seed: int = 0, num_speakers: int = 16) -> Path:
    """GE2E with Resemblyzer's pretrained encoder and an untrained head (``experiment=ge2e_synthetic``'s width),
    exported, then optimised as publish does (graph optimisation, int8 upper LSTM layers when they hold)."""
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    torch.manual_seed(seed)
    raw = out.with_name(f"{out.stem}-exported.onnx")
    export_onnx(GE2E(num_speakers=num_speakers).eval(), raw, check_parity=False)
    optimize_model(raw, out)
    return out


def publish_for_serving(model_path: Path, registry_root: Path, version: str = "1.0.0", name: str = MODEL_NAME) -> str:
    """Validate (real validator, no latency re-measure) and publish ``model_path`` as ``name`` ``version`` to a
    file:// registry; returns its URL."""
    facts = model_file_facts(model_path)
    metadata = contract_metadata(
        model_path,
        name,
        version,
        num_speakers=facts.num_speakers,
        embedding_dim=facts.embedding_dim,
        extra_outputs=facts.extra_outputs,
        onnx_opset=facts.opset,
        git_commit="benchmark",
        training=Training(dataset="untrained", epochs=0, batch_size=1, optimizer="none", learning_rate=1e-3),
        architecture=Architecture(type=facts.stamped.get("architecture_type", "cnn"), params=0, layers=0),
        performance={"cpu": DevicePerformance(p50_ms=0.0, p99_ms=0.0, throughput_rps=0.0)},
        accuracy=Accuracy(der_test_set=1.0, precision=0.0, recall=0.0),
        lineage=Lineage(config_hash="benchmark", dataset_fingerprint="none", seed=0, package_versions={}),
    )
    registry_root.mkdir(parents=True, exist_ok=True)
    url = registry_root.resolve().as_uri()
    try:
        publish_model_file(url, name, version, model_path, metadata=metadata, num_speakers=facts.num_speakers)
    except ContractError as exc:
        raise RuntimeError(f"benchmark model fails the contract: {exc}") from exc
    return url
