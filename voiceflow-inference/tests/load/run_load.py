"""Run the locust load test headless and bounded against a server, then print requests, failures and p50/p99.

    python voiceflow-inference/tests/load/run_load.py --host http://127.0.0.1:8000 --users 10 --duration 30s

Exits 1 when the failure ratio is above --max-failure-ratio (default 0: any failed request fails the run), 2 when
locust itself could not run.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
USER_CLASSES = ("RestUser", "OipUser", "WebSocketUser")


@dataclass(frozen=True)
class EndpointStats:
    """One row of locust's `<prefix>_stats.csv`."""

    kind: str
    name: str
    requests: int
    failures: int
    p50_ms: float | None
    p99_ms: float | None
    rps: float


def parse_duration(text: str) -> float:
    """Seconds in a locust duration such as '30s', '2m', '1h30m' or a bare number of seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    total, number = 0.0, ""
    for char in text.strip():
        if char.isdigit() or char == ".":
            number += char
        elif char in units and number:
            total += float(number) * units[char]
            number = ""
        else:
            raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 30s, 2m, 1h30m")
    if number:
        total += float(number)
    if total <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: must be above zero")
    return total


def _number(value: str) -> float | None:
    return None if value in ("", "N/A") else float(value)


def read_stats(stats_csv: Path) -> list[EndpointStats]:
    """Rows of locust's stats CSV, the `Aggregated` total last."""
    rows = []
    with stats_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append(
                EndpointStats(
                    kind=row["Type"],
                    name=row["Name"],
                    requests=int(row["Request Count"]),
                    failures=int(row["Failure Count"]),
                    p50_ms=_number(row["50%"]),
                    p99_ms=_number(row["99%"]),
                    rps=float(row["Requests/s"] or 0.0),
                )
            )
    return rows


def render(rows: list[EndpointStats], console: Console) -> None:
    """Print one line per endpoint: requests, failures, p50 and p99 in milliseconds, throughput."""
    table = Table(title="VoiceFlow load test")
    for column in ("type", "endpoint", "requests", "failures", "p50 ms", "p99 ms", "req/s"):
        table.add_column(column, justify="left" if column in ("type", "endpoint") else "right", no_wrap=True)
    for row in rows:
        table.add_row(
            escape(row.kind),
            escape(row.name),  # locust names such as "/v2/models/[model]/infer" are not rich markup
            str(row.requests),
            str(row.failures),
            "-" if row.p50_ms is None else f"{row.p50_ms:.0f}",
            "-" if row.p99_ms is None else f"{row.p99_ms:.0f}",
            f"{row.rps:.1f}",
        )
    console.print(table)


def run_locust(args: argparse.Namespace, prefix: Path, console: Console) -> int:
    """Run locust headless with a hard wall-clock bound; returns its exit code."""
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--skip-log-setup",
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate),
        "-t",
        f"{max(1, round(args.duration))}s",
        "--stop-timeout",
        "5",
        "--host",
        args.host,
        "--csv",
        str(prefix),
        "--exit-code-on-error",
        "0",
        "--model-name",
        args.model,
        *args.users_classes,
    ]
    # Locust stops itself at -t; the extra margin only guards against a hang (stop timeout + start-up).
    deadline = args.duration + 60.0
    log = prefix.with_suffix(".log")
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        started = time.monotonic()
        with Progress(
            TextColumn("[bold]load[/] {task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            bar = progress.add_task(f"{args.users} users on {args.host}", total=args.duration)
            while process.poll() is None:
                elapsed = time.monotonic() - started
                progress.update(bar, completed=min(elapsed, args.duration))
                if elapsed > deadline:
                    process.kill()
                    console.print(f"[red]locust did not stop within {deadline:.0f} s; killed[/]")
                    break
                time.sleep(0.2)
    code = process.wait()
    if code != 0:
        console.print(f"[red]locust exited with {code}[/]; its log:\n{log.read_text()[-3000:]}")
    return code


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="http://127.0.0.1:8000", help="Base URL of the server under test")
    parser.add_argument("-u", "--users", type=int, default=10, help="Concurrent simulated users (default 10)")
    parser.add_argument("-r", "--spawn-rate", type=float, default=5.0, help="Users started per second (default 5)")
    parser.add_argument(
        "-t", "--duration", type=parse_duration, default=30.0, help="How long to run, e.g. 30s, 2m (default 30s)"
    )
    parser.add_argument("--model", default="ge2e", help="Model name in OIP paths (default ge2e)")
    parser.add_argument(
        "--users-classes",
        nargs="*",
        default=list(USER_CLASSES),
        choices=USER_CLASSES,
        help="Which user classes to run (default: all three)",
    )
    parser.add_argument("--csv-dir", type=Path, default=None, help="Keep locust's CSV files here (default: temporary)")
    parser.add_argument(
        "--max-failure-ratio", type=float, default=0.0, help="Exit 1 above this failed/total ratio (default 0)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print the per-endpoint summary; the exit code says whether it passed."""
    args = build_parser().parse_args(argv)
    if args.users < 1:
        build_parser().error("--users must be at least 1")
    # Piped output (CI logs, tests) gets a fixed width so the table is never squeezed to 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 120)
    with tempfile.TemporaryDirectory(prefix="voiceflow-load-") as tmp:
        directory = args.csv_dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        prefix = directory / "voiceflow-load"
        code = run_locust(args, prefix, console)
        stats_csv = Path(f"{prefix}_stats.csv")
        if not stats_csv.is_file():
            console.print(f"[red]no statistics written ({stats_csv} missing)[/]")
            return 2
        rows = read_stats(stats_csv)
    render(rows, console)
    total = next((row for row in rows if row.name == "Aggregated"), None)
    if code != 0 or total is None or total.requests == 0:
        console.print("[red]FAILED: locust did not complete any request[/]")
        return 2
    ratio = total.failures / total.requests
    if ratio > args.max_failure_ratio:
        console.print(f"[red]FAILED: {total.failures}/{total.requests} requests failed ({ratio:.1%})[/]")
        return 1
    console.print(f"[green]OK: {total.requests} requests, {total.failures} failures[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
