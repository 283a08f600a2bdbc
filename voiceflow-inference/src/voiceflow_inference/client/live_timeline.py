"""The terminal's live speaker timeline for `voiceflow-inference stream`: one row per speaker, redrawn per window."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from voiceflow_inference.client.stream_messages import Result, Window

COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta")
CELL = "█"


def colour(speaker: str, order: list[str]) -> str:
    """A stable colour per speaker, by order of appearance."""
    return COLOURS[order.index(speaker) % len(COLOURS)]


def render_rows(windows: list[Window], width: int) -> Table:
    """A table: one row per live speaker; cell i covers [i, i+1) * (seconds per cell) of the stream."""
    duration = max((w.end for w in windows), default=0.0)
    seconds_per_cell = max(0.5, duration / max(1, width))
    cells = max(1, int(duration / seconds_per_cell + 0.999))
    order = list(dict.fromkeys(w.speaker for w in windows if w.speaker is not None))
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("speaker", no_wrap=True)
    table.add_column(f"0 s … {duration:.1f} s ({seconds_per_cell:.2g} s per cell)", no_wrap=True)
    for speaker in order:
        row = [" "] * cells
        for window in windows:
            if window.speaker == speaker:
                first = int(window.start / seconds_per_cell)
                last = max(first + 1, int(window.end / seconds_per_cell))
                for i in range(first, min(last, cells)):
                    row[i] = CELL
        table.add_row(Text(speaker, style=colour(speaker, order)), Text("".join(row), style=colour(speaker, order)))
    if not order:
        table.add_row(Text("(silence)", style="dim"), Text("·" * cells, style="dim"))
    return table


class LiveTimeline:
    """Collects windows and renders the timeline plus a status line (give it to rich.live.Live)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.windows: list[Window] = []
        self.status = "connecting…"

    def add(self, window: Window) -> None:
        """One more `window` message."""
        self.windows.append(window)
        speakers = len({w.speaker for w in self.windows if w.speaker is not None})
        who = window.speaker or "silence"
        self.status = f"{window.end:7.2f} s  {len(self.windows)} windows  {speakers} speakers  now: {who}"

    def __rich__(self) -> Group:
        width = max(20, self.console.width - 20)
        return Group(render_rows(self.windows, width), Text(self.status, style="dim"))


def describe_result(result: Result) -> Group:
    """A headline and the final turns as a table."""
    headline = Text(f"final: {result.duration:.2f} s, {len(result.speakers)} speakers, ", style="bold")
    headline.append(f"model {result.model} {result.model_version}", style="")
    table = Table(box=None)
    for name in ("start", "end", "speaker"):
        table.add_column(name, justify="right" if name != "speaker" else "left")
    order = list(result.speakers)
    for turn in result.turns:
        table.add_row(f"{turn.start:.2f}", f"{turn.end:.2f}", Text(turn.speaker, style=colour(turn.speaker, order)))
    return Group(headline, table)
