"""Publish a validated model to the registry: model.onnx + metadata.json + validation_report.json + checksum.sha256.

metadata.json is assembled here from the file itself (size, sha256, opset, the architecture the exporter stamped in),
the training run (Hydra .hydra/config.yaml and/or the checkpoint's voiceflow entry), the latency benchmark JSON
(voiceflow-benchmark) and the accuracy JSON (voiceflow-accuracy). The model is validated afresh against the
contract and only a passing model is handed to ModelRegistry.publish.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import onnx
from rich.console import Console

from voiceflow_contract.errors import VoiceFlowError
from voiceflow_contract.hashing import sha256_file
from voiceflow_contract.onnx_io import TensorInfo, default_opset, graph_outputs
from voiceflow_contract.registry import ModelRegistry
from voiceflow_contract.registry.env import registry_from_env
from voiceflow_contract.schemas import (
    Accuracy,
    Architecture,
    ContractInfo,
    DevicePerformance,
    DiarizationCalibration,
    FileInfo,
    Lineage,
    ModelMetadata,
    Training,
    ValidationReport,
)
from voiceflow_contract.semver import Version
from voiceflow_contract.spec import EMBEDDING_OUTPUT, PROBABILITIES_OUTPUT, load_contract
from voiceflow_contract.validator import validate_model_contract
from voiceflow_models.evaluation.accuracy_report import evaluate
from voiceflow_models.evaluation.held_out import held_out_conversations
from voiceflow_models.export.to_onnx import read_onnx_metadata
from voiceflow_models.models.lit_module import load_checkpoint_info
from voiceflow_models.release.lineage import (
    TrainingFacts,
    git_commit,
    load_hydra_config,
    package_versions,
    training_facts,
)
from voiceflow_models.release.version_bump import onnx_architecture, plan_version

DEFAULT_REGISTRY_ENV = "VOICEFLOW_REGISTRY_URL"


class PublishError(VoiceFlowError):
    """Publishing was refused before reaching the registry (the message names the missing or failing input)."""


@dataclass
class ModelFileFacts:
    """What the ONNX file says about itself."""

    size_bytes: int
    sha256: str
    opset: int
    num_speakers: int | None
    extra_outputs: list[str]
    embedding_dim: int | None
    stamped: dict[str, str]


def model_file_facts(path: Path) -> ModelFileFacts:
    """Size, sha256, opset, output widths and the voiceflow.* metadata of an ONNX file."""
    model = onnx.load(str(path), load_external_data=False)
    outputs = {o.name: o for o in graph_outputs(model)}
    stamped = read_onnx_metadata(path)
    return ModelFileFacts(
        size_bytes=path.stat().st_size,
        sha256=sha256_file(path),
        opset=default_opset(model),
        num_speakers=_width(outputs.get(PROBABILITIES_OUTPUT)) or _int(stamped.get("num_speakers")),
        extra_outputs=[n for n in outputs if n != PROBABILITIES_OUTPUT],
        embedding_dim=_width(outputs.get(EMBEDDING_OUTPUT)) or _int(stamped.get("embedding_dim")),
        stamped=stamped,
    )


def _width(output: TensorInfo | None) -> int | None:
    """The fixed size of an output's second axis (speakers, embedding dims); None when absent or symbolic."""
    dim = output.dim(1) if output is not None else None
    return dim if isinstance(dim, int) else None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def performance_from(benchmark: dict[str, Any] | None, report: ValidationReport | None) -> dict[str, DevicePerformance]:
    """The benchmark JSON's `performance` block, else the validator's own batch-1 latency measurement."""
    if benchmark and benchmark.get("performance"):
        return {k: DevicePerformance.model_validate(v) for k, v in benchmark["performance"].items()}
    if report is not None and report.latency is not None:
        lat = report.latency
        return {
            "cpu": DevicePerformance(
                p50_ms=lat.p50_ms,
                p99_ms=lat.p99_ms,
                throughput_rps=round(1000.0 / lat.mean_ms, 2) if lat.mean_ms > 0 else 0.0,
                threads=lat.intra_op_threads,
                device_name=report.host.get("cpu"),
            )
        }
    raise PublishError("performance: pass --benchmark benchmark_results.json (voiceflow-benchmark)")


