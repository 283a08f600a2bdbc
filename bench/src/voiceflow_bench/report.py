"""The suite's output: the rich table printed at the end, the Markdown table for docs/PERFORMANCE_ANALYSIS.md, and
JSON-safe values (non-finite floats become null)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from voiceflow_bench.serving.stats import Row

_STYLE = {"pass": "green", "miss": "red", "info": "cyan", "pending": "yellow"}


def render(rows: Sequence[Row], title: str) -> Table:
    """One rich table: section, metric, target, measured, verdict, note."""
    table = Table(title=title, show_lines=False)
    for col in ("section", "metric", "target", "measured", "verdict", "note"):
        table.add_column(col, justify="right" if col == "measured" else "left", overflow="fold")
    for row in rows:
        if row.measured is None or not math.isfinite(row.measured):
            value = "n/a"
        else:
            value = f"{row.measured:,.3f}".rstrip("0").rstrip(".") + (f" {row.unit}" if row.unit else "")
        style = _STYLE.get(row.verdict, "")
        table.add_row(row.section, row.name, row.target, value, f"[{style}]{row.verdict}[/]", row.note)
    return table


def markdown_table(doc: dict[str, Any]) -> str:
    """The rows as a Markdown table (for docs/PERFORMANCE_ANALYSIS.md), with the machine, date and command."""
    host = doc["host"]
    lines = [
        "| section | metric | target | measured | verdict | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        value = r["measured"]
        shown = "n/a" if value is None or not math.isfinite(value) else f"{value:,.3f}".rstrip("0").rstrip(".")
        unit = f" {r['unit']}" if r["unit"] and shown != "n/a" else ""
        verdict = f"**{r['verdict']}**" if r["verdict"] in ("pass", "miss") else r["verdict"]
        note = r["note"].replace("|", "/")
        lines.append(f"| {r['section']} | {r['name']} | {r['target']} | {shown}{unit} | {verdict} | {note} |")
    lines += [
        "",
        f"Machine: {host['cpu']}, {host['cpu_count']} cores ({host['machine']}), no GPU, 1-minute load average "
        f"{host['loadavg_1m']} (shared); onnxruntime {host['onnxruntime']}, Python {host['python']}. "
        f"Measured {doc['created_at'][:16].replace('T', ' ')} UTC in {doc['wall_s']:.0f} s ({doc['mode']} mode).",
        "",
        f"Command: `{doc['command']}`",
    ]
    return "\n".join(lines) + "\n"


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by None, so that the JSON is standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
