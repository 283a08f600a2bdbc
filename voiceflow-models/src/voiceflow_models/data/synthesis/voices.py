"""Synthetic voices: every acoustic trait of a speaker, drawn deterministically from (seed, voice_id).

The traits are continuous and independent enough that two random voices differ audibly (pitch, vocal-tract length,
vowel space, voice quality, timbre), which is what lets a classifier trained on a few dozen voices embed unseen ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bumped whenever a change to voices or synthesis changes the generated audio (part of the dataset fingerprint).
GENERATOR_VERSION = "synth-1"

#: Reference (adult male) formants F1-F3 in Hz of ten vowels (Peterson & Barney averages).
VOWELS: dict[str, tuple[float, float, float]] = {
    "i": (270.0, 2290.0, 3010.0),
    "I": (390.0, 1990.0, 2550.0),
    "e": (530.0, 1840.0, 2480.0),
    "ae": (660.0, 1720.0, 2410.0),
    "a": (730.0, 1090.0, 2440.0),
    "o": (570.0, 840.0, 2410.0),
    "U": (440.0, 1020.0, 2240.0),
    "u": (300.0, 870.0, 2240.0),
    "V": (640.0, 1190.0, 2390.0),
    "R": (490.0, 1350.0, 1690.0),
}
VOWEL_NAMES: tuple[str, ...] = tuple(VOWELS)


@dataclass(frozen=True)
class Voice:
    """All parameters of one synthetic speaker (see :func:`make_voice` for their ranges)."""

    voice_id: int
    seed: int
    f0_hz: float  # mean fundamental frequency
    f0_range_st: float  # pitch excursion of the intonation contour, semitones
    accent_prob: float  # chance that a syllable carries a pitch accent
    declination: float  # fraction of the range lost over a phrase
    vtl_scale: float  # formant scaling: >1 = shorter vocal tract = higher formants
    vowel_offsets: tuple[tuple[float, float, float], ...]  # [10][3] multiplicative offsets of the vowel space
    f4_hz: float = 3500.0
    f5_hz: float = 4500.0
    bandwidth_scale: float = 1.0  # >1 = more damped, duller resonances
    syllable_s: float = 0.2  # mean syllable duration (speaking rate)
    pause_s: float = 0.3  # mean pause between phrases
    breathiness: float = 0.1  # aspiration noise mixed into voicing
    open_quotient: float = 0.6  # glottal open phase: higher = softer, less high-frequency energy
    tilt: float = 0.5  # one-pole low-pass coefficient on the source (spectral tilt)
    jitter: float = 0.01  # relative f0 perturbation
    shimmer: float = 0.05  # relative per-period amplitude perturbation
    eq_hz: tuple[float, float] = (1000.0, 3000.0)  # two timbre peaks/notches of this speaker's "channel"
    eq_gain_db: tuple[float, float] = (0.0, 0.0)
    eq_q: tuple[float, float] = (1.5, 1.5)
    nasal_hz: float = 250.0  # first formant of nasals
    fricative_scale: float = 1.0  # centre-frequency scaling of fricatives
    level_db: float = -22.0  # speech RMS in dBFS

    @property
    def name(self) -> str:
        """Speaker label used in RTTM references."""
        return f"voice{self.voice_id:06d}"

    def vowel_formants(self, vowel: str) -> tuple[float, float, float, float, float]:
        """F1-F5 in Hz of ``vowel`` for this speaker."""
        offsets = np.asarray(self.vowel_offsets[VOWEL_NAMES.index(vowel)])
        base = np.asarray(VOWELS[vowel]) * self.vtl_scale * offsets
        return (float(base[0]), float(base[1]), float(base[2]), self.f4_hz, self.f5_hz)


def make_voice(seed: int, voice_id: int) -> Voice:
    """Draw voice ``voice_id`` of the voice family ``seed``; the same pair always gives the same voice."""
    if voice_id < 0:
        raise ValueError(f"voice_id: must be >= 0, got {voice_id}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(voice_id), 0x5EED])
    # Two loose "registers" (lower and higher voices) with a wide overlap, pitch log-uniform within each.
    high = rng.random() < 0.5
    f0 = float(np.exp(rng.uniform(np.log(150.0), np.log(270.0)) if high else rng.uniform(np.log(80.0), np.log(160.0))))
    # Vocal-tract length correlates with pitch register but varies independently within it.
    vtl = float(np.clip(rng.normal(1.14 if high else 0.97, 0.07), 0.8, 1.35))
    f4 = 3500.0 * vtl * float(rng.uniform(0.92, 1.08))
    f5 = max(f4 + 600.0, 4500.0 * vtl * float(rng.uniform(0.92, 1.08)))
    eq_hz = tuple(float(x) for x in np.exp(rng.uniform(np.log(300.0), np.log(7000.0), 2)))
    return Voice(
        voice_id=int(voice_id),
        seed=int(seed),
        f0_hz=f0,
        f0_range_st=float(rng.uniform(2.0, 8.0)),
        accent_prob=float(rng.uniform(0.15, 0.5)),
        declination=float(rng.uniform(0.2, 0.8)),
        vtl_scale=vtl,
        vowel_offsets=tuple(
            (float(a), float(b), float(c)) for a, b, c in np.clip(rng.normal(1.0, 0.07, (len(VOWELS), 3)), 0.8, 1.2)
        ),
        f4_hz=f4,
        f5_hz=f5,
        bandwidth_scale=float(np.exp(rng.uniform(np.log(0.6), np.log(1.8)))),
        syllable_s=float(rng.uniform(0.14, 0.28)),
        pause_s=float(rng.uniform(0.15, 0.45)),
        breathiness=float(rng.uniform(0.02, 0.45)),
        open_quotient=float(rng.uniform(0.4, 0.8)),
        tilt=float(rng.uniform(0.1, 0.85)),
        jitter=float(rng.uniform(0.003, 0.02)),
        shimmer=float(rng.uniform(0.02, 0.12)),
        eq_hz=(eq_hz[0], eq_hz[1]),
        eq_gain_db=(float(rng.uniform(-9.0, 9.0)), float(rng.uniform(-9.0, 9.0))),
        eq_q=(float(rng.uniform(0.7, 3.0)), float(rng.uniform(0.7, 3.0))),
        nasal_hz=float(rng.uniform(220.0, 300.0) * vtl),
        fricative_scale=float(vtl * rng.uniform(0.9, 1.1)),
        level_db=float(rng.uniform(-26.0, -18.0)),
    )


def make_voices(seed: int, voice_ids: range | list[int]) -> list[Voice]:
    """``make_voice`` for each id."""
    return [make_voice(seed, v) for v in voice_ids]
