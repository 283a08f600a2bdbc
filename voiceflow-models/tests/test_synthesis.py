"""Synthetic voices and conversations: distinct, deterministic, correct references, disjoint splits, fast."""

from __future__ import annotations

import time

import numpy as np
import pytest

from voiceflow_contract.diarization import parse_rttm
from voiceflow_models.data.split_conversations import distinct, pick_conversation_voices
from voiceflow_models.data.splits import VoiceSplits
from voiceflow_models.data.synthesis import make_conversation, make_voice, merge_segments, synthesize_speech
from voiceflow_models.evaluation.held_out import make_test_conversations

SR = 48000


def _f0_autocorr(audio: np.ndarray, sr: int) -> float:
    """Median f0 over loud 40 ms frames by autocorrelation (60-400 Hz)."""
    frame = int(0.04 * sr)
    f0s = []
    rms_all = np.sqrt(np.mean(audio**2))
    for i in range(0, len(audio) - frame, frame):
        x = audio[i : i + frame].astype(np.float64)
        if np.sqrt(np.mean(x**2)) < rms_all:
            continue
        x = x - x.mean()
        ac = np.correlate(x, x, "full")[frame - 1 :]
        lo, hi = int(sr / 400), int(sr / 60)
        f0s.append(sr / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(f0s))


