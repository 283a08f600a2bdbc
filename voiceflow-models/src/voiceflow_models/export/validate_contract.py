"""Validate a model.onnx against the VoiceFlow contract and write validation_report.json.

Thin CLI over voiceflow_contract.validator.validate_model_contract (the one validator the registry and the server
also use): prints every rule, writes the report, exits 1 naming the failed rules.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from voiceflow_contract.errors import VoiceFlowError
from voiceflow_contract.schemas import CheckStatus, ValidationReport
from voiceflow_contract.validator import validate_model_contract

_STYLE = {CheckStatus.PASSED: "green", CheckStatus.FAILED: "red", CheckStatus.SKIPPED: "yellow"}


def validate(
    model: str | Path,
    *,
    profile: str | None = None,
    num_speakers: int | None = None,
    threads: int = 1,
    measure_latency: bool = True,
    latency_runs: int | None = None,
) -> ValidationReport:
    """Run the contract validator on `model` (never raises for a bad model; failed checks are in the report)."""
    return validate_model_contract(
        Path(model),
        profile=profile,
        num_speakers=num_speakers,
        threads=threads,
        measure_latency=measure_latency,
        latency_runs=latency_runs,
    )


def report_table(report: ValidationReport) -> Table:
    """One row per contract rule."""
    table = Table(title=f"Contract {report.contract_version}, profile {report.profile}: {Path(report.model_path).name}")
    for col in ("rule", "status", "measured", "limit", "message"):
        table.add_column(col)
    for check in report.checks:
        style = _STYLE.get(check.status, "")
        measured = "" if check.measured is None else f"{check.measured}{' ' + check.unit if check.unit else ''}"
        table.add_row(
            check.name,
            f"[{style}]{check.status.value}[/]",
            measured,
            "" if check.limit is None else str(check.limit),
            check.message,
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: validate, print, write the report; exit 1 (naming the rules) if any rule failed, 2 on bad arguments."""
    parser = argparse.ArgumentParser(prog="voiceflow-validate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="ONNX model to validate")
    parser.add_argument("--report", type=Path, default=Path("validation_report.json"), help="report JSON to write")
    parser.add_argument("--profile", help="performance profile (default: the contract's default_profile)")
    parser.add_argument("--num-speakers", type=int, help="expected number of speakers (default: from the model)")
    parser.add_argument("--threads", type=int, default=1, help="ORT intra-op threads for the latency check")
    parser.add_argument("--latency-runs", type=int, help="timed runs for the latency check (default: contract's)")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency budget check")
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 140)  # logs/CI: room for the rule messages
    if not args.model.is_file():
        console.print(f"[red]model not found: {args.model}")
        return 2
    try:
        with console.status(f"validating {args.model}"):
            report = validate(
                args.model,
                profile=args.profile,
                num_speakers=args.num_speakers,
                threads=args.threads,
                measure_latency=not args.no_latency,
                latency_runs=args.latency_runs,
            )
    except VoiceFlowError as exc:  # e.g. an unknown profile name: a usage error, not a model failure
        console.print(f"[red]{exc}")
        return 2
    console.print(report_table(report))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    report.write(args.report)
    failed = [c.name for c in report.failed_checks]
    if failed:
        console.print(
            f"[red]contract validation FAILED[/] ({len(failed)} rules): {', '.join(failed)}; report {args.report}"
        )
        return 1
    console.print(f"[green]contract validation passed[/]; report {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
