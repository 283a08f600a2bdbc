"""From labelled windows to speaker regions: mode filter, owned spans, merging, short-turn absorption, VAD trimming.

Each window owns the hop-sized region around its centre; adjacent same-speaker regions merge; turns shorter than a
minimum are absorbed by a neighbour; with frame-level activity masks, turns are trimmed to where speech actually is.
A region is ``(start_s, end_s, label)`` with label -1 for non-speech.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Region = tuple[float, float, int]

TIME_EPS = 1e-6


@dataclass
class Window:
    """One pushed window as the diarizer keeps it."""

    start: float
    end: float
    speech: bool
    unit: npt.NDArray[np.float32] | None  # float32: half the memory of a long session
    label: int  # online cluster index, -1 for non-speech
    activity: npt.NDArray[np.bool_] | None = None  # frame-level speech mask from the window start, frame_s apart


def mode_filter(labels: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.int64]:
    """Replace each speech label by the most common speech label among the ``width`` windows around it (if more
    common than its own); ``width`` 1 leaves the labels as they are."""
    if width == 1:
        return labels
    half = width // 2
    out = labels.copy()
    for i in np.flatnonzero(labels >= 0):
        lo, hi = max(0, i - half), min(len(labels), i + half + 1)
        votes = Counter(int(v) for v in labels[lo:hi] if v >= 0)
        best, best_n = votes.most_common(1)[0]
        if best_n > votes[int(labels[i])]:
            out[i] = best
    return out


def owned_spans(windows: Sequence[Window], cuts: Mapping[int, float] | None = None) -> list[tuple[float, float, int]]:
    """(lo, hi, window index): each window owns the span between the midpoints to its neighbours' centres, within
    its own extent; ``cuts`` (``{i: t}``) moves the border between windows ``i`` and ``i + 1`` to ``t`` (kept
    between their centres)."""
    spans: list[tuple[float, float, int]] = []
    n = len(windows)
    borders = cuts or {}
    centres = [0.5 * (w.start + w.end) for w in windows]

    def border(i: int) -> float:
        # The border between windows i and i + 1: half-way between their centres unless a cut moves it.
        mid = 0.5 * (centres[i] + centres[i + 1])
        return min(max(borders.get(i, mid), centres[i]), centres[i + 1])

    for i, w in enumerate(windows):
        lo, hi = w.start, w.end
        if i > 0:
            lo = max(lo, border(i - 1))
        if i + 1 < n:
            hi = min(hi, border(i))
        if hi - lo > TIME_EPS:
            spans.append((lo, hi, i))
    return spans


def labelled_regions(
    windows: Sequence[Window], labels: npt.NDArray[np.int64], cuts: Mapping[int, float] | None = None
) -> list[Region]:
    """Each window's owned span (borders moved by ``cuts``, see ``owned_spans``) with its label."""
    return [(lo, hi, int(labels[i])) for lo, hi, i in owned_spans(windows, cuts)]


def merge_regions(regions: list[Region]) -> list[Region]:
    """Join touching regions with the same label."""
    merged: list[Region] = []
    for start, end, label in regions:
        if merged and merged[-1][2] == label and start - merged[-1][1] <= TIME_EPS:
            merged[-1] = (merged[-1][0], end, label)
        else:
            merged.append((start, end, label))
    return merged


def absorb_short(regions: list[Region], min_s: float) -> list[Region]:
    """Relabel too-short speaker turns to their longer touching neighbour (speech or not); repeat until stable."""
    if min_s <= 0:
        return regions
    out = list(regions)
    while True:
        candidates = [(e - s, i) for i, (s, e, lab) in enumerate(out) if lab >= 0 and e - s < min_s - TIME_EPS]
        if not candidates:
            return out
        _, i = min(candidates)
        s, e, _lab = out[i]
        neighbours = []
        if i > 0 and s - out[i - 1][1] <= TIME_EPS:
            neighbours.append(out[i - 1])
        if i + 1 < len(out) and out[i + 1][0] - e <= TIME_EPS:
            neighbours.append(out[i + 1])
        new_label = max(neighbours, key=lambda r: r[1] - r[0])[2] if neighbours else -1
        out[i] = (s, e, new_label)
        out = merge_regions(out)


def speech_spans(
    windows: Sequence[Window], frame_s: float, min_silence_s: float, min_speech_s: float
) -> list[tuple[float, float]] | None:
    """Speech spans from the windows' activity masks (each window's mask used over the region it owns), pauses
    shorter than ``min_silence_s`` bridged, bursts shorter than ``min_speech_s`` dropped; None without masks."""
    if not any(w.activity is not None for w in windows):
        return None
    spans: list[tuple[float, float]] = []
    for lo, hi, index in owned_spans(windows):
        w = windows[index]
        if w.activity is None:
            if w.speech:
                spans.append((lo, hi))
            continue
        times = w.start + np.arange(w.activity.size + 1) * frame_s
        for k in np.flatnonzero(w.activity):
            a, b = max(lo, float(times[k])), min(hi, float(times[k + 1]))
            if b > a:
                spans.append((a, b))
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a - merged[-1][1] < min_silence_s:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return [(a, b) for a, b in merged if b - a >= min_speech_s]


def trim_to_activity(regions: list[Region], spans: list[tuple[float, float]] | None, min_keep_s: float) -> list[Region]:
    """Speaker regions cut to the speech ``spans`` (unchanged when None); pieces shorter than ``min_keep_s`` go."""
    if spans is None:
        return regions
    out: list[Region] = []
    for start, end, label in regions:
        if label < 0:
            continue
        for a, b in spans:
            lo, hi = max(start, a), min(end, b)
            if hi - lo > TIME_EPS:
                out.append((lo, hi, label))
    # A speech span cut by a speaker change keeps both parts; drop only slivers.
    return [r for r in out if r[1] - r[0] >= min_keep_s]
