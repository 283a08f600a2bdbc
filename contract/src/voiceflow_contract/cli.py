"""``voiceflow-contract``: validate a model against the contract, list profiles, dump JSON Schemas, decide a bump.

Exit codes: 0 success, 1 the model failed the contract (the failed rules are named), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from voiceflow_contract.errors import ContractError, VoiceFlowError
from voiceflow_contract.schema_export import SCHEMA_MODELS, json_schema, schema_text, write_schemas
from voiceflow_contract.semver import Version, explain_bump, next_version, signature_from_onnx
from voiceflow_contract.spec import load_contract
from voiceflow_contract.validator import validate_model_contract

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

EPILOG = """\
examples:
  voiceflow-contract validate model.onnx                      # default profile (cpu-realtime)
  voiceflow-contract validate model.onnx --profile gpu-large  # the Wav2Vec2-size budget
  voiceflow-contract validate model.onnx --report out/validation_report.json --runs 200 --threads 2
  voiceflow-contract profiles
  voiceflow-contract schema --out contract/schemas
  voiceflow-contract bump old.onnx new.onnx --current 1.0.0

The profile comes from --profile, else from metadata.json beside the model ("profile"), else the contract's default.
Exit codes: 0 passed, 1 the model broke a rule (the failed rules are named), 2 usage error.
"""


class UsageError(Exception):
    """Bad arguments or unreadable inputs: exit code 2."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="voiceflow-contract",
        description="Check ONNX models against the VoiceFlow model contract.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--contract", type=Path, help="contract YAML (default: the packaged model_contract.yaml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser(
        "validate",
        help="validate MODEL.onnx and write validation_report.json",
        description="Run every contract rule on MODEL.onnx, print a table and write validation_report.json.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("model", type=Path, metavar="MODEL.onnx")
    validate.add_argument("--profile", help="performance profile (default: metadata.json's, else the contract default)")
    validate.add_argument("--report", type=Path, help="report path (default: ./validation_report.json)")
    validate.add_argument("--metadata", type=Path, help="metadata.json stating profile/num_speakers (default: beside)")
    validate.add_argument("--num-speakers", type=_positive_int, help="speaker count the model must output")
    validate.add_argument("--threads", type=_positive_int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    validate.add_argument("--runs", type=_positive_int, help="timed latency runs (default: the contract's)")
    validate.add_argument("--no-latency", action="store_true", help="skip the latency measurement")
    validate.add_argument("--json", action="store_true", help="print the report JSON instead of the table")

    sub.add_parser("profiles", help="list the performance profiles", description="List the named budgets.")

    schema = sub.add_parser(
        "schema",
        help="print or write JSON Schemas (metadata, report, manifest, contract)",
        description="Dump the JSON Schema generated from the pydantic models.",
    )
    schema.add_argument(
        "names", nargs="*", metavar="NAME", help="metadata | report | manifest | contract (default: all)"
    )
    schema.add_argument("--out", type=Path, help="write NAME.schema.json files into this folder instead of printing")

    bump = sub.add_parser(
        "bump",
        help="decide MAJOR/MINOR/PATCH between two ONNX models",
        description="Compare two models' I/O signatures (and architectures) and print the semantic-version bump.",
    )
    bump.add_argument("old", type=Path, metavar="OLD.onnx")
    bump.add_argument("new", type=Path, metavar="NEW.onnx")
    bump.add_argument("--current", help="the old model's version: also print the next version")
    bump.add_argument("--old-arch", help="old architecture type (e.g. cnn)")
    bump.add_argument("--new-arch", help="new architecture type (e.g. wav2vec2)")
    bump.add_argument("--old-signature", help="old architecture signature (layer-structure hash)")
    bump.add_argument("--new-signature", help="new architecture signature")
    return parser


def _console(stderr: bool = False) -> Any:
    # Wide enough that rule names and limits never wrap in CI logs.
    return Console(file=sys.stderr if stderr else sys.stdout, width=max(120, Console().width), highlight=False)


def _read_metadata(path: Path | None, model: Path) -> dict[str, Any]:
    """metadata.json as a plain mapping (only ``profile`` and ``contract.num_speakers`` are read here)."""
    candidate = path if path is not None else model.parent / "metadata.json"
    if not candidate.is_file():
        if path is not None:
            raise UsageError(f"metadata file not found: {path}")
        return {}
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read metadata {candidate}: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"metadata {candidate} must be a JSON object")
    return data


