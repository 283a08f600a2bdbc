"""What the demo prints: the shared rich console, step banners and the speaker timeline."""

from __future__ import annotations

from typing import Any

from rich.console import Console

console = Console(highlight=False)


def step(number: int, total: int, title: str) -> None:
    """Print a step banner."""
    console.rule(f"[bold cyan]{number}/{total}  {title}")


def show_timeline(reference: list[Any], hypothesis: list[Any], duration: float, step_s: float = 0.5) -> None:
    """Reference and hypothesis speaker strips, one character per half second."""

    def strip(segments: list[Any]) -> str:
        names = sorted({s.speaker for s in segments}, key=lambda n: min(s.start for s in segments if s.speaker == n))
        symbols = {name: "ABCDEFGH"[i % 8] for i, name in enumerate(names)}
        cells = []
        for k in range(int(duration / step_s)):
            t = (k + 0.5) * step_s
            active = [symbols[s.speaker] for s in segments if s.start <= t < s.end]
            cells.append("·" if not active else ("+" if len(active) > 1 else active[0]))
        return "".join(cells)

    console.print(f"reference  {strip(reference)}")
    console.print(f"streamed   {strip(hypothesis)}")
    console.print("[dim](one character per 0.5 s; letters = speakers by appearance, + overlap, · silence)[/dim]")
