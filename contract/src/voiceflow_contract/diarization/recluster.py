"""Whole-session re-clustering for ``StreamingDiarizer.finalize``: the final answer, correcting the online pass.

Three methods, chosen per model by calibration (metadata.json ``diarization.method``):

* ``ahc`` (any embedding): per-session normalisation (the session's mean unit vector is removed, so what all windows
  share, the channel and the encoder's bias, no longer dominates the cosine), then average-linkage agglomerative
  clustering that stops when the closest two clusters are less similar than ``threshold``. The speaker count is never
  given. Cost is capped: at most ``max_points`` windows, evenly spread over the session, are clustered (O(points^2)
  memory, O(points^3) time, constants), every window then joins its nearest centroid and a few spherical k-means
  passes refine (O(windows x speakers)); the speaker count is capped at ``max_speakers``.
* ``spectral`` (any embedding): spectral clustering of the same capped set of windows: the speaker count from the
  eigengap of the normalised Laplacian of their pruned cosine affinity (each row keeps its strongest ``PRUNE_KEEP``
  share, at least ``MIN_NEIGHBOURS``), k-means on the row-normalised spectral embedding; the other windows join the
  nearest session-centred centroid. No threshold to calibrate; O(points^3) for the eigendecomposition, capped like
  ``ahc``.
* ``cohesion`` (the original one, tuned to fast-cnn's softmax): the online labels refined by folding away tiny
  speakers, merging speakers whose centroids are as similar as their own windows, k-means, and a session-centred pass.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from voiceflow_contract.diarization.errors import DiarizationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Method = Literal["ahc", "spectral", "cohesion"]
METHODS: tuple[Method, ...] = ("ahc", "spectral", "cohesion")
#: Share of each row's strongest affinities the spectral method keeps (the rest pruned to 0), and the fewest
#: neighbours it keeps: in a short session a smaller graph falls apart into one component per few windows.
PRUNE_KEEP = 0.25
MIN_NEIGHBOURS = 12

#: Windows clustered agglomeratively at most (the rest join the nearest centroid): bounds ``finalize`` on long sessions.
MAX_AHC_POINTS = 300
#: Speakers ``finalize`` returns at most when the caller gives no ``max_speakers``.
FINAL_SPEAKER_CAP = 16


def normalise_rows(vectors: FloatArray) -> FloatArray:
    """Rows scaled to unit length (zero rows stay zero)."""
    return np.asarray(vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12), dtype=np.float64)


def session_centred(units: FloatArray) -> FloatArray:
    """Per-session normalisation: remove the session's mean unit vector and renormalise."""
    return normalise_rows(units - units.mean(axis=0, keepdims=True))


def centroids(units: FloatArray, labels: IntArray) -> dict[int, FloatArray]:
    """Unit mean direction per label."""
    out: dict[int, FloatArray] = {}
    for k in np.unique(labels):
        total = units[labels == k].sum(axis=0)
        norm = float(np.linalg.norm(total))
        out[int(k)] = total / norm if norm > 0 else total
    return out


def nearest(units: FloatArray, cents: dict[int, FloatArray]) -> IntArray:
    """Label of the most similar centroid for every row."""
    keys = np.array(sorted(cents), dtype=np.int64)
    mat = np.stack([cents[int(k)] for k in keys])
    return np.asarray(keys[np.argmax(units @ mat.T, axis=1)], dtype=np.int64)


def kmeans(units: FloatArray, labels: IntArray, iterations: int) -> IntArray:
    """Spherical k-means passes starting from ``labels`` (a speaker that loses all windows disappears)."""
    current = labels.copy()
    for _ in range(iterations):
        updated = nearest(units, centroids(units, current))
        if np.array_equal(updated, current):
            break
        current = updated
    return current


def fold_small(units: FloatArray, labels: IntArray, least: float) -> IntArray:
    """Re-assign the windows of speakers with fewer than ``least`` windows to the remaining speakers."""
    counts = {int(k): int(np.sum(labels == k)) for k in np.unique(labels)}
    keep = [k for k, n in counts.items() if n >= least]
    if not keep or len(keep) == len(counts):
        return labels
    cents = centroids(units, labels)
    return nearest(units, {k: cents[k] for k in keep})


def average_linkage(points: FloatArray, threshold: float, max_clusters: int) -> IntArray:
    """Average-linkage agglomerative clustering of unit rows by cosine similarity.

    Merges the most similar pair while its average similarity is at least ``threshold`` (or while more than
    ``max_clusters`` clusters remain). Returns one label per row.
    """
    n = points.shape[0]
    labels = np.arange(n, dtype=np.int64)
    if n < 2:
        return labels
    sims = points @ points.T
    np.fill_diagonal(sims, -np.inf)
    sizes = np.ones(n)
    active = n
    while active > 1:
        flat = int(np.argmax(sims))
        i, j = divmod(flat, n)
        if sims[i, j] < threshold and active <= max_clusters:
            break
        # Lance-Williams update for average linkage: the merged row is the size-weighted mean of the two rows.
        merged = (sizes[i] * sims[i] + sizes[j] * sims[j]) / (sizes[i] + sizes[j])
        sims[i], sims[:, i] = merged, merged
        sims[j], sims[:, j] = -np.inf, -np.inf
        sims[i, i] = -np.inf
        sizes[i] += sizes[j]
        labels[labels == j] = i
        active -= 1
    return labels