def _default_report_path() -> Path:
    """validation_report.json in the current directory: never beside the input (``validate /etc/passwd`` must not write
    into /etc, issue 12 finding 10)."""
    return Path.cwd() / "validation_report.json"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _print_report(report: Any) -> None:
    styles = {"passed": "green", "failed": "bold red", "skipped": "yellow"}
    table = Table(title=f"{report.model_path} — profile {report.profile}", show_lines=False)
    for column in ("rule", "status", "measured", "limit", "message"):
        table.add_column(column, overflow="fold", no_wrap=column in ("rule", "status"))
    for check in report.checks:
        measured = _cell(check.measured) + (f" {check.unit}" if check.unit and check.measured is not None else "")
        status = f"[{styles[check.status.value]}]{check.status.value.upper()}[/]"
        # Passing rules speak through their numbers; only failures and skips need the sentence.
        detail = "" if check.status.value == "passed" else check.message
        table.add_row(check.name, status, measured, _cell(check.limit), detail)
    _console().print(table)


def _cmd_validate(args: argparse.Namespace, contract: Any) -> int:
    metadata = _read_metadata(args.metadata, args.model)
    profile_name = args.profile or metadata.get("profile")
    profile = contract.profile(profile_name)  # unknown -> ContractError listing the known ones (exit 2)
    num_speakers = args.num_speakers
    if num_speakers is None and isinstance(metadata.get("contract"), dict):
        stated = metadata["contract"].get("num_speakers")
        num_speakers = stated if isinstance(stated, int) else None

    runs = args.runs or contract.validation.latency_timed_runs
    with Progress(
        TextColumn("latency runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("latency", total=runs)
        report = validate_model_contract(
            args.model,
            contract,
            profile,
            num_speakers=num_speakers,
            threads=args.threads,
            latency_runs=runs,
            measure_latency=not args.no_latency,
            on_latency_run=lambda done, total: progress.update(task, completed=done, total=total),
        )

    report_path = args.report if args.report is not None else _default_report_path()
    if args.json:
        sys.stdout.write(report.to_json())
    else:
        _print_report(report)
    if not args.model.is_file():  # a missing input writes nothing (the table and exit code still say file.exists)
        print("FAILED: " + ", ".join(c.name for c in report.failed_checks), file=sys.stderr)
        return EXIT_FAILED
    try:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report.write(report_path)
    except OSError as exc:
        print(f"error: cannot write report {report_path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"report: {report_path}", file=sys.stderr)
    if report.passed:
        print("PASSED: every contract rule holds", file=sys.stderr)
        return EXIT_OK
    print("FAILED: " + ", ".join(c.name for c in report.failed_checks), file=sys.stderr)
    return EXIT_FAILED


def _cmd_profiles(contract: Any) -> int:
    table = Table(title=f"{contract.name} {contract.version}: profiles")
    for column in ("profile", "device", "p99 ms", "size MB", "description"):
        table.add_column(column)
    for name in contract.profile_names:
        prof = contract.profile(name)
        label = f"{name} (default)" if name == contract.default_profile else name
        table.add_row(label, prof.device, f"{prof.p99_ms:g}", f"{prof.model_size_mb:g}", prof.description)
    _console().print(table)
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    names = args.names or list(SCHEMA_MODELS)
    unknown = [n for n in names if n not in SCHEMA_MODELS]
    if unknown:
        raise UsageError(f"unknown schema {unknown[0]!r}; known: {', '.join(SCHEMA_MODELS)}")
    if args.out is not None:
        for path in write_schemas(args.out, names):
            print(path)
    elif len(names) == 1:
        sys.stdout.write(schema_text(names[0]))
    else:
        sys.stdout.write(json.dumps({n: json_schema(n) for n in names}, indent=2) + "\n")
    return EXIT_OK


def _cmd_bump(args: argparse.Namespace, contract: Any) -> int:
    current = Version.parse(args.current) if args.current else None
    for path in (args.old, args.new):
        if not path.is_file():
            raise UsageError(f"model not found: {path}")
    primary = contract.output.name
    old = signature_from_onnx(args.old, args.old_arch, args.old_signature, primary_output=primary)
    new = signature_from_onnx(args.new, args.new_arch, args.new_signature, primary_output=primary)
    decision = explain_bump(old, new)
    print(decision.bump.value.upper())
    for reason in decision.reasons:
        print(f"  - {reason}")
    if current is not None:
        print(f"next version: {next_version(current, decision.bump)}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``voiceflow-contract``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits 2 on usage errors
    try:
        contract = load_contract(args.contract)
        if args.command == "validate":
            return _cmd_validate(args, contract)
        if args.command == "profiles":
            return _cmd_profiles(contract)
        if args.command == "schema":
            return _cmd_schema(args)
        return _cmd_bump(args, contract)
    except (UsageError, ContractError, VoiceFlowError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def run() -> None:
    """Console-script wrapper: exit with main()'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()