def accuracy_from(accuracy: dict[str, Any] | None) -> Accuracy:
    """The accuracy JSON's `metadata_accuracy` block (voiceflow-accuracy writes it in the schema's shape)."""
    if not accuracy or "metadata_accuracy" not in accuracy:
        raise PublishError(
            "accuracy: pass --accuracy accuracy.json (voiceflow-accuracy) with a metadata_accuracy block"
        )
    return Accuracy.model_validate(accuracy["metadata_accuracy"])


def diarization_from(accuracy: dict[str, Any] | None) -> DiarizationCalibration | None:
    """The clustering the accuracy was measured with (output, threshold, hop): the server streams with the same."""
    block = (accuracy or {}).get("diarization")
    return DiarizationCalibration.model_validate(block) if block else None


def build_metadata(
    model_path: str | Path,
    *,
    model_name: str,
    version: Version | str,
    facts: TrainingFacts,
    benchmark: dict[str, Any] | None,
    accuracy: dict[str, Any] | None,
    report: ValidationReport | None = None,
    profile: str | None = None,
    parent_version: str | None = None,
) -> ModelMetadata:
    """Assemble metadata.json for `model_path` (raises PublishError naming a missing input)."""
    path = Path(model_path)
    info = model_file_facts(path)
    contract = load_contract()
    num_speakers = info.num_speakers
    if num_speakers is None:
        raise PublishError("contract.num_speakers: the model's speaker_embeddings width is neither fixed nor stamped")
    stamped = info.stamped
    return ModelMetadata(
        model_name=model_name,
        version=str(Version.parse(str(version))),
        created_at=datetime.now(UTC),
        git_commit=git_commit(),
        profile=profile or facts.profile or contract.default_profile,
        training=Training(
            dataset=facts.dataset,
            epochs=facts.epochs,
            batch_size=facts.batch_size,
            optimizer=facts.optimizer,
            learning_rate=facts.learning_rate,
        ),
        architecture=Architecture(
            type=stamped.get("architecture_type", "unknown"),
            params=_int(stamped.get("params")) or 0,
            layers=_int(stamped.get("layers")) or 0,
            name=stamped.get("architecture_name"),
            signature=stamped.get("architecture_signature"),
        ),
        performance=performance_from(benchmark, report),
        accuracy=accuracy_from(accuracy),
        contract=ContractInfo(
            input_shape=[1, contract.window_samples],
            output_shape=[1, num_speakers],
            sample_rate=contract.metadata.sample_rate,
            contract_version=contract.version,
            num_speakers=num_speakers,
            extra_outputs=info.extra_outputs,
            embedding_dim=info.embedding_dim,
        ),
        file=FileInfo(size_bytes=info.size_bytes, sha256=info.sha256, onnx_opset=info.opset),
        diarization=diarization_from(accuracy),
        lineage=Lineage(
            config_hash=facts.config_hash,
            dataset_fingerprint=facts.dataset_fingerprint,
            seed=facts.seed,
            package_versions=package_versions(),
            config=facts.config or None,
            parent_version=parent_version,
            mlflow_run_id=facts.mlflow_run_id,
        ),
    )


def publish_model(
    registry_url: str,
    model_path: str | Path,
    metadata: ModelMetadata,
    *,
    report: ValidationReport | None = None,
    aliases: Sequence[str] = ("latest",),
    storage_options: dict[str, Any] | None = None,
    progress: bool = False,
    latency_runs: int | None = None,
    measure_latency: bool = True,
) -> Any:
    """Validate afresh (unless a report for this exact file is given) and publish; returns the registry's VersionInfo.

    Raises PublishError naming the failed contract rules before anything is uploaded.
    """
    path = Path(model_path)
    if report is None or report.model_sha256 != metadata.file.sha256:
        report = validate_model_contract(
            path, profile=metadata.profile, latency_runs=latency_runs, measure_latency=measure_latency
        )
    failed = [c.name for c in report.failed_checks]
    if failed or not report.passed:
        raise PublishError(f"validation failed, not publishing: {', '.join(failed) or 'report not passed'}")
    registry = ModelRegistry(registry_url, storage_options=storage_options)
    return registry.publish(
        metadata.model_name,
        Version.parse(metadata.version),
        path,
        metadata,
        report,
        aliases=tuple(aliases),
        progress=progress,
    )