def _centroid(audio: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    return float((spec * freqs).sum() / spec.sum())


def test_voices_are_deterministic_and_distinct():
    assert make_voice(0, 5) == make_voice(0, 5)
    assert make_voice(1, 5).f0_hz != make_voice(0, 5).f0_hz, "another voice family gives other voices"
    voices = [make_voice(0, v) for v in range(40)]
    f0s = np.array([v.f0_hz for v in voices])
    assert f0s.min() < 120 and f0s.max() > 190, "voices span low and high registers"
    assert len({(round(v.vtl_scale, 3), round(v.f0_hz, 1)) for v in voices}) == 40
    with pytest.raises(ValueError, match="voice_id"):
        make_voice(0, -1)


def test_synthesized_pitch_and_spectrum_follow_the_voice():
    voices = [make_voice(3, v) for v in range(12)]
    low = min(voices, key=lambda v: v.f0_hz)
    high = max(voices, key=lambda v: v.f0_hz)
    ua = synthesize_speech(low, np.random.default_rng(0), min_duration_s=3.0)
    ub = synthesize_speech(high, np.random.default_rng(0), min_duration_s=3.0)
    fa, fb = _f0_autocorr(ua.audio, SR), _f0_autocorr(ub.audio, SR)
    assert fa == pytest.approx(low.f0_hz, rel=0.3)
    assert fb == pytest.approx(high.f0_hz, rel=0.3)
    assert fb > 1.3 * fa
    # Spectral centroids of different voices differ.
    centroids = [_centroid(synthesize_speech(v, np.random.default_rng(1), n_phrases=2).audio, SR) for v in voices[:6]]
    assert np.ptp(centroids) > 200.0
    assert ua.audio.dtype == np.float32 and np.abs(ua.audio).max() < 1.0
    # Same voice + same generator state -> identical audio.
    again = synthesize_speech(low, np.random.default_rng(0), min_duration_s=3.0)
    assert np.array_equal(again.audio, ua.audio)


def test_conversation_reference_matches_audio_and_rttm():
    voices = [make_voice(0, 200000), make_voice(0, 200001)]
    conv = make_conversation(voices, 20.0, seed=4, uri="c4")
    assert conv.audio.dtype == np.float32 and len(conv.audio) == 20 * SR
    speakers = {s.speaker for s in conv.segments}
    assert speakers == {v.name for v in voices}
    assert all(0 <= s.start < s.end <= 20.0 for s in conv.segments)
    parsed = parse_rttm(conv.rttm)
    assert list(parsed) == ["c4"]
    assert [(round(s.start, 3), s.speaker) for s in parsed["c4"]] == [(s.start, s.speaker) for s in conv.segments]
    # Audio is loud inside reference speech and (near) silent well outside it.
    speech = np.zeros(len(conv.audio), dtype=bool)
    for s in conv.segments:
        speech[int(s.start * SR) : int(s.end * SR)] = True
    outside = ~speech
    for s in conv.segments:  # a 0.1 s guard around references (smoothing ramps)
        outside[max(0, int((s.start - 0.1) * SR)) : int((s.end + 0.1) * SR)] = False
    assert np.sqrt(np.mean(conv.audio[speech] ** 2)) > 0.01
    if outside.any():
        assert np.sqrt(np.mean(conv.audio[outside] ** 2)) < 1e-4
    # Deterministic.
    assert np.array_equal(make_conversation(voices, 20.0, seed=4, uri="c4").audio, conv.audio)
    # Noise option keeps the reference and adds a floor.
    noisy = make_conversation(voices, 20.0, seed=4, uri="c4", noise_snr_db=20.0)
    assert noisy.segments == conv.segments
    assert np.sqrt(np.mean(noisy.audio[outside] ** 2)) > 1e-3 if outside.any() else True


def test_conversations_have_turns_and_some_overlap():
    voices = [make_voice(0, 200002), make_voice(0, 200003), make_voice(0, 200004)]
    conv = make_conversation(voices, 60.0, seed=1, overlap_prob=0.5)
    assert len({s.speaker for s in conv.segments}) == 3
    overlaps = [
        (a, b)
        for a in conv.segments
        for b in conv.segments
        if a.speaker < b.speaker and a.start < b.end and b.start < a.end
    ]
    assert overlaps, "overlap_prob=0.5 gives overlapping turns"


def test_merge_segments():
    from voiceflow_contract.diarization import Segment

    segs = [Segment(0, 1, "a"), Segment(1.2, 2, "a"), Segment(3, 4, "a"), Segment(0.5, 1.5, "b")]
    assert merge_segments(segs, 0.3) == [Segment(0, 2, "a"), Segment(0.5, 1.5, "b"), Segment(3, 4, "a")]


def test_splits_are_disjoint():
    splits = VoiceSplits(num_train=64, num_val=16, num_test=16)
    train, val, test = set(splits.train_ids), set(splits.val_ids), set(splits.test_ids)
    assert len(train) == 64 and not (train & val) and not (train & test) and not (val & test)
    convs = make_test_conversations(2, seed=0, duration_s=5.0)
    used = {int(s.speaker.removeprefix("voice")) for c in convs for s in c.segments}
    assert used and used.isdisjoint(train)
    with pytest.raises(ValueError, match="num_train"):
        VoiceSplits(num_train=1, num_val=0, num_test=0)


def test_generation_length_and_sample_rate():
    # Generation speed is a benchmark figure (docs/PERFORMANCE_ANALYSIS.md), printed here, never asserted: no test
    # may depend on how fast the machine is.
    start = time.perf_counter()
    conv = make_test_conversations(1, seed=2, duration_s=30.0)[0]
    print(f"30 s of conversation synthesised in {time.perf_counter() - start:.2f} s")
    assert conv.duration_s == 30.0 and len(conv.audio) == 30 * conv.sample_rate
    low = make_test_conversations(1, seed=2, duration_s=5.0, sample_rate=16000)[0]
    assert low.sample_rate == 16000 and len(low.audio) == 5 * 16000


def test_conversation_partners_are_distinct_voices():
    ids = VoiceSplits(2, 16, 16).test_ids
    for index in range(8):
        voices = pick_conversation_voices(index, ids, 2, voice_seed=0)
        assert len({v.voice_id for v in voices}) == 2
        assert distinct(voices[0], voices[1])
    # A pool of near-identical voices still yields the requested number of speakers.
    assert len(pick_conversation_voices(0, ids[:3], 3, voice_seed=0)) == 3


def test_make_conversation_cli(tmp_path):
    import soundfile as sf

    from voiceflow_models.data.make_conversation import main

    out = tmp_path / "conv.wav"
    assert (
        main(
            [
                "--out",
                str(out),
                "--rttm",
                str(tmp_path / "conv.rttm"),
                "--seed",
                "3",
                "--duration",
                "4",
                "--sample-rate",
                "16000",
            ]
        )
        == 0
    )
    info = sf.info(str(out))
    assert info.samplerate == 16000 and info.frames == 4 * 16000
    parsed = parse_rttm((tmp_path / "conv.rttm").read_text())
    assert list(parsed) == ["conv"] and len({s.speaker for s in parsed["conv"]}) >= 1
    with pytest.raises(SystemExit):
        main(["--help"])
