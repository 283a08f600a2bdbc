"""Online diarization: VAD, clustering, turns, RTTM, streaming == offline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from voiceflow_contract.diarization import (
    DiarizationError,
    OnlineClusterer,
    Segment,
    StreamingDiarizer,
    diarize_audio,
    diarize_windows,
    frame_audio,
    is_speech,
    parse_rttm,
    to_rttm,
    to_unit_vector,
)

SR = 48000


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _turn_script() -> list[tuple[float, float, str | None]]:
    # (start, end, true speaker) — None is silence.
    return [(0.0, 10.0, "A"), (10.0, 20.0, "B"), (20.0, 28.0, "A"), (28.0, 31.0, None), (31.0, 40.0, "B")]


def _windows(kind: str = "prob", seed: int = 0, n_speakers: int = 2, dim: int = 32):
    """Window starts, vectors and speech flags for the turn script; the vector of a window is drawn from the
    speaker covering most of it (windows straddling a change mix both prototypes)."""
    rng = np.random.default_rng(seed)
    protos = {name: rng.normal(0, 2.5, dim) for name in "ABCDEFG"[:n_speakers]}
    starts = np.arange(0.0, 39.0 + 1e-9, 0.5)
    vectors, flags = [], []
    script = _turn_script()
    for s in starts:
        weights: dict[str, float] = {}
        for a, b, who in script:
            ov = max(0.0, min(b, s + 1.0) - max(a, s))
            if who is not None and ov > 0:
                weights[who] = weights.get(who, 0.0) + ov
        if not weights:
            vectors.append(None)
            flags.append(False)
            continue
        total = sum(weights.values())
        mix = sum(w / total * protos[k] for k, w in weights.items())
        logits = mix + rng.normal(0, 0.8, dim)
        vectors.append(_softmax(logits) if kind == "prob" else logits)
        flags.append(True)
    return starts, vectors, flags


def _overlap(a: Segment, start: float, end: float) -> float:
    return max(0.0, min(a.end, end) - max(a.start, start))


@pytest.mark.parametrize("kind", ["prob", "embedding"])
def test_two_speakers_give_correct_turns(kind):
    starts, vectors, flags = _windows(kind)
    segs = diarize_windows(starts, vectors, flags, 1.0, 0.5, threshold=0.3)
    speakers = sorted({s.speaker for s in segs})
    assert speakers == ["spk0", "spk1"]
    # Map each true turn to the speaker covering it most; A -> spk0 (appears first), B -> spk1.
    expected = {"A": "spk0", "B": "spk1"}
    covered = 0.0
    total = 0.0
    for a, b, who in _turn_script():
        if who is None:
            assert sum(_overlap(s, a + 0.5, b - 0.5) for s in segs) == 0.0, "silence got a speaker"
            continue
        total += b - a
        covered += sum(_overlap(s, a, b) for s in segs if s.speaker == expected[who])
    assert covered / total > 0.95
    # Turn boundaries land within one hop of the truth.
    changes = [s.start for s in segs[1:]]
    for truth in (10.0, 20.0, 31.0):
        assert min(abs(c - truth) for c in changes) <= 0.5


def test_streaming_equals_offline_and_online_decisions():
    starts, vectors, flags = _windows("prob", seed=3)
    diarizer = StreamingDiarizer(window_s=1.0, hop_s=0.5, threshold=0.3)
    decisions = [diarizer.push(s, s + 1.0, v, f) for s, v, f in zip(starts, vectors, flags, strict=True)]
    assert decisions[0].speaker == "spk0"
    assert decisions[int(12.0 / 0.5)].speaker == "spk1"  # well inside B's first turn
    assert all(d.speaker is None for d, f in zip(decisions, flags, strict=True) if not f)
    streamed = diarizer.finalize()
    offline = diarize_windows(starts, vectors, flags, 1.0, 0.5, threshold=0.3)
    assert streamed == offline
    assert all(b.start >= a.end - 1e-9 for a, b in itertools.pairwise(streamed))


def test_max_speakers_caps_speakers():
    starts, vectors, flags = _windows("prob", seed=5, n_speakers=2)
    # A threshold of 1.0 would open a speaker per window; the cap keeps 2.
    segs = diarize_windows(starts, vectors, flags, 1.0, 0.5, threshold=0.999, max_speakers=2)
    assert {s.speaker for s in segs} <= {"spk0", "spk1"}
    uncapped = StreamingDiarizer(threshold=0.999, min_cluster_windows=1)
    for s, v, f in zip(starts, vectors, flags, strict=True):
        uncapped.push(s, s + 1.0, v, f)
    assert uncapped.clusterer.num_speakers > 2


def test_silence_only_gives_no_segments():
    d = StreamingDiarizer()
    for i in range(10):
        assert d.push(i * 0.5, i * 0.5 + 1.0, None, False).speaker is None
    assert d.finalize() == []
    assert StreamingDiarizer().finalize() == []


def test_short_segments_are_absorbed():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 3, 16), rng.normal(0, 3, 16)
    starts = np.arange(0, 20, 0.5)
    vecs = [a + rng.normal(0, 0.3, 16) for _ in starts]
    vecs[15] = b  # one odd window
    segs = diarize_windows(
        starts, vecs, None, threshold=0.5, smoothing=1, min_cluster_windows=1, min_cluster_fraction=0
    )
    # The one-window speaker would give a 0.5 s turn; min_segment_s=0.5 keeps it, 0.6 absorbs it.
    assert len({s.speaker for s in segs}) == 2
    segs = diarize_windows(
        starts, vecs, None, threshold=0.5, smoothing=1, min_cluster_windows=1, min_cluster_fraction=0, min_segment_s=0.6
    )
    assert [(s.start, s.end, s.speaker) for s in segs] == [(0.0, 20.5, "spk0")]


def test_push_validation_errors():
    d = StreamingDiarizer()
    d.push(1.0, 2.0, np.ones(4) / 4, True)
    with pytest.raises(DiarizationError, match="start_s"):
        d.push(0.5, 1.5, np.ones(4) / 4, True)
    with pytest.raises(DiarizationError, match="vector: expected length 4"):
        d.push(1.5, 2.5, np.ones(5) / 5, True)
    with pytest.raises(DiarizationError, match="vector: a speech window"):
        d.push(2.0, 3.0, None, True)
    with pytest.raises(DiarizationError, match="end_s"):
        d.push(3.0, 2.0, np.ones(4) / 4, True)
    with pytest.raises(DiarizationError, match="NaN"):
        d.push(4.0, 5.0, np.array([np.nan, 1, 0, 0]), True)
    with pytest.raises(DiarizationError, match="hop_s"):
        StreamingDiarizer(window_s=1.0, hop_s=2.0)
    with pytest.raises(DiarizationError, match="smoothing"):
        StreamingDiarizer(smoothing=2)


def test_unit_vectors_and_clusterer():
    p = np.array([0.7, 0.2, 0.1])
    assert np.isclose(np.linalg.norm(to_unit_vector(p)), 1.0)
    assert np.allclose(to_unit_vector(p, "sqrt") @ to_unit_vector(p, "sqrt"), 1.0)
    uniform = to_unit_vector(np.ones(4) / 4)
    assert np.isclose(np.linalg.norm(uniform), 1.0)
    c = OnlineClusterer(threshold=0.8)
    assert c.assign([1.0, 0.0]) == 0
    assert c.assign([0.9, 0.1]) == 0
    assert c.assign([0.0, 1.0]) == 1
    assert c.clusters[0].count == 2
    with pytest.raises(DiarizationError, match="transform"):
        to_unit_vector(p, "bogus")  # type: ignore[arg-type]


def test_rttm_round_trip():
    segs = [Segment(0.0, 1.25, "spk0"), Segment(1.25, 3.5, "spk1"), Segment(4.0, 5.0, "spk0")]
    text = to_rttm(segs, "conv_001")
    assert text.splitlines()[1] == "SPEAKER conv_001 1 1.250 2.250 <NA> <NA> spk1 <NA> <NA>"
    parsed = parse_rttm(text + "\n;; comment\nSPKR-INFO conv_001 1 <NA> <NA> <NA> unknown spk0 <NA> <NA>\n")
    assert parsed == {"conv_001": segs}
    assert to_rttm([], "x") == ""
    with pytest.raises(DiarizationError, match="uri"):
        to_rttm(segs, "has space")
    with pytest.raises(DiarizationError, match="line 2"):
        parse_rttm("SPEAKER a 1 0.0 1.0 <NA> <NA> s <NA> <NA>\nSPEAKER a 1 zero 1.0 <NA> <NA> s <NA> <NA>\n")


def _speechlike(duration_s: float, level_db: float, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * SR)) / SR
    harmonics = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 25))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2  # syllable-rate amplitude modulation
    x = harmonics * envelope
    return x / np.sqrt(np.mean(x**2)) * 10 ** (level_db / 20)


def test_vad():
    rng = np.random.default_rng(0)
    assert not is_speech(np.zeros(SR), SR)
    assert not is_speech(np.full(SR, 0.3), SR), "pure DC is not speech"
    assert not is_speech(rng.normal(0, 10 ** (-60 / 20), SR), SR), "low noise"
    assert not is_speech(rng.normal(0, 0.1, SR), SR), "loud white noise is flat"
    assert is_speech(_speechlike(1.0, -20), SR)
    assert is_speech(_speechlike(1.0, -32) + 0.2, SR), "quiet speech on a DC offset"
    noisy = _speechlike(1.0, -20) + rng.normal(0, 10 ** (-45 / 20), SR)
    assert is_speech(noisy, SR)
    half = np.concatenate([np.zeros(SR // 2), _speechlike(0.5, -25)])
    assert is_speech(half, SR)
    with pytest.raises(DiarizationError, match="window"):
        is_speech(np.zeros((2, 100)), SR)


def test_frame_audio_pads_last_window():
    audio = np.arange(int(2.2 * 100), dtype=np.float32)
    starts, ends, windows = frame_audio(audio, 100, 1.0, 0.5)
    assert list(starts) == [0.0, 0.5, 1.0, 1.5]
    assert ends[-1] == pytest.approx(2.2)
    assert windows.shape == (4, 100)
    assert windows[-1, 70:].sum() == 0 and windows[-1, 0] == 150


def test_activity_masks_cut_pauses_inside_turns():
    rng = np.random.default_rng(2)
    proto = rng.normal(0, 3, 16)
    starts = np.arange(0.0, 9.01, 0.5)
    frames = 50  # 1 s windows, 20 ms frames
    silence = (4.0, 4.6)  # a 0.6 s pause the 1 s windows cannot resolve on their own
    activities = []
    for s in starts:
        t = s + (np.arange(frames) + 0.5) * 0.02
        activities.append(~((t >= silence[0]) & (t < silence[1])))
    vecs = [proto + rng.normal(0, 0.2, 16) for _ in starts]
    plain = diarize_windows(starts, vecs, None)
    assert len(plain) == 1
    trimmed = diarize_windows(starts, vecs, None, activities=activities)
    assert [s.speaker for s in trimmed] == ["spk0", "spk0"]
    assert trimmed[0].end == pytest.approx(4.0, abs=0.021) and trimmed[1].start == pytest.approx(4.6, abs=0.021)
    # Pauses shorter than min_silence_s are bridged.
    bridged = diarize_windows(starts, vecs, None, activities=activities, min_silence_s=0.8)
    assert len(bridged) == 1
    with pytest.raises(DiarizationError, match="activities"):
        diarize_windows(starts, vecs, None, activities=activities[:-1])


def _voice(f0: float, seconds: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) * np.exp(-k * f0 / 1500) for k in range(1, 30))
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2)
    return 0.05 * x / np.sqrt(np.mean(x**2))


def _band_embedding(windows: np.ndarray) -> np.ndarray:
    """A non-learned 'model': log energy in 32 bands between 80 Hz and 4 kHz."""
    spec = np.abs(np.fft.rfft(windows, axis=1)) ** 2
    edges = np.geomspace(80, 4000, 33) * windows.shape[1] / SR
    bands = np.stack([spec[:, int(a) : int(b) + 1].sum(axis=1) for a, b in itertools.pairwise(edges)], 1)
    logs = np.log(bands + 1e-9)
    return logs - logs.mean(axis=1, keepdims=True)


def test_diarize_audio_end_to_end():
    audio = np.concatenate(
        [_voice(110, 5.0, 0), np.zeros(int(0.6 * SR)), _voice(240, 5.0, 1), np.zeros(int(0.4 * SR)), _voice(110, 4, 2)]
    )
    calls = []

    def embed(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return _band_embedding(batch)

    segs = diarize_audio(audio, SR, embed, batch_size=8)
    assert max(calls) <= 8
    assert [s.speaker for s in segs] == ["spk0", "spk1", "spk0"]
    assert segs[0].start == pytest.approx(0.0, abs=0.05) and segs[0].end == pytest.approx(5.0, abs=0.1)
    assert segs[1].start == pytest.approx(5.6, abs=0.1) and segs[1].end == pytest.approx(10.6, abs=0.1)
    assert segs[2].end == pytest.approx(15.0, abs=0.05)
    with pytest.raises(DiarizationError, match="embed"):
        diarize_audio(audio, SR, lambda b: np.zeros((1, 4)))
