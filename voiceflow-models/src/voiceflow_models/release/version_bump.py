"""Decide the next semantic version of a model from the registry's latest and the contract's bump rules.

No published version -> 1.0.0. Otherwise the latest model.onnx is pulled (checksum-verified) and its I/O signature plus
the architecture recorded in its metadata.json is compared with the new file's (voiceflow_contract.semver.explain_bump):
same architecture and I/O -> PATCH, new architecture or new optional output -> MINOR, broken I/O contract -> MAJOR.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from voiceflow_contract.errors import ModelNotFoundError, VersionNotFoundError, VoiceFlowError
from voiceflow_contract.registry import ModelRegistry
from voiceflow_contract.registry.env import registry_from_env
from voiceflow_contract.semver import Bump, Version, explain_bump, next_version, signature_from_onnx
from voiceflow_models.export.to_onnx import read_onnx_metadata

DEFAULT_REGISTRY_ENV = "VOICEFLOW_REGISTRY_URL"


@dataclass
class VersionPlan:
    """The decision: current latest (None if unpublished), the bump and the resulting version, with reasons."""

    model_name: str
    current: Version | None
    bump: Bump | None
    next: Version
    reasons: list[str] = field(default_factory=list)


def onnx_architecture(model_file: str | Path) -> tuple[str | None, str | None, str | None]:
    """(architecture_type, architecture_signature, architecture_name) stamped into the file by to_onnx.export_onnx."""
    meta = read_onnx_metadata(model_file)
    return meta.get("architecture_type"), meta.get("architecture_signature"), meta.get("architecture_name")


def plan_version(
    registry_url: str,
    model_name: str,
    model_file: str | Path,
    *,
    architecture_type: str | None = None,
    architecture_signature: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> VersionPlan:
    """Compare `model_file` with the registry's latest `model_name` and return the next version (above every
    published one).

    Architecture arguments default to the ones the exporter stamped into the file.
    """
    stamped_type, stamped_sig, _ = onnx_architecture(model_file)
    new = signature_from_onnx(model_file, architecture_type or stamped_type, architecture_signature or stamped_sig)
    registry = ModelRegistry(registry_url, storage_options=storage_options)
    try:
        current = registry.resolve(model_name, "latest")
    except (ModelNotFoundError, VersionNotFoundError):
        return VersionPlan(
            model_name, None, None, next_version(None, Bump.MAJOR), ["no published version: first release"]
        )
    with tempfile.TemporaryDirectory() as cache:
        pulled = registry.pull(model_name, current, cache)
        arch = pulled.metadata.architecture
        old = signature_from_onnx(pulled.path, arch.type, arch.signature)
    decision = explain_bump(old, new)
    # Compare against what `latest` serves, but bump from the highest published version: after a rollback `latest`
    # is below it, and its next PATCH would already exist.
    highest = max([current, *registry.list_versions(model_name)])
    reasons = list(decision.reasons)
    if highest != current:
        reasons.append(f"latest is {current} (rolled back); bumping from the highest published version {highest}")
    return VersionPlan(model_name, current, decision.bump, next_version(highest, decision.bump), reasons)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: `--auto` prints only the next version (for VERSION=$(...)); otherwise explains the decision."""
    parser = argparse.ArgumentParser(prog="voiceflow-version-bump", description=__doc__.splitlines()[0])
    parser.add_argument("--auto", action="store_true", help="print only the next version on stdout (reasons on stderr)")
    parser.add_argument("--model-file", required=True, type=Path, help="the new model.onnx")
    parser.add_argument("--model", help="registry model name (default: the architecture name stamped in the file)")
    parser.add_argument("--architecture-type", help="override the file's architecture type (e.g. cnn)")
    parser.add_argument("--architecture-signature", help="override the file's layer signature")
    parser.add_argument(
        "--registry",
        default=registry_from_env() or "registry",
        help=f"registry URL or path (default ${DEFAULT_REGISTRY_ENV}, $VOICEFLOW_REGISTRY or ./registry)",
    )
    args = parser.parse_args(argv)
    err = Console(stderr=True)
    if not args.model_file.is_file():
        err.print(f"[red]model file not found: {args.model_file}")
        return 2
    try:
        name = args.model or onnx_architecture(args.model_file)[2]
        if not name:
            err.print("[red]--model is required: the file carries no voiceflow.architecture_name")
            return 2
        plan = plan_version(
            args.registry,
            name,
            args.model_file,
            architecture_type=args.architecture_type,
            architecture_signature=args.architecture_signature,
        )
    except VoiceFlowError as exc:
        err.print(f"[red]version bump failed: {exc}")
        return 1
    current = f"v{plan.current}" if plan.current else "none"
    bump = plan.bump.value.upper() if plan.bump else "INITIAL"
    summary = f"{plan.model_name}: latest {current} -> {bump} -> v{plan.next} ({'; '.join(plan.reasons)})"
    if args.auto:
        err.print(summary)
        print(plan.next)
    else:
        Console().print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
