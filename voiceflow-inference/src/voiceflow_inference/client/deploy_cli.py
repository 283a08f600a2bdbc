"""The ``deploy`` subcommand's arguments, progress and report table (the workflow is
:mod:`voiceflow_inference.client.deployment`).

Kept apart from the workflow so that ``voiceflow-inference``'s parser can register ``deploy`` without importing
httpx, rich, the registry client or the contract validator (ONNX); they load only when the command runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voiceflow_inference.client import deploy_options
from voiceflow_inference.client.deploy_options import (
    DEFAULT_SERVER,
    DEFAULT_SMOKE_WINDOWS,
    EXIT_USAGE,
    HTTP_SLACK_MS,
    MAX_SMOKE_WINDOWS,
    DeployOptions,
)
from voiceflow_inference.client.deploy_report import STATUS_MARKS, DeployReport
from voiceflow_inference.config import ConfigError, load_settings

if TYPE_CHECKING:
    from rich.console import Console


# ---------------------------------------------------------------------- rendering
def render_report(report: DeployReport, console: Console) -> None:
    """Print the steps table and a one-line verdict."""
    from rich.table import Table

    colour = {"deployed": "green", "rolled_back": "yellow", "refused": "red", "rollback_failed": "bold red"}
    table = Table(
        title=f"deploy {report.model} {report.requested} -> {report.server} ({report.env})", title_justify="left"
    )
    table.add_column("step")
    table.add_column("result")
    table.add_column("time", justify="right")
    table.add_column("detail", overflow="fold")
    for step in report.steps:
        table.add_row(step.name, STATUS_MARKS[step.status], f"{step.seconds:.2f} s", step.detail)
    console.print(table)
    if report.smoke is not None and report.smoke.calls:
        s = report.smoke
        console.print(
            f"smoke latency over {s.calls} calls: p50 {s.p50_ms:.1f} ms, p99 {s.p99_ms:.1f} ms, max {s.max_ms:.1f} ms "
            f"(budget {s.budget_ms:g} ms)"
        )
    console.print(
        f"[{colour[report.result]}]{report.result.upper()}[/]: {report.message} "
        f"(from {report.from_version}, to {report.to_version}, now serving {report.final_version}; "
        f"{report.seconds:.1f} s, exit {report.exit_code})",
        highlight=False,
    )


# ---------------------------------------------------------------------- CLI
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _smoke_windows(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 1 <= value <= MAX_SMOKE_WINDOWS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_SMOKE_WINDOWS}, got {value}")
    return value


def add_deploy_parser(sub: Any, environments: tuple[str, ...]) -> argparse.ArgumentParser:
    """Register the ``deploy`` subcommand on an argparse subparsers object."""
    p: argparse.ArgumentParser = sub.add_parser(
        "deploy",
        help="deploy a registry version to a running service: validate, reload/pin, smoke test, roll back on failure",
        description=deploy_options.__doc__.split("\n\n", 2)[2] if deploy_options.__doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--server",
        metavar="URL",
        default=os.environ.get("VOICEFLOW_SERVER", DEFAULT_SERVER),
        help=f"base URL of the running service (default: $VOICEFLOW_SERVER or {DEFAULT_SERVER})",
    )
    p.add_argument(
        "--version",
        dest="deploy_version",
        metavar="REF",
        required=True,
        help="version (1.2.0, v1.2.0) or alias (latest)",
    )
    p.add_argument(
        "--model", dest="deploy_model", metavar="NAME", help="model name (default: the model the server serves)"
    )
    p.add_argument(
        "--env",
        dest="deploy_env",
        metavar="ENV",
        choices=environments,
        help="environment (default: $VOICEFLOW_ENV or development)",
    )
    p.add_argument(
        "--token",
        metavar="T",
        help="admin bearer token (default: $VOICEFLOW_ADMIN_TOKEN, else the env's config, e.g. dev-admin-token)",
    )
    p.add_argument(
        "--registry",
        dest="deploy_registry",
        metavar="URL",
        help="registry URL (default: the env's config / VOICEFLOW_REGISTRY_URL)",
    )
    p.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="pin the version on the server (default: on for production, or when the server is pinned already)",
    )
    p.add_argument(
        "--smoke-windows",
        metavar="N",
        type=_smoke_windows,
        default=DEFAULT_SMOKE_WINDOWS,
        help=f"synthetic 1 s windows in the smoke test, 1-{MAX_SMOKE_WINDOWS} (default {DEFAULT_SMOKE_WINDOWS})",
    )
    p.add_argument(
        "--max-latency-ms",
        metavar="MS",
        type=_positive_float,
        help="smoke p99 budget per single-window /infer round trip (default: the model profile's p99 budget + "
        f"{HTTP_SLACK_MS:g} ms of HTTP/JSON slack, i.e. 250 ms for cpu-realtime)",
    )
    p.add_argument(
        "--timeout",
        metavar="S",
        type=_positive_float,
        default=120.0,
        help="seconds for each admin call and for /ready to report a version (default 120)",
    )
    p.add_argument(
        "--cache-dir",
        dest="deploy_cache_dir",
        metavar="DIR",
        type=Path,
        help="keep pulled models here (default: a temp dir)",
    )
    p.add_argument(
        "--validate-latency",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure the latency budget in the local validation (default: the env's measure_latency)",
    )
    p.add_argument("--report", dest="deploy_report", metavar="PATH", type=Path, help="write the JSON report here")
    return p


def run_deploy_command(args: argparse.Namespace) -> int:
    """Run ``deploy`` from parsed arguments; returns the exit code (see ``deploy_options``)."""
    # Lazy: rich, httpx, the registry client and the ONNX validator load only when the command runs (module docstring).
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from voiceflow_inference.client.deployment import Deployment
    from voiceflow_inference.client.service_client import ServiceClient

    err = Console(stderr=True)
    overrides: dict[str, Any] = {"registry_url": args.deploy_registry} if args.deploy_registry else {}
    try:
        settings = load_settings(args.deploy_env, **overrides)
    except ConfigError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        return EXIT_USAGE
    token = args.token or (settings.admin_token.get_secret_value() if settings.admin_token else None)
    if not token:
        err.print(
            f"error: no admin token for env {settings.env}: pass --token or set VOICEFLOW_ADMIN_TOKEN "
            "(a local `voiceflow-inference serve --env development` uses the development config's dev-admin-token)",
            highlight=False,
            markup=False,
        )
        return EXIT_USAGE
    options = DeployOptions(
        server=args.server,
        version=args.deploy_version,
        env=settings.env,
        model=args.deploy_model,
        token=token,
        registry=settings.registry_url,
        pin=args.pin,
        smoke_windows=args.smoke_windows,
        max_latency_ms=args.max_latency_ms,
        timeout=args.timeout,
        cache_dir=args.deploy_cache_dir,
        validate_latency=args.validate_latency,
    )
    cache_dir = options.cache_dir or Path(tempfile.mkdtemp(prefix="voiceflow-deploy-"))
    planned = 9  # preflight x2, resolve, pull, validate, reload, pin, ready, smoke
    progress = Progress(
        SpinnerColumn(),
        TextColumn("deploy {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task("preflight", total=planned)

    def advance(step: str) -> None:
        progress.update(task, description=step, advance=1)

    try:
        with ServiceClient(options.server, token, timeout=options.timeout) as client, progress:
            deployment = Deployment(
                options,
                client,
                registry_url=settings.registry_url,
                default_validate_latency=settings.measure_latency,
                storage_options=settings.storage_options,
                log=lambda line: progress.console.print(line, highlight=False),
                advance=advance,
            )
            report = deployment.run(cache_dir)
            progress.update(task, completed=planned)
    finally:
        if options.cache_dir is None:
            shutil.rmtree(cache_dir, ignore_errors=True)
    render_report(report, Console())
    if args.deploy_report is not None:
        args.deploy_report.parent.mkdir(parents=True, exist_ok=True)
        args.deploy_report.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
        err.print(f"report written to {args.deploy_report}", highlight=False)
    return report.exit_code


__all__ = ["add_deploy_parser", "render_report", "run_deploy_command"]
