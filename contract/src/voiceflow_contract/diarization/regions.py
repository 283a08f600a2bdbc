"""Speaker regions on the time line: merging touching same-speaker regions and absorbing too-short turns."""

from __future__ import annotations

TIME_EPS = 1e-6


def merge_regions(regions: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Join touching regions of the same speaker into one."""
    merged: list[tuple[float, float, int]] = []
    for start, end, label in regions:
        if merged and merged[-1][2] == label and start - merged[-1][1] <= TIME_EPS:
            merged[-1] = (merged[-1][0], end, label)
        else:
            merged.append((start, end, label))
    return merged


def absorb_short(regions: list[tuple[float, float, int]], min_s: float) -> list[tuple[float, float, int]]:
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
