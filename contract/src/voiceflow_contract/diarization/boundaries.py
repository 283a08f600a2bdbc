"""Where a speaker change falls between two overlapping windows: the zero crossing of their similarity margin.

With 1 s windows every 0.5 s, a change between window ``i`` (speaker a) and window ``i + 1`` (speaker b) lies
somewhere between the two window centres; the ``midpoint`` rule puts it half-way. The ``margin`` rule places it
where the margin ``m = sim(x, a) - sim(x, b)`` (cosine to the two speakers' session-centred centroids) crosses
zero on the line through the two windows' margins, kept between the two centres: a window that is only just a's (it
already holds some of b) moves the change towards its own centre, one that leans to b (the label came from the
neighbours or the spectral embedding) puts it at its centre. Model-agnostic (cosines to the session's own centroids,
no scale assumed); where the margin does not fall from a to b (``m_i <= m_{i+1}``) the change stays half-way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from voiceflow_contract.diarization.recluster import centroids, session_centred
from voiceflow_contract.diarization.regions import Window

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Boundary = Literal["midpoint", "margin"]
BOUNDARIES: tuple[Boundary, ...] = ("midpoint", "margin")


def margin_cuts(windows: Sequence[Window], labels: IntArray) -> dict[int, float]:
    """``{i: t}``: the change time between speech windows ``i`` and ``i + 1`` whose labels differ (both speakers),
    at the zero crossing of their similarity margin (``owned_spans`` keeps it between the two centres); pairs whose
    margin does not fall are left out (their owned spans meet half-way)."""
    speech = [i for i, w in enumerate(windows) if labels[i] >= 0 and w.unit is not None]
    if len(speech) < 2:
        return {}
    rows = {i: k for k, i in enumerate(speech)}
    units = np.stack([np.asarray(windows[i].unit, dtype=np.float64) for i in speech])
    space = session_centred(units)
    cents = centroids(space, labels[speech])
    cuts: dict[int, float] = {}
    for i in range(len(windows) - 1):
        a, b = int(labels[i]), int(labels[i + 1])
        if a < 0 or b < 0 or a == b or i not in rows or i + 1 not in rows:
            continue
        diff = cents[a] - cents[b]
        before, after = float(space[rows[i]] @ diff), float(space[rows[i + 1]] @ diff)
        if before <= after:
            continue
        left = 0.5 * (windows[i].start + windows[i].end)
        right = 0.5 * (windows[i + 1].start + windows[i + 1].end)
        cuts[i] = left + (right - left) * before / (before - after)
    return cuts
