"""Online clustering of per-window speaker vectors into speakers never seen in training.

A vector is either the model's softmax over training speakers (``speaker_embeddings``) or its optional ``embedding``
output. Both are mapped to a unit vector first, then compared with cosine similarity against running-mean centroids:
a window joins the most similar speaker, or opens a new one when no centroid is similar enough.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from voiceflow_contract.diarization.errors import DiarizationError

FloatArray = npt.NDArray[np.float64]
Transform = Literal["auto", "log", "sqrt", "none"]

#: log(softmax) recovers the centred logits; the floor only guards float32 underflow (p == 0) from -inf.
PROB_FLOOR = 1e-20


def looks_like_probabilities(vector: FloatArray) -> bool:
    """True when ``vector`` is non-negative and sums to 1 (a softmax output)."""
    return bool(vector.size > 0 and np.all(vector >= -1e-6) and abs(float(vector.sum()) - 1.0) < 1e-3)


def to_unit_vector(vector: npt.ArrayLike, transform: Transform = "auto") -> FloatArray:
    """Map a window vector to the unit sphere on which speakers are compared.

    ``log``: centred log-probabilities (softmax probabilities -> logits up to a constant, floored at ``PROB_FLOOR``);
    ``sqrt``: square-root probabilities (cosine = Bhattacharyya coefficient); ``none``: the vector itself (embeddings,
    centred by nothing). ``auto`` picks ``log`` for probability vectors and ``none`` otherwise.
    """
    vec = np.asarray(vector, dtype=np.float64).reshape(-1)
    if vec.size == 0:
        raise DiarizationError("vector: is empty")
    if not np.all(np.isfinite(vec)):
        raise DiarizationError("vector: contains NaN or infinite values")
    mode = transform
    if mode == "auto":
        mode = "log" if looks_like_probabilities(vec) else "none"
    if mode == "log":
        out = np.log(np.clip(vec, PROB_FLOOR, None))
        out = out - out.mean()
    elif mode == "sqrt":
        out = np.sqrt(np.clip(vec, 0.0, None))
    elif mode == "none":
        out = vec.copy()
    else:
        raise DiarizationError(f"transform: must be one of auto, log, sqrt, none; got {transform!r}")
    norm = float(np.linalg.norm(out))
    if norm < 1e-12:
        # A uniform softmax carries no identity; keep it as a fixed direction so it still clusters deterministically.
        out = np.ones_like(out)
        norm = float(np.linalg.norm(out))
    return np.asarray(out / norm, dtype=np.float64)


#: Speakers the online pass opens at most when the caller sets no ``max_speakers``: each window is compared with every
#: centroid, so the cap bounds the per-window cost (and memory) however long the session runs. Beyond it a window joins
#: the closest speaker; ``finalize`` re-clusters the whole session anyway.
ONLINE_SPEAKER_CAP = 32


@dataclass
class Cluster:
    """One speaker: running sum of unit vectors (the centroid direction) and how many windows joined."""

    index: int
    total: FloatArray
    count: int = 1

    @property
    def centroid(self) -> FloatArray:
        """Unit-length mean direction of the cluster's windows."""
        norm = float(np.linalg.norm(self.total))
        return self.total / norm if norm > 0 else self.total


@dataclass
class OnlineClusterer:
    """Leader-follower clustering with running-mean centroids.

    ``threshold`` is the cosine similarity below which a window starts a new speaker (unless ``max_speakers``, or
    ``ONLINE_SPEAKER_CAP`` when it is None, is reached, in which case it joins the closest one). Cluster indices are
    assigned in order of appearance. The unit centroids are kept in one matrix updated in place, so a window costs
    O(speakers x dim) whatever the session length.
    """

    threshold: float = 0.5
    max_speakers: int | None = None
    transform: Transform = "auto"
    clusters: list[Cluster] = field(default_factory=list)
    dim: int | None = None
    _matrix: FloatArray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise DiarizationError(f"threshold: cosine similarity must be within [-1, 1], got {self.threshold}")
        if self.max_speakers is not None and self.max_speakers < 1:
            raise DiarizationError(f"max_speakers: must be >= 1 or None, got {self.max_speakers}")

    @property
    def speaker_cap(self) -> int:
        """Most speakers the online pass opens."""
        return self.max_speakers if self.max_speakers is not None else ONLINE_SPEAKER_CAP

    def prepare(self, vector: npt.ArrayLike) -> FloatArray:
        """Validate ``vector`` (same length as earlier ones) and map it to a unit vector."""
        unit = to_unit_vector(vector, self.transform)
        if self.dim is None:
            self.dim = unit.size
        elif unit.size != self.dim:
            raise DiarizationError(f"vector: expected length {self.dim} like the earlier windows, got {unit.size}")
        return unit

    def similarities(self, unit: FloatArray) -> FloatArray:
        """Cosine similarity of a unit vector to every centroid (empty when no speaker exists yet)."""
        if self._matrix is None or not self.clusters:
            return np.zeros(0)
        return np.asarray(self._matrix[: len(self.clusters)] @ unit, dtype=np.float64)

    def assign(self, vector: npt.ArrayLike) -> int:
        """Assign one window vector to a speaker index, creating a speaker if needed, and update its centroid."""
        return self.assign_unit(self.prepare(vector))

    def assign_unit(self, unit: FloatArray, sims: FloatArray | None = None) -> int:
        """``assign`` for a vector already passed through :meth:`prepare` (``sims``: its :meth:`similarities`)."""
        if sims is None:
            sims = self.similarities(unit)
        full = len(self.clusters) >= self.speaker_cap
        if sims.size and (float(sims.max()) >= self.threshold or full):
            best = int(np.argmax(sims))
            cluster = self.clusters[best]
            cluster.total = cluster.total + unit
            cluster.count += 1
            assert self._matrix is not None
            self._matrix[best] = cluster.centroid
            return best
        if self._matrix is None:
            self._matrix = np.zeros((self.speaker_cap, unit.size))
        self._matrix[len(self.clusters)] = unit
        self.clusters.append(Cluster(index=len(self.clusters), total=unit.copy()))
        return len(self.clusters) - 1

    @property
    def num_speakers(self) -> int:
        """Number of speakers opened so far."""
        return len(self.clusters)
