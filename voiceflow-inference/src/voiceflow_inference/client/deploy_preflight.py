"""Phase 1 of a deploy, where nothing changes on the server: the server answers and takes the token, then the version
is resolved in the registry, pulled (sha256 verified) and validated here against the contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voiceflow_contract.errors import ContractError, RegistryError
from voiceflow_contract.registry import ModelRegistry
from voiceflow_contract.spec import load_contract
from voiceflow_contract.validator import validate_model_contract
from voiceflow_inference.client.deploy_options import EXIT_INVALID, EXIT_PREFLIGHT, EXIT_REGISTRY, EXIT_USAGE
from voiceflow_inference.client.deploy_report import DeployFindings, DeployStopError, StepLog
from voiceflow_inference.client.service_client import ServiceCallError, ServiceClient


def check_server(client: ServiceClient, found: DeployFindings, steps: StepLog, env: str) -> None:
    """``/health``, ``/ready`` (what is served now, the pin, any A/B split) and the admin token; decides the pin."""
    with steps.step("preflight.server") as detail:
        try:
            client.health()
            status, ready = client.ready()
        except ServiceCallError as exc:
            raise DeployStopError(EXIT_PREFLIGHT, "preflight.server", str(exc)) from exc
        found.from_version = ready.get("version") if status == 200 else None
        found.from_sha256 = ready.get("sha256") if status == 200 else None
        found.from_pinned = ready.get("pinned")
        served_model = str(ready.get("model") or "")
        if found.model is None:
            found.model = served_model or None
        elif served_model and served_model != found.model:
            raise DeployStopError(
                EXIT_PREFLIGHT,
                "preflight.model",
                f"the server serves model {served_model!r}, not {found.model!r} (one model per server)",
            )
        if found.model is None:
            raise DeployStopError(EXIT_USAGE, "preflight.model", "the server names no model: pass --model")
        if ready.get("draining"):
            raise DeployStopError(EXIT_PREFLIGHT, "preflight.server", "the server is shutting down (draining)")
        ab = ready.get("ab_weights") or {}
        detail.append(
            f"/health 200, /ready {status}: {found.model} {found.from_version or '(nothing served)'}"
            + (f", pinned {found.from_pinned}" if found.from_pinned else "")
            + (f", A/B {ab}" if ab else "")
        )
    with steps.step("preflight.admin") as detail:
        try:
            client.admin_models()
        except ServiceCallError as exc:
            raise DeployStopError(EXIT_PREFLIGHT, "preflight.admin", f"admin API refused: {exc}") from exc
        detail.append("token accepted (GET /admin/models 200)")
    if found.pin is None:
        found.pin = env == "production" or found.from_pinned is not None
    if ab and not found.pin:
        raise DeployStopError(
            EXIT_PREFLIGHT,
            "preflight.ab",
            f'an A/B split is active ({ab}): end it (POST /admin/ab {{"weights": {{}}}}) or deploy with --pin '
            "(which ends it)",
        )


def resolve_pull_validate(
    found: DeployFindings,
    steps: StepLog,
    *,
    registry_url: str,
    storage_options: dict[str, Any],
    ref: str,
    cache_dir: Path,
    measure_latency: bool,
) -> None:
    """Resolve ``ref`` of the model in the registry, pull it into ``cache_dir`` and validate it against the contract."""
    model = found.model or ""
    with steps.step("registry.resolve") as detail:
        try:
            registry = ModelRegistry(registry_url, storage_options=storage_options)
            version = registry.resolve(model, ref)
        except (RegistryError, OSError, ValueError) as exc:
            raise DeployStopError(EXIT_REGISTRY, "registry.resolve", f"{model} {ref}: {exc}") from exc
        found.to_version = str(version)
        detail.append(f"{model} {ref} -> {version} in {registry_url}")
    with steps.step("registry.pull") as detail:
        try:
            pulled = registry.pull(model, version, cache_dir)
        except (RegistryError, OSError, ValueError) as exc:
            raise DeployStopError(EXIT_REGISTRY, "registry.pull", f"{model} {version}: {exc}") from exc
        found.sha256 = pulled.sha256
        found.num_speakers = pulled.metadata.contract.num_speakers
        detail.append(f"sha256 {pulled.sha256[:12]}… verified ({pulled.metadata.file.size_bytes} bytes)")
    with steps.step("validate") as detail:
        try:
            contract = load_contract()
            profile = contract.profile(pulled.metadata.profile)
            found.profile_p99_ms = profile.p99_ms
            report = validate_model_contract(
                pulled.path,
                contract,
                profile,
                num_speakers=found.num_speakers,
                measure_latency=measure_latency,
            )
        except ContractError as exc:
            raise DeployStopError(EXIT_INVALID, "validate", f"{model} {version}: {exc}") from exc
        if not report.passed:
            failed = "; ".join(f"{c.name}: {c.message}" for c in report.failed_checks)
            raise DeployStopError(EXIT_INVALID, "validate", f"{model} {version} violates the contract: {failed}")
        checks = len(report.checks)
        latency = "" if measure_latency else ", latency not measured"
        detail.append(f"{checks} contract checks passed (profile {profile.name}{latency})")


__all__ = ["check_server", "resolve_pull_validate"]