def pruned_laplacian_spectrum(points: FloatArray, keep_fraction: float) -> tuple[FloatArray, FloatArray]:
    """Eigenvalues (ascending) and eigenvectors of the normalised Laplacian of the rows' cosine affinity, each row
    keeping its strongest ``keep_fraction`` share (symmetrised, negatives cut)."""
    n = points.shape[0]
    affinity = points @ points.T
    keep = min(n, max(MIN_NEIGHBOURS, int(keep_fraction * n)))
    cut = np.sort(affinity, axis=1)[:, -keep][:, None]
    affinity = np.where(affinity >= cut, affinity, 0.0)
    affinity = np.maximum(0.5 * (affinity + affinity.T), 0.0)
    scale = 1.0 / np.sqrt(np.maximum(affinity.sum(axis=1), 1e-12))
    laplacian = np.eye(n) - scale[:, None] * affinity * scale[None, :]
    values, vectors = np.linalg.eigh(laplacian)
    return np.asarray(values, dtype=np.float64), np.asarray(vectors, dtype=np.float64)


def eigengap_count(values: FloatArray, max_clusters: int) -> int:
    """Speaker count from ascending Laplacian eigenvalues: 1 + argmax of the gaps among the smallest ones."""
    head = values[: max_clusters + 1]
    return int(np.argmax(np.diff(head))) + 1 if head.size >= 2 else 1


def spectral_labels(points: FloatArray, max_clusters: int) -> IntArray:
    """Spectral clustering of unit rows: eigengap count, then average linkage + k-means on the row-normalised
    spectral embedding (the count's first eigenvectors)."""
    if points.shape[0] < 3:
        return np.zeros(points.shape[0], dtype=np.int64)
    values, vectors = pruned_laplacian_spectrum(points, PRUNE_KEEP)
    count = eigengap_count(values, max_clusters)
    if count == 1:
        return np.zeros(points.shape[0], dtype=np.int64)
    embedded = normalise_rows(vectors[:, :count])
    return kmeans(embedded, average_linkage(embedded, 1.0, count), 30)


def recluster_session(
    units: FloatArray,
    threshold: float,
    *,
    max_speakers: int | None = None,
    min_cluster_windows: int = 3,
    min_cluster_fraction: float = 0.05,
    iterations: int = 5,
    centre: bool = True,
    max_points: int = MAX_AHC_POINTS,
    spectral: bool = False,
) -> IntArray:
    """Speaker label per window from the whole session's unit vectors (see the module docstring); ``spectral``
    clusters spectrally (eigengap count, ``threshold`` unused) instead of stopping average linkage at ``threshold``."""
    if not -1.0 <= threshold <= 1.0:
        raise DiarizationError(f"final_threshold: cosine similarity must be within [-1, 1], got {threshold}")
    count = units.shape[0]
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    space = session_centred(units) if centre and count > 1 else units
    cap = max_speakers if max_speakers is not None else FINAL_SPEAKER_CAP
    picked = np.unique(np.linspace(0, count - 1, min(count, max_points)).round().astype(np.int64))
    least = max(min_cluster_windows, min_cluster_fraction * count)
    if spectral:
        # The spectral labels of the clustered windows stand; the others join the nearest (session-centred) centroid.
        sample_labels = spectral_labels(units[picked], cap)
        labels = nearest(space, centroids(space[picked], sample_labels))
        labels[picked] = sample_labels
        return fold_small(space, labels, least)
    sample_labels = average_linkage(space[picked], threshold, cap)
    labels = kmeans(space, nearest(space, centroids(space[picked], sample_labels)), iterations)
    return kmeans(space, fold_small(space, labels, least), iterations)


def merge_by_cohesion(units: FloatArray, labels: IntArray, margin: float) -> IntArray:
    """Merge speakers that are one speaker split in two: their centroids are at least as similar as the windows of
    either are to their own centroid (scale-free, so it holds whatever similarity range the model produces)."""
    current = labels.copy()
    cents = centroids(units, current)
    while len(cents) > 1:
        keys = sorted(cents)
        mat = np.stack([cents[k] for k in keys])
        sims = mat @ mat.T
        np.fill_diagonal(sims, -np.inf)
        i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
        cohesion = [float(np.mean(units[current == keys[k]] @ cents[keys[k]])) for k in (i, j)]
        if sims[i, j] < min(cohesion) - margin:
            break
        a, b = keys[min(i, j)], keys[max(i, j)]
        current = np.where(current == b, a, current)
        cents = centroids(units, current)
    return current


def refine_cohesion(
    units: FloatArray,
    online: IntArray,
    *,
    min_cluster_windows: int = 3,
    min_cluster_fraction: float = 0.05,
    merge_margin: float = 0.0,
    refine_iterations: int = 2,
    session_centering: bool = True,
) -> IntArray:
    """The ``cohesion`` method: refine the online labels of the session's speech windows."""
    if units.shape[0] == 0:
        return online.copy()
    current = fold_small(units, online, max(min_cluster_windows, min_cluster_fraction * len(online)))
    current = merge_by_cohesion(units, current, merge_margin)
    current = kmeans(units, current, refine_iterations)
    if session_centering and len(np.unique(current)) > 1:
        # Re-assign in a space without what the session's speakers share (channel, the model's bias towards some
        # training speakers): subtracting the mean of the speaker centroids (each speaker weighted equally, so a
        # dominant speaker does not turn into noise) leaves the directions in which speakers differ.
        shared = np.mean(np.stack(list(centroids(units, current).values())), axis=0)
        centred = normalise_rows(units - shared)
        current = kmeans(centred, current, max(refine_iterations, 1) * 5)
        current = merge_by_cohesion(units, current, merge_margin)
    return current
