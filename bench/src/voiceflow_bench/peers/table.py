"""The peers run's output: one row per server (a server that could not run keeps its row, with the reason), the
printed table and the JSON document (``artifacts/bench/peers.json``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

SCHEMA = "voiceflow.bench-peers/1"


@dataclass
class ServerRow:
    """One server's line: what it is, how it was run and what it measured (None where it did not run)."""

    server: str
    version: str
    protocol: str
    settings: str
    status: str = "ok"  # "ok" or "not run"
    reason: str = ""
    c1_p50_ms: float | None = None
    c1_p99_ms: float | None = None
    bare_c1_p50_ms: float | None = None
    c1_overhead_p50_ms: float | None = None
    c1_overhead_p99_ms: float | None = None
    rps_c1: float | None = None
    rps_c4: float | None = None
    rps_c16: float | None = None
    rps_c64: float | None = None
    max_throughput_rps: float | None = None
    ratio_to_bare: float | None = None
    rss_mb: float | None = None
    cpu_ms_per_request: float | None = None
    failed_requests: int | None = None
    throughput: list[dict[str, Any]] = field(default_factory=list)

    def fill(self, measured: dict[str, Any], bare_best: float) -> ServerRow:
        """Take the measured values (voiceflow_bench.peers.measure) and the ratio to bare ORT's best."""
        for key, value in measured.items():
            if hasattr(self, key):
                setattr(self, key, value)
        top = self.max_throughput_rps
        self.ratio_to_bare = round(top / bare_best, 3) if top is not None and bare_best > 0 else None
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN/inf become None)."""
        return {k: _finite(v) for k, v in asdict(self).items()}


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _cell(value: float | int | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def render(rows: Sequence[ServerRow], title: str, bare_best: float) -> Table:
    """The rich table: one line per server, bare ORT's numbers in the title."""
    table = Table(title=title, show_lines=False, title_justify="left")
    for name, justify in (
        ("server", "left"),
        ("version", "left"),
        ("protocol", "left"),
        ("c=1 overhead p50 / p99 ms", "right"),
        ("req/s c=1 / 4 / 16 / 64", "right"),
        ("best req/s", "right"),
        (f"/ bare ORT best ({bare_best:,.0f})", "right"),
        ("RSS MiB", "right"),
        ("server CPU ms/req", "right"),
        ("settings / reason", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        if row.status != "ok":
            table.add_row(row.server, row.version, row.protocol, "-", "-", "-", "-", "-", "-", f"not run: {row.reason}")
            continue
        rates = " / ".join(_cell(r, 0) for r in (row.rps_c1, row.rps_c4, row.rps_c16, row.rps_c64))
        settings = row.settings + (f"; {row.failed_requests} failed" if row.failed_requests else "")
        table.add_row(
            row.server,
            row.version,
            row.protocol,
            f"{_cell(row.c1_overhead_p50_ms)} / {_cell(row.c1_overhead_p99_ms)}",
            rates,
            _cell(row.max_throughput_rps, 0),
            _cell(row.ratio_to_bare),
            _cell(row.rss_mb, 0),
            _cell(row.cpu_ms_per_request),
            settings,
        )
    return table


def markdown(rows: Sequence[ServerRow], bare_best: float) -> str:
    """The same table as Markdown (for docs/PERFORMANCE_ANALYSIS.md)."""
    lines = [
        "| server | version | protocol | c=1 overhead p50 / p99 (ms) | req/s c=1 / 4 / 16 / 64 | best req/s "
        f"| / bare ORT best ({bare_best:,.0f}/s) | RSS MiB | server CPU ms/req | settings |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.status != "ok":
            lines.append(
                f"| {row.server} | {row.version} | {row.protocol} | - | - | - | - | - | not run: {row.reason} |"
            )
            continue
        rates = " / ".join(_cell(r, 0) for r in (row.rps_c1, row.rps_c4, row.rps_c16, row.rps_c64))
        lines.append(
            f"| {row.server} | {row.version} | {row.protocol} | {_cell(row.c1_overhead_p50_ms)} / "
            f"{_cell(row.c1_overhead_p99_ms)} | {rates} | {_cell(row.max_throughput_rps, 0)} | "
            f"{_cell(row.ratio_to_bare)} | {_cell(row.rss_mb, 0)} | {_cell(row.cpu_ms_per_request)} | {row.settings} |"
        )
    return "\n".join(lines) + "\n"


def print_table(console: Console, rows: Sequence[ServerRow], title: str, bare_best: float) -> None:
    """Print the table."""
    console.print(render(rows, title, bare_best))


__all__ = ["SCHEMA", "ServerRow", "markdown", "print_table", "render"]
