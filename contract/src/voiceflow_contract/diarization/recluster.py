"""Re-clustering a finished session's window vectors: centroids, cohesion merging and spherical k-means.

Used by :meth:`StreamingDiarizer.finalize` to correct the online pass once the whole session is known.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def speaker_centroids(units: FloatArray, labels: npt.NDArray[np.int64]) -> dict[int, FloatArray]:
    """Unit-length mean vector of each label's windows."""
    out: dict[int, FloatArray] = {}
    for k in np.unique(labels):
        total = units[labels == k].sum(axis=0)
        norm = float(np.linalg.norm(total))
        out[int(k)] = total / norm if norm > 0 else total
    return out


def merge_by_cohesion(units: FloatArray, labels: npt.NDArray[np.int64], margin: float) -> npt.NDArray[np.int64]:
    """Merge speakers that are one speaker split in two: their centroids are at least as similar as the windows of
    either are to their own centroid (scale-free, so it holds whatever similarity range the model produces)."""
    current = labels.copy()
    centroids = speaker_centroids(units, current)
    while len(centroids) > 1:
        keys = sorted(centroids)
        mat = np.stack([centroids[k] for k in keys])
        sims = mat @ mat.T
        np.fill_diagonal(sims, -np.inf)
        i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
        cohesion = [float(np.mean(units[current == keys[k]] @ centroids[keys[k]])) for k in (i, j)]
        if sims[i, j] < min(cohesion) - margin:
            break
        a, b = keys[min(i, j)], keys[max(i, j)]
        current = np.where(current == b, a, current)
        centroids = speaker_centroids(units, current)
    return current


def kmeans(units: FloatArray, labels: npt.NDArray[np.int64], iterations: int) -> npt.NDArray[np.int64]:
    """Spherical k-means passes starting from ``labels`` (a speaker that loses all windows disappears)."""
    current = labels.copy()
    for _ in range(iterations):
        updated = nearest(units, speaker_centroids(units, current))
        if np.array_equal(updated, current):
            break
        current = updated
    return current


def nearest(units: FloatArray, centroids: dict[int, FloatArray]) -> npt.NDArray[np.int64]:
    """Label of the closest centroid (cosine: rows of ``units`` are unit vectors) for every window."""
    keys = np.array(sorted(centroids), dtype=np.int64)
    mat = np.stack([centroids[int(k)] for k in keys])
    return np.asarray(keys[np.argmax(units @ mat.T, axis=1)], dtype=np.int64)
