"""Whole-session re-clustering (finalize's ahc / spectral passes) and the bounded online pass."""

from __future__ import annotations

import numpy as np
import pytest

from voiceflow_contract.diarization import DiarizationError, OnlineClusterer, StreamingDiarizer, recluster_session
from voiceflow_contract.diarization.online import ONLINE_SPEAKER_CAP
from voiceflow_contract.diarization.recluster import (
    MAX_AHC_POINTS,
    average_linkage,
    eigengap_count,
    pruned_laplacian_spectrum,
    session_centred,
)


def _embedding_session(n_speakers: int, windows_per_turn: int = 12, turns: int = 8, dim: int = 64, seed: int = 0):
    """Unit vectors of an encoder whose speakers share a strong common direction (what defeats raw cosine): each
    window = shared + speaker + noise. Returns (units [N, dim], true labels [N])."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 1, dim) * 3.0
    protos = rng.normal(0, 1, (n_speakers, dim))
    labels = np.concatenate([np.full(windows_per_turn, t % n_speakers) for t in range(turns)])
    vectors = shared + protos[labels] + rng.normal(0, 0.7, (labels.size, dim))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), labels


def _agreement(found: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of windows whose found cluster's majority true label matches theirs."""
    hits = 0
    for k in np.unique(found):
        hits += np.bincount(truth[found == k]).max()
    return hits / truth.size


@pytest.mark.parametrize("n_speakers", [2, 3, 4])
@pytest.mark.parametrize("spectral", [False, True])
def test_recluster_finds_the_speakers_without_the_count(n_speakers: int, spectral: bool) -> None:
    units, truth = _embedding_session(n_speakers, seed=n_speakers)
    # Raw cosine between any two windows is high (the shared direction): the online threshold would merge them all.
    assert float(np.min(units @ units.T)) > 0.5
    found = recluster_session(units, 0.0, spectral=spectral)
    assert len(np.unique(found)) == n_speakers
    assert _agreement(found, truth) >= 0.95


def test_spectral_keeps_one_speaker_one() -> None:
    # Centring a one-speaker session leaves only noise, which average linkage at a threshold near 0 splits (why the
    # spectral pass, whose eigengap sees one connected affinity graph, is the one calibrated for embeddings).
    units, _ = _embedding_session(1, seed=3)
    assert len(np.unique(recluster_session(units, 0.0, spectral=True))) == 1


def test_recluster_respects_the_speaker_cap_and_validates() -> None:
    units, _ = _embedding_session(4, seed=1)
    assert len(np.unique(recluster_session(units, 0.0, max_speakers=2))) <= 2
    with pytest.raises(DiarizationError, match="final_threshold"):
        recluster_session(units, 1.5)
    assert recluster_session(np.zeros((0, 8)), 0.0).size == 0


def test_recluster_caps_the_clustered_windows() -> None:
    # A long session: only MAX_AHC_POINTS windows are clustered, the rest join the nearest centroid.
    units, truth = _embedding_session(2, windows_per_turn=60, turns=12, seed=4)
    assert units.shape[0] > MAX_AHC_POINTS
    found = recluster_session(units, 0.0, spectral=True)
    assert found.shape == truth.shape and _agreement(found, truth) >= 0.95


def test_average_linkage_and_eigengap_building_blocks() -> None:
    units, _ = _embedding_session(3, seed=5)
    centred = session_centred(units)
    assert np.allclose(np.linalg.norm(centred, axis=1), 1.0)
    labels = average_linkage(centred, 0.0, 16)
    assert len(np.unique(labels)) == 3
    values, _ = pruned_laplacian_spectrum(units, 0.3)
    assert eigengap_count(values, 8) == 3


def test_streaming_diarizer_final_pass_corrects_the_online_pass() -> None:
    units, _ = _embedding_session(2, seed=6)
    windows = {}
    for method in ("cohesion", "spectral", "ahc"):
        d = StreamingDiarizer(method=method)  # type: ignore[arg-type]
        for i, u in enumerate(units):
            d.push(i * 0.5, i * 0.5 + 1.0, u)
        windows[method] = {s.speaker for s in d.finalize()}
        # The online labels (window messages) are what they were; only finalize changes.
        assert d.clusterer.num_speakers >= 1
    assert windows["cohesion"] == {"spk0"}  # the shared direction collapses today's pass
    assert windows["spectral"] == {"spk0", "spk1"}
    assert windows["ahc"] == {"spk0", "spk1"}
    with pytest.raises(DiarizationError, match="method"):
        StreamingDiarizer(method="kmeans")  # type: ignore[arg-type]
    with pytest.raises(DiarizationError, match="final_threshold"):
        StreamingDiarizer(final_threshold=-2.0)


def test_online_pass_is_bounded_per_window() -> None:
    # threshold 1.0 opens a speaker per window; the cap keeps the centroid matrix (the per-window work) bounded.
    clusterer = OnlineClusterer(threshold=1.0)
    rng = np.random.default_rng(0)
    for _ in range(3 * ONLINE_SPEAKER_CAP):
        clusterer.assign(rng.normal(0, 1, 16))
    assert clusterer.num_speakers == ONLINE_SPEAKER_CAP
    assert clusterer.similarities(clusterer.prepare(rng.normal(0, 1, 16))).shape == (ONLINE_SPEAKER_CAP,)
    capped = OnlineClusterer(threshold=1.0, max_speakers=3)
    for _ in range(10):
        capped.assign(rng.normal(0, 1, 16))
    assert capped.num_speakers == 3
    # The matrix rows are the clusters' unit centroids.
    for index, cluster in enumerate(capped.clusters):
        assert np.allclose(capped.similarities(cluster.centroid)[index], 1.0)
