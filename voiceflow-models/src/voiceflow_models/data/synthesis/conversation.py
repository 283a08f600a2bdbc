"""Multi-speaker conversations of synthetic voices with reference segments and RTTM.

Speakers take turns of one to four phrases; turns are separated by pauses or, sometimes, overlap; optional background
noise is mixed at a target SNR. The reference marks each speaker's phrases, with gaps shorter than ``merge_gap_s``
inside a speaker's speech merged (the usual annotation convention: short pauses belong to the turn).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import signal

from voiceflow_contract.diarization import Segment
from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_models.data.records import Conversation
from voiceflow_models.data.synthesis.synthesizer import synthesize_speech
from voiceflow_models.data.synthesis.voices import Voice


def merge_segments(segments: Sequence[Segment], merge_gap_s: float) -> list[Segment]:
    """Merge each speaker's segments separated by less than ``merge_gap_s`` seconds; sorted by start."""
    by_speaker: dict[str, list[Segment]] = {}
    for seg in sorted(segments):
        spans = by_speaker.setdefault(seg.speaker, [])
        if spans and seg.start - spans[-1].end < merge_gap_s:
            spans[-1] = Segment(spans[-1].start, max(spans[-1].end, seg.end), seg.speaker)
        else:
            spans.append(seg)
    return sorted(s for spans in by_speaker.values() for s in spans)


def background_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS brownish noise (white through a one-pole low-pass), like room/fan noise."""
    noise = signal.lfilter([1.0], [1.0, -0.95], rng.normal(0.0, 1.0, n))
    return np.asarray(noise / (np.sqrt(np.mean(noise**2)) or 1.0))


def make_conversation(
    voices: Sequence[Voice],
    duration_s: float,
    seed: int,
    *,
    sample_rate: int = SAMPLE_RATE,
    uri: str | None = None,
    overlap_prob: float = 0.15,
    max_overlap_s: float = 0.6,
    gap_s: tuple[float, float] = (0.15, 1.0),
    phrases_per_turn: tuple[int, int] = (1, 4),
    noise_snr_db: float | None = None,
    merge_gap_s: float = 0.3,
) -> Conversation:
    """Synthesize a ``duration_s`` conversation among ``voices`` (>= 1), deterministic in ``seed``.

    Turns alternate between speakers (a random other speaker when there are more than two); with probability
    ``overlap_prob`` the next turn starts up to ``max_overlap_s`` before the current one ends.
    """
    if not voices:
        raise ValueError("voices: need at least one voice")
    if duration_s <= 0:
        raise ValueError(f"duration_s: must be positive, got {duration_s}")
    if not 0.0 <= overlap_prob <= 1.0:
        raise ValueError(f"overlap_prob: must be within [0, 1], got {overlap_prob}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xC0FFEE] + [v.voice_id for v in voices])
    total = round(duration_s * sample_rate)
    mix = np.zeros(total, dtype=np.float64)
    raw: list[Segment] = []
    t = float(rng.uniform(0.1, 0.8))
    speaker = int(rng.integers(len(voices)))
    while t < duration_s - 0.5:
        voice = voices[speaker]
        n_phrases = int(rng.integers(phrases_per_turn[0], phrases_per_turn[1] + 1))
        utt = synthesize_speech(voice, rng, n_phrases=n_phrases, sample_rate=sample_rate)
        start = round(t * sample_rate)
        stop = min(total, start + len(utt.audio))
        gain = 10 ** (rng.uniform(-1.5, 1.5) / 20.0)
        mix[start:stop] += gain * utt.audio[: stop - start]
        for ps, pe in utt.phrases:
            s, e = t + ps, min(t + pe, duration_s)
            if e - s > 1e-3:
                raw.append(Segment(round(s, 3), round(e, 3), voice.name))
        end = t + utt.phrases[-1][1]
        if len(voices) > 1 and rng.random() < overlap_prob:
            t = max(t + 0.5 * (end - t), end - float(rng.uniform(0.2, max_overlap_s)))
        else:
            t = end + float(rng.uniform(*gap_s))
        if len(voices) == 2:
            speaker = 1 - speaker
        elif len(voices) > 2:
            speaker = int((speaker + rng.integers(1, len(voices))) % len(voices))
    if noise_snr_db is not None:
        speech_rms = float(np.sqrt(np.mean(mix[np.abs(mix) > 0] ** 2))) if np.any(mix) else 0.0
        mix += background_noise(total, rng) * speech_rms * 10 ** (-noise_snr_db / 20.0)
    peak = float(np.max(np.abs(mix))) if total else 0.0
    if peak > 0.99:
        mix *= 0.99 / peak
    segments = merge_segments(raw, merge_gap_s)
    names = [v.name for v in voices]
    return Conversation(
        uri=uri or f"synth_{seed}_{'_'.join(str(v.voice_id) for v in voices)}",
        audio=mix.astype(np.float32),
        sample_rate=sample_rate,
        segments=segments,
        speakers=names,
    )
