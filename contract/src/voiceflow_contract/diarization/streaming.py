"""Streaming diarization: per-window speaker vectors in, speaker turns out.

Windows (typically 1 s every 0.5 s) arrive in time order with the model's vector and a VAD flag. ``push`` decides a
speaker for each window at once (online clustering, bounded cost per window); ``finalize`` re-clusters the whole
session (``recluster``: the ``ahc`` or ``cohesion`` method), mode-filters the label sequence and turns windows into
turns (``regions``): each window owns the hop-sized region around its centre, adjacent same-speaker regions merge, and
segments shorter than ``min_segment_s`` are absorbed by a neighbour or dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voiceflow_contract.diarization.boundaries import BOUNDARIES, Boundary, margin_cuts
from voiceflow_contract.diarization.errors import DiarizationError
from voiceflow_contract.diarization.online import OnlineClusterer, Transform
from voiceflow_contract.diarization.recluster import METHODS, Method, recluster_session, refine_cohesion
from voiceflow_contract.diarization.regions import (
    TIME_EPS,
    Window,
    absorb_short,
    labelled_regions,
    merge_regions,
    mode_filter,
    speech_spans,
    trim_to_activity,
)

FloatArray = npt.NDArray[np.float64]

#: Cosine similarity below which a window opens a new speaker online. Deliberately high: over-splitting is undone in
#: ``finalize``, a missed speaker is not.
DEFAULT_THRESHOLD = 0.8
#: The final pass when the model's metadata names none (models calibrated before ``method`` existed used it).
DEFAULT_METHOD: Method = "cohesion"
#: Average-linkage stop (cosine similarity between session-centred clusters) when the model's metadata names none.
DEFAULT_FINAL_THRESHOLD = 0.0


@dataclass(frozen=True, order=True)
class Segment:
    """One speaker turn, in seconds from the start of the stream."""

    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        """Length of the turn in seconds."""
        return self.end - self.start


@dataclass(frozen=True)
class WindowDecision:
    """The immediate (online) decision for one pushed window; ``speaker`` is None for non-speech."""

    start: float
    end: float
    speaker: str | None
    similarity: float | None = None


def speaker_name(index: int) -> str:
    """Speaker label for the ``index``-th speaker in order of appearance."""
    return f"spk{index}"


class StreamingDiarizer:
    """Online speaker diarization over overlapping windows (see the module docstring for the algorithm).

    Args:
        window_s: nominal window length in seconds (used to check pushed windows).
        hop_s: nominal hop between window starts in seconds.
        threshold: cosine similarity below which a window opens a new speaker.
        max_speakers: cap on the number of speakers (None = unlimited).
        min_segment_s: turns shorter than this are merged into a neighbour or dropped.
        smoothing: width (in windows, odd) of the mode filter applied to speech labels in ``finalize``; 1 disables it.
        min_cluster_windows: speakers with fewer windows are folded into the closest other speaker in ``finalize``.
        min_cluster_fraction: likewise for speakers with less than this fraction of the session's speech windows.
        transform: how vectors map to the comparison space (see ``to_unit_vector``).
        refine_iterations: re-assignment passes of all windows to the final centroids in ``finalize``.
        session_centering: once two or more speakers exist, ``finalize`` re-assigns windows in a space where the
            session's mean vector is removed.
        merge_margin: ``finalize`` merges two speakers when their centroids' similarity is at least the mean
            similarity of either speaker's windows to its own centroid minus this margin.
        frame_s: frame period of the optional per-window ``activity`` masks given to ``push``.
        min_silence_s: with activity masks, pauses at least this long split a turn (shorter ones are bridged).
        min_speech_s: with activity masks, speech bursts shorter than this are ignored.
        method: the final pass (``recluster``): ``ahc`` (threshold) or ``spectral`` (eigengap count) re-cluster the
            whole session from scratch (any embedding), ``cohesion`` refines the online labels (fast-cnn's original).
        final_threshold: ``ahc`` stops merging below this cosine similarity between session-centred clusters.
        boundary: where ``finalize`` puts a speaker change between two windows (``boundaries``): ``midpoint``
            half-way between their centres, ``margin`` where their similarity margin to the two speakers crosses zero.
    """

    def __init__(
        self,
        window_s: float = 1.0,
        hop_s: float = 0.5,
        threshold: float = DEFAULT_THRESHOLD,
        max_speakers: int | None = None,
        min_segment_s: float = 0.5,
        *,
        smoothing: int = 3,
        min_cluster_windows: int = 3,
        min_cluster_fraction: float = 0.05,
        transform: Transform = "auto",
        refine_iterations: int = 2,
        merge_margin: float = 0.0,
        session_centering: bool = True,
        frame_s: float = 0.02,
        min_silence_s: float = 0.3,
        min_speech_s: float = 0.1,
        method: Method = DEFAULT_METHOD,
        final_threshold: float = DEFAULT_FINAL_THRESHOLD,
        boundary: Boundary = "midpoint",
    ) -> None:
        if window_s <= 0:
            raise DiarizationError(f"window_s: must be positive, got {window_s}")
        if hop_s <= 0 or hop_s > window_s:
            raise DiarizationError(f"hop_s: must be in (0, window_s={window_s}], got {hop_s}")
        if min_segment_s < 0:
            raise DiarizationError(f"min_segment_s: must be >= 0, got {min_segment_s}")
        if smoothing < 1 or smoothing % 2 == 0:
            raise DiarizationError(f"smoothing: must be a positive odd number of windows, got {smoothing}")
        if min_cluster_windows < 1:
            raise DiarizationError(f"min_cluster_windows: must be >= 1, got {min_cluster_windows}")
        if refine_iterations < 0:
            raise DiarizationError(f"refine_iterations: must be >= 0, got {refine_iterations}")
        if frame_s <= 0 or min_silence_s < 0 or min_speech_s < 0:
            raise DiarizationError(
                f"frame_s/min_silence_s/min_speech_s: need frame_s > 0 and the others >= 0, got "
                f"{frame_s}, {min_silence_s}, {min_speech_s}"
            )
        self.merge_margin = float(merge_margin)
        self.session_centering = session_centering
        self.frame_s = float(frame_s)
        self.min_silence_s = float(min_silence_s)
        self.min_speech_s = float(min_speech_s)
        self.window_s = float(window_s)
        self.hop_s = float(hop_s)
        self.min_segment_s = float(min_segment_s)
        self.smoothing = smoothing
        self.min_cluster_windows = min_cluster_windows
        if not 0.0 <= min_cluster_fraction < 1.0:
            raise DiarizationError(f"min_cluster_fraction: must be within [0, 1), got {min_cluster_fraction}")
        self.min_cluster_fraction = float(min_cluster_fraction)
        self.refine_iterations = refine_iterations
        if method not in METHODS:
            raise DiarizationError(f"method: must be one of {', '.join(METHODS)}; got {method!r}")
        if not -1.0 <= final_threshold <= 1.0:
            raise DiarizationError(f"final_threshold: cosine similarity must be within [-1, 1], got {final_threshold}")
        self.method: Method = method
        if boundary not in BOUNDARIES:
            raise DiarizationError(f"boundary: must be one of {', '.join(BOUNDARIES)}; got {boundary!r}")
        self.boundary: Boundary = boundary
        self.final_threshold = float(final_threshold)
        self.clusterer = OnlineClusterer(threshold=threshold, max_speakers=max_speakers, transform=transform)
        self._windows: list[Window] = []

    @property
    def threshold(self) -> float:
        """Cosine-similarity threshold for opening a new speaker."""
        return self.clusterer.threshold

    @property
    def num_windows(self) -> int:
        """Windows pushed so far."""
        return len(self._windows)

    def push(
        self,
        start_s: float,
        end_s: float,
        vector: npt.ArrayLike | None,
        speech: bool = True,
        *,
        activity: npt.ArrayLike | None = None,
    ) -> WindowDecision:
        """Add the next window (in time order) and return the online decision for it.

        ``vector`` may be None for non-speech windows (the model need not run on silence); a speech window needs one.
        ``activity`` (optional) is the window's frame-level speech mask (``speech_frames(window, sr)``: one bool per
        ``frame_s`` from ``start_s``); with it, ``finalize`` trims turns to where speech actually is, which removes
        the pauses a 1 s window cannot resolve.
        """
        start, end = float(start_s), float(end_s)
        if not (np.isfinite(start) and np.isfinite(end)) or start < 0:
            raise DiarizationError(f"start_s/end_s: must be finite and start_s >= 0, got {start_s}, {end_s}")
        if end <= start:
            raise DiarizationError(f"end_s: must be greater than start_s ({start}), got {end}")
        if end - start > self.window_s + TIME_EPS:
            raise DiarizationError(f"end_s: window {start}-{end} is longer than window_s={self.window_s}")
        if self._windows and start < self._windows[-1].start + TIME_EPS:
            raise DiarizationError(
                f"start_s: windows must be pushed in increasing start order; got {start} after "
                f"{self._windows[-1].start}"
            )
        if speech and vector is None:
            raise DiarizationError("vector: a speech window needs the model's vector (got None)")
        mask = None
        if activity is not None:
            mask = np.asarray(activity, dtype=bool).reshape(-1)
            if mask.size == 0:
                raise DiarizationError("activity: is empty (expected one bool per frame_s of the window)")
        if not speech:
            self._windows.append(Window(start, end, False, None, -1, mask))
            return WindowDecision(start, end, None)
        unit = self.clusterer.prepare(np.asarray(vector, dtype=np.float64))
        sims = self.clusterer.similarities(unit)
        label = self.clusterer.assign_unit(unit, sims)
        similarity = float(sims[label]) if label < sims.size else (float(sims.max()) if sims.size else None)
        self._windows.append(Window(start, end, True, unit.astype(np.float32), label, mask))
        return WindowDecision(start, end, speaker_name(label), similarity)

    # --- finalize -------------------------------------------------------------------------------------------------

    def _final_labels(self) -> npt.NDArray[np.int64]:
        labels = np.array([w.label for w in self._windows], dtype=np.int64)
        speech_idx = np.flatnonzero(labels >= 0)
        if speech_idx.size == 0:
            return labels
        units = np.stack([u for i in speech_idx if (u := self._windows[i].unit) is not None]).astype(np.float64)
        if self.method in ("ahc", "spectral"):
            labels[speech_idx] = recluster_session(
                units,
                self.final_threshold,
                max_speakers=self.clusterer.max_speakers,
                min_cluster_windows=self.min_cluster_windows,
                min_cluster_fraction=self.min_cluster_fraction,
                iterations=max(self.refine_iterations, 1) * 5,
                spectral=self.method == "spectral",
            )
        else:
            labels[speech_idx] = refine_cohesion(
                units,
                labels[speech_idx],
                min_cluster_windows=self.min_cluster_windows,
                min_cluster_fraction=self.min_cluster_fraction,
                merge_margin=self.merge_margin,
                refine_iterations=self.refine_iterations,
                session_centering=self.session_centering,
            )
        return labels

    def finalize(self) -> list[Segment]:
        """Speaker turns for everything pushed so far, sorted by start; speakers named spk0, spk1... by appearance.

        Can be called more than once (e.g. periodically in a long stream); pushing may continue afterwards.
        """
        if not self._windows:
            return []
        labels = mode_filter(self._final_labels(), self.smoothing)
        cuts = margin_cuts(self._windows, labels) if self.boundary == "margin" else None
        merged = merge_regions(labelled_regions(self._windows, labels, cuts))
        merged = absorb_short(merged, self.min_segment_s)
        spans = speech_spans(self._windows, self.frame_s, self.min_silence_s, self.min_speech_s)
        merged = trim_to_activity(merged, spans, min(self.min_speech_s, self.min_segment_s))
        names: dict[int, str] = {}
        segments: list[Segment] = []
        for start, end, label in merged:
            if label < 0:
                continue
            if label not in names:
                names[label] = speaker_name(len(names))
            segments.append(Segment(round(start, 6), round(end, 6), names[label]))
        return segments


def diarize_windows(
    starts: Sequence[float] | npt.ArrayLike,
    vectors: Sequence[npt.ArrayLike | None] | FloatArray | npt.NDArray[np.float32],
    speech_flags: Sequence[bool] | npt.ArrayLike | None = None,
    window_s: float = 1.0,
    hop_s: float = 0.5,
    *,
    ends: Sequence[float] | npt.ArrayLike | None = None,
    activities: Sequence[npt.ArrayLike | None] | None = None,
    **options: object,
) -> list[Segment]:
    """Run :class:`StreamingDiarizer` offline over all windows and return its final turns.

    ``vectors`` is one vector per window (a [N, D] array or a list, None allowed for non-speech); ``speech_flags``
    defaults to all True; ``ends`` defaults to ``start + window_s``; ``activities`` are optional frame-level speech
    masks per window (see ``StreamingDiarizer.push``). ``options`` go to ``StreamingDiarizer``.
    """
    start_list = [float(s) for s in np.asarray(starts, dtype=np.float64).reshape(-1)]
    vector_list: list[npt.ArrayLike | None] = list(vectors)
    if len(vector_list) != len(start_list):
        raise DiarizationError(f"vectors: expected {len(start_list)} (one per start), got {len(vector_list)}")
    flags = [True] * len(start_list)
    if speech_flags is not None:
        flags = [bool(f) for f in np.asarray(speech_flags).reshape(-1)]
    if len(flags) != len(start_list):
        raise DiarizationError(f"speech_flags: expected {len(start_list)} (one per start), got {len(flags)}")
    end_list = (
        [s + window_s for s in start_list]
        if ends is None
        else [float(e) for e in np.asarray(ends, dtype=np.float64).reshape(-1)]
    )
    if len(end_list) != len(start_list):
        raise DiarizationError(f"ends: expected {len(start_list)} (one per start), got {len(end_list)}")
    activity_list: list[npt.ArrayLike | None] = [None] * len(start_list)
    if activities is not None:
        activity_list = list(activities)
        if len(activity_list) != len(start_list):
            raise DiarizationError(f"activities: expected {len(start_list)} (one per start), got {len(activity_list)}")
    diarizer = StreamingDiarizer(window_s, hop_s, **options)  # type: ignore[arg-type]
    for start, end, vector, speech, act in zip(start_list, end_list, vector_list, flags, activity_list, strict=True):
        diarizer.push(start, end, vector, speech and vector is not None, activity=act)
    return diarizer.finalize()
