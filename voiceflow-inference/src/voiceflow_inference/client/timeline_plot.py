"""A diarization timeline picture (PNG, matplotlib's Agg backend): the hypothesis, and the reference when given.

matplotlib is the optional extra `voiceflow-inference[plot]`, never a dependency of the serving image; it is
imported inside :func:`plot_timeline` so that the client works without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class TurnLike(Protocol):
    """Anything with start, end (seconds) and speaker."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def speaker(self) -> str: ...


PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def plot_timeline(
    hypothesis: Sequence[TurnLike],
    output: str | Path,
    *,
    reference: Sequence[TurnLike] | None = None,
    duration: float | None = None,
    title: str = "Speaker diarization",
) -> Path:
    """Draw one row per speaker (reference rows on top, labelled `ref`, then `hyp`) and save a PNG at `output`."""
    import matplotlib  # optional extra `plot`: lazy so the client and the server never need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("ref", list(reference))] if reference else []
    groups.append(("hyp", list(hypothesis)))
    rows: list[tuple[str, str, list[TurnLike]]] = []
    for tag, turns in groups:
        for speaker in dict.fromkeys(t.speaker for t in turns):
            rows.append((tag, speaker, [t for t in turns if t.speaker == speaker]))
    end = duration or max((t.end for _, turns in groups for t in turns), default=1.0)
    fig, ax = plt.subplots(figsize=(10, 0.6 + 0.45 * max(1, len(rows))), dpi=100)
    for index, (tag, speaker, turns) in enumerate(reversed(rows)):
        order = [s for t, s, _ in rows if t == tag]  # colours by order of appearance within ref / hyp
        colour = PALETTE[order.index(speaker) % len(PALETTE)]
        ax.broken_barh([(t.start, t.end - t.start) for t in turns], (index + 0.15, 0.7), color=colour, alpha=0.9)
    ax.set_yticks([i + 0.5 for i in range(len(rows))], [f"{tag} {speaker}" for tag, speaker, _ in reversed(rows)])
    ax.set_ylim(0, max(1, len(rows)))
    ax.set_xlim(0, end)
    ax.set_xlabel("time (s)")
    ax.set_title(title, fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    if reference:
        ax.axhline(len(rows) - len({t.speaker for t in reference}), color="black", linewidth=0.8)
    fig.tight_layout()
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