def _read_json(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    if not path.is_file():
        raise PublishError(f"{what}: file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PublishError(f"{what}: {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PublishError(f"{what}: {path} must hold a JSON object")
    return data


def _measure_accuracy(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """No accuracy JSON given (e.g. the seed's publish command): score the model on held-out conversations now."""
    with console.status(f"no --accuracy: scoring DER on {args.accuracy_conversations} held-out conversations"):
        convs = held_out_conversations(args.accuracy_conversations, args.accuracy_duration)
        return evaluate(args.model, convs, baselines=False)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: assemble metadata, validate, publish (`--version X` or `--auto`)."""
    parser = argparse.ArgumentParser(prog="voiceflow-publish", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="the (optimised) model.onnx to publish")
    parser.add_argument("--model-name", help="registry name (default: the architecture name stamped in the file)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--version", help="explicit version, e.g. 1.2.0")
    group.add_argument("--auto", action="store_true", help="next version from the registry (voiceflow-version-bump)")
    parser.add_argument(
        "--registry",
        "--bucket",
        dest="registry",
        default=registry_from_env() or "registry",
        help=f"registry URL: path, file://, s3://, gs://, az:// (default ${DEFAULT_REGISTRY_ENV} or ./registry)",
    )
    parser.add_argument("--benchmark", "--metadata", dest="benchmark", type=Path, help="benchmark_results.json")
    parser.add_argument(
        "--accuracy", type=Path, help="accuracy.json from voiceflow-accuracy (default: measured here, see below)"
    )
    parser.add_argument("--accuracy-conversations", type=int, default=8, help="held-out conversations if no --accuracy")
    parser.add_argument("--accuracy-duration", type=float, default=30.0, help="their length in seconds")
    parser.add_argument("--run-dir", type=Path, help="Hydra run directory (holds .hydra/config.yaml)")
    parser.add_argument("--checkpoint", type=Path, help="Lightning checkpoint (training summary, seed, lineage)")
    parser.add_argument(
        "--report", type=Path, help="validation_report.json for this exact file (else validated afresh)"
    )
    parser.add_argument("--profile", help="contract performance profile (default: the model's, else the contract's)")
    parser.add_argument("--alias", action="append", help="pointer(s) to move to the new version (default: latest)")
    parser.add_argument("--metadata-out", type=Path, help="also write the assembled metadata.json here")
    parser.add_argument(
        "--no-latency-check",
        action="store_true",
        help="validate without the latency budget (recorded as skipped): for shared CI boxes with meaningless timings",
    )
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if not args.model.is_file():
        console.print(f"[red]model not found: {args.model}")
        return 2
    try:
        published = run_publish(args, console)
    except (VoiceFlowError, FileNotFoundError, ValueError) as exc:
        console.print(f"[red]publish failed: {exc}")
        return 1
    console.print(f"[green]published[/] {published}")
    return 0


def run_publish(args: argparse.Namespace, console: Console) -> str:
    """The CLI's work, separated so errors map to one exit code."""
    name = args.model_name or onnx_architecture(args.model)[2]
    if not name:
        raise PublishError("model_name: pass --model-name (the file carries no voiceflow.architecture_name)")
    config = load_hydra_config(args.run_dir) if args.run_dir else None
    ckpt_info = None
    if args.checkpoint:
        ckpt_info = load_checkpoint_info(args.checkpoint)
    facts = training_facts(config, ckpt_info)
    plan = plan_version(args.registry, name, args.model)
    version = plan.next if args.auto else Version.parse(args.version)
    console.print(
        f"{name}: publishing v{version} (registry latest: {plan.current or 'none'}; {'; '.join(plan.reasons)})"
    )
    report = ValidationReport.read(args.report) if args.report else None
    metadata = build_metadata(
        args.model,
        model_name=name,
        version=version,
        facts=facts,
        benchmark=_read_json(args.benchmark, "benchmark"),
        accuracy=_read_json(args.accuracy, "accuracy") or _measure_accuracy(args, console),
        report=report,
        profile=args.profile,
        parent_version=str(plan.current) if plan.current else None,
    )
    if args.metadata_out:
        metadata.write(args.metadata_out)
    with console.status(f"validating and publishing {name} v{version} to {args.registry}"):
        publish_model(
            args.registry,
            args.model,
            metadata,
            report=report,
            aliases=args.alias or ("latest",),
            measure_latency=not args.no_latency_check,
        )
    return f"{name} v{version} -> {args.registry}"


if __name__ == "__main__":
    sys.exit(main())
