"""A vectorised source-filter (Klatt-style cascade) speech synthesiser for :class:`Voice` speakers.

Pipeline per utterance:
1. A phoneme plan (phrases of syllables: optional onset consonant, vowel, optional coda; pauses between phrases) is
   turned into control tracks at a 10 ms block rate: formants F1-F5, bandwidths, voicing and aspiration amplitude,
   fricative amplitudes, and a pitch contour (declination, pitch accents, occasional final rise).
2. Source: a Rosenberg glottal pulse train (open quotient per voice) with jitter and shimmer, differentiated (lip
   radiation), low-passed for spectral tilt, plus pitch-synchronous aspiration noise (breathiness).
3. The source runs through five formant resonators whose coefficients change every block (``sosfilt`` with carried
   state); fricatives and stop bursts are band-passed noise added in parallel.
4. A per-voice two-band timbre EQ and level normalisation finish the voice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_models.data.synthesis.voices import VOWEL_NAMES, Voice

BLOCK_S = 0.01

# Consonants: (class, F1, F2, F3 in Hz for a reference speaker, voicing amplitude).
_SONORANTS: dict[str, tuple[float, float, float, float]] = {
    "m": (250.0, 1100.0, 2300.0, 0.35),
    "n": (250.0, 1700.0, 2600.0, 0.35),
    "l": (360.0, 1300.0, 2800.0, 0.6),
    "r": (350.0, 1200.0, 1600.0, 0.6),
    "w": (300.0, 700.0, 2200.0, 0.6),
    "j": (280.0, 2200.0, 3000.0, 0.6),
}
# Noise bands: (centre Hz, bandwidth Hz) for fricatives and stop bursts (scaled per voice).
_NOISE_BANDS: tuple[tuple[float, float], ...] = (
    (5500.0, 2500.0),  # 0: s / z
    (3000.0, 1500.0),  # 1: sh
    (7000.0, 5000.0),  # 2: f / v
    (1200.0, 1800.0),  # 3: p / b burst
    (4500.0, 3000.0),  # 4: t / d burst
    (2400.0, 1200.0),  # 5: k / g burst
)
_FRICATIVES: dict[str, tuple[int, float, float]] = {  # band, noise amplitude, voicing
    "s": (0, 0.35, 0.0),
    "z": (0, 0.2, 0.3),
    "sh": (1, 0.4, 0.0),
    "f": (2, 0.15, 0.0),
    "v": (2, 0.1, 0.3),
}
_STOPS: dict[str, tuple[int, bool]] = {  # burst band, voiced
    "p": (3, False),
    "t": (4, False),
    "k": (5, False),
    "b": (3, True),
    "d": (4, True),
    "g": (5, True),
}
_ONSETS = (*_SONORANTS, *_FRICATIVES, *_STOPS, "h")
_CODAS = ("m", "n", "l", "r", "s", "t", "k", "z", "f")
_BASE_BANDWIDTHS = np.array([60.0, 90.0, 130.0, 200.0, 280.0])


@dataclass
class Utterance:
    """Synthesised speech of one voice and the [start, end) spans in seconds of its phrases (speech, not pauses)."""

    audio: np.ndarray  # float32 [samples]
    sample_rate: int
    phrases: list[tuple[float, float]]

    @property
    def duration_s(self) -> float:
        """Length of the audio in seconds."""
        return len(self.audio) / self.sample_rate


@dataclass
class _Plan:
    """Per-block control tracks."""

    formants: np.ndarray  # [blocks, 5]
    bandwidths: np.ndarray  # [blocks, 5]
    voicing: np.ndarray  # [blocks]
    aspiration: np.ndarray  # [blocks]
    noise: np.ndarray  # [blocks, len(_NOISE_BANDS)]
    pitch_st: np.ndarray  # [blocks] semitones relative to the voice's mean f0
    phrases: list[tuple[int, int]]  # block spans


class _PlanBuilder:
    def __init__(self, voice: Voice, rng: np.random.Generator) -> None:
        self.voice = voice
        self.rng = rng
        self.rows: list[tuple[int, np.ndarray, np.ndarray, float, float, int, float, float]] = []
        self.blocks = 0

    def _blocks(self, seconds: float) -> int:
        return max(1, round(seconds / BLOCK_S))

    def add(
        self,
        seconds: float,
        formants: np.ndarray,
        *,
        voicing: float = 0.0,
        aspiration: float = 0.0,
        band: int = -1,
        noise: float = 0.0,
        accent: float = 0.0,
    ) -> None:
        n = self._blocks(seconds)
        bw = _BASE_BANDWIDTHS * self.voice.bandwidth_scale
        self.rows.append((n, formants, bw, voicing, aspiration, band, noise, accent))
        self.blocks += n

    def silence(self, seconds: float, formants: np.ndarray) -> None:
        self.add(seconds, formants)

    def vowel_formants(self) -> tuple[str, np.ndarray]:
        vowel = VOWEL_NAMES[int(self.rng.integers(len(VOWEL_NAMES)))]
        return vowel, np.array(self.voice.vowel_formants(vowel))

    def consonant(self, name: str, next_formants: np.ndarray) -> None:
        v, s = self.voice, self.voice.syllable_s
        u = self.rng.uniform
        if name in _SONORANTS:
            f1, f2, f3, av = _SONORANTS[name]
            scale = v.vtl_scale
            formants = np.array([f1 * scale, f2 * scale, f3 * scale, v.f4_hz, v.f5_hz])
            if name in ("m", "n"):
                formants[0] = v.nasal_hz
            self.add(s * u(0.15, 0.3), formants, voicing=av)
        elif name in _FRICATIVES:
            band, amp, av = _FRICATIVES[name]
            self.add(s * u(0.25, 0.45), next_formants, voicing=av, band=band, noise=amp)
        elif name in _STOPS:
            band, voiced = _STOPS[name]
            self.add(s * u(0.2, 0.3), next_formants, voicing=0.08 if voiced else 0.0)  # closure
            self.add(0.012, next_formants, band=band, noise=0.25 if voiced else 0.5)  # burst
            if not voiced:
                self.add(0.03, next_formants, aspiration=0.3)
        elif name == "h":
            self.add(s * u(0.15, 0.3), next_formants, aspiration=0.45)
        else:  # pragma: no cover - the inventories above are closed
            raise ValueError(f"unknown consonant {name!r}")

    def syllable(self, accent: float) -> None:
        _, vf = self.vowel_formants()
        if self.rng.random() < 0.75:
            self.consonant(_ONSETS[int(self.rng.integers(len(_ONSETS)))], vf)
        self.add(self.voice.syllable_s * self.rng.uniform(0.4, 0.75), vf, voicing=1.0, accent=accent)
        if self.rng.random() < 0.3:
            self.consonant(_CODAS[int(self.rng.integers(len(_CODAS)))], vf)

    def build(self) -> _Plan:
        counts = np.array([r[0] for r in self.rows])
        formants = np.repeat(np.stack([r[1] for r in self.rows]), counts, axis=0)
        bandwidths = np.repeat(np.stack([r[2] for r in self.rows]), counts, axis=0)
        voicing = np.repeat(np.array([r[3] for r in self.rows]), counts)
        aspiration = np.repeat(np.array([r[4] for r in self.rows]), counts)
        noise = np.zeros((counts.sum(), len(_NOISE_BANDS)))
        band_idx = np.repeat(np.array([r[5] for r in self.rows]), counts)
        amps = np.repeat(np.array([r[6] for r in self.rows]), counts)
        has = band_idx >= 0
        noise[np.flatnonzero(has), band_idx[has]] = amps[has]
        accent = np.repeat(np.array([r[7] for r in self.rows]), counts)
        return _Plan(formants, bandwidths, voicing, aspiration, noise, accent, [])


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Hann-weighted moving average along axis 0 (coarticulation / amplitude ramps)."""
    if width <= 1:
        return x
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    pad = width // 2
    padded = np.pad(x, [(pad, width - 1 - pad)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    if x.ndim == 1:
        return np.convolve(padded, kernel, mode="valid")
    return np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(x.shape[1])], axis=1)


def plan_speech(
    voice: Voice, rng: np.random.Generator, *, n_phrases: int | None = None, min_duration_s: float | None = None
) -> _Plan:
    """Phoneme plan of phrases until ``n_phrases`` phrases or ``min_duration_s`` seconds of speech+pauses."""
    if n_phrases is None and min_duration_s is None:
        raise ValueError("plan_speech: give n_phrases or min_duration_s")
    builder = _PlanBuilder(voice, rng)
    rest = np.array(voice.vowel_formants("V"))
    phrases: list[tuple[int, int]] = []
    pitch_rows: list[np.ndarray] = []
    while True:
        start_block = builder.blocks
        for _ in range(int(rng.integers(3, 11))):
            accent = voice.f0_range_st * rng.uniform(0.3, 0.8) if rng.random() < voice.accent_prob else 0.0
            builder.syllable(accent)
        end_block = builder.blocks
        phrases.append((start_block, end_block))
        # Intonation: declination across the phrase, an optional final rise (question-like).
        n = end_block - start_block
        position = np.linspace(0.0, 1.0, n)
        contour = voice.f0_range_st * voice.declination * (0.5 - position)
        if rng.random() < 0.15:
            contour += voice.f0_range_st * 0.8 * np.clip((position - 0.8) / 0.2, 0.0, 1.0)
        pitch_rows.append(contour)
        enough_phrases = n_phrases is not None and len(phrases) >= n_phrases
        enough_time = min_duration_s is not None and builder.blocks * BLOCK_S >= min_duration_s
        if enough_phrases or enough_time:
            break
        pause = float(np.clip(rng.gamma(4.0, voice.pause_s / 4.0), 0.08, 1.5))
        builder.silence(pause, rest)
        pitch_rows.append(np.zeros(builder.blocks - end_block))
    plan = builder.build()
    plan.pitch_st = plan.pitch_st + np.concatenate(pitch_rows)
    plan.phrases = phrases
    return plan


def _resonator_sos(freqs: np.ndarray, bandwidths: np.ndarray, sample_rate: int) -> np.ndarray:
    """[blocks, 5, 6] second-order sections of unity-DC-gain resonators."""
    nyquist = 0.5 * sample_rate
    f = np.clip(freqs, 50.0, 0.45 * sample_rate)
    bw = np.clip(bandwidths, 20.0, nyquist)
    r = np.exp(-np.pi * bw / sample_rate)
    a1 = -2.0 * r * np.cos(2.0 * np.pi * f / sample_rate)
    a2 = r * r
    gain = 1.0 + a1 + a2
    sos = np.zeros((*f.shape, 6))
    sos[..., 0] = gain
    sos[..., 3] = 1.0
    sos[..., 4] = a1
    sos[..., 5] = a2
    return sos


def _peaking_sos(freq: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """RBJ-cookbook peaking EQ as one second-order section."""
    amp = 10 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * min(freq, 0.45 * sample_rate) / sample_rate
    alpha = np.sin(w0) / (2.0 * q)
    b = np.array([1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp])
    a = np.array([1 + alpha / amp, -2 * np.cos(w0), 1 - alpha / amp])
    return np.concatenate([b / a[0], a / a[0]])[np.newaxis, :]


def _bandpass_noise(noise: np.ndarray, centre: float, bandwidth: float, sample_rate: int) -> np.ndarray:
    """Noise through a constant-peak-gain resonator, normalised to unit RMS."""
    centre = min(centre, 0.42 * sample_rate)
    r = np.exp(-np.pi * bandwidth / sample_rate)
    theta = 2.0 * np.pi * centre / sample_rate
    g = (1.0 - r * r) / 2.0
    out = signal.lfilter([g, 0.0, -g], [1.0, -2.0 * r * np.cos(theta), r * r], noise)
    rms = float(np.sqrt(np.mean(out**2))) or 1.0
    return np.asarray(out / rms)


def render(plan: _Plan, voice: Voice, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Render a plan to float32 audio at ``sample_rate`` with ``voice``'s source and filter."""
    block = round(BLOCK_S * sample_rate)
    n_blocks = len(plan.voicing)
    n = n_blocks * block
    centres = (np.arange(n_blocks) + 0.5) * block
    t = np.arange(n)

    formants = _smooth(plan.formants, 5)
    bandwidths = _smooth(plan.bandwidths, 5)
    voicing = np.interp(t, centres, _smooth(plan.voicing, 3))
    aspiration = np.interp(t, centres, _smooth(plan.aspiration, 3))
    pitch = _smooth(plan.pitch_st, 9)

    # Source: Rosenberg glottal flow with jitter, differentiated, shimmer per period, tilt low-pass.
    jitter = voice.jitter * np.interp(t, centres, rng.normal(0.0, 1.0, n_blocks))
    f0 = voice.f0_hz * 2.0 ** (np.interp(t, centres, pitch) / 12.0) * (1.0 + jitter)
    phase = np.cumsum(f0 / sample_rate)
    frac = phase % 1.0
    oq = voice.open_quotient
    tp, tn = 0.6 * oq, 0.4 * oq
    closing = np.where(frac < oq, np.cos(0.5 * np.pi * (frac - tp) / tn), 0.0)
    flow = np.where(frac < tp, 0.5 * (1.0 - np.cos(np.pi * frac / tp)), closing)
    periods = phase.astype(np.int64)
    shimmer = 1.0 + voice.shimmer * rng.normal(0.0, 1.0, int(periods[-1]) + 2)
    source = np.diff(flow, prepend=0.0) * shimmer[periods]
    source = signal.lfilter([1.0 - voice.tilt], [1.0, -voice.tilt], source)
    voiced_mask = voicing > 0.5
    source /= float(np.sqrt(np.mean(source[voiced_mask] ** 2))) if voiced_mask.any() else 1.0
    white = rng.normal(0.0, 1.0, n)
    excitation = source * voicing + white * (aspiration + voice.breathiness * voicing * (0.3 + flow))

    # Cascade of five formant resonators, coefficients per block, filter state carried across blocks.
    sos = _resonator_sos(formants, bandwidths, sample_rate)
    out = np.empty(n)
    zi = np.zeros((5, 2))
    x_blocks = excitation.reshape(n_blocks, block)
    y_blocks = out.reshape(n_blocks, block)
    for b in range(n_blocks):
        y_blocks[b], zi = signal.sosfilt(sos[b], x_blocks[b], zi=zi)
    voiced_rms = float(np.sqrt(np.mean(out[voiced_mask] ** 2))) if voiced_mask.any() else 1.0
    out /= voiced_rms or 1.0

    # Parallel noise branch: fricatives and bursts, each band only filtered where it is used.
    noise_amp = _smooth(plan.noise, 2)
    fric_noise = rng.normal(0.0, 1.0, n)
    for k, (centre, bw) in enumerate(_NOISE_BANDS):
        if not np.any(noise_amp[:, k] > 0):
            continue
        amp = np.interp(t, centres, noise_amp[:, k])
        band = _bandpass_noise(fric_noise, centre * voice.fricative_scale, bw * voice.fricative_scale, sample_rate)
        out += band * amp

    eq = np.concatenate(
        [_peaking_sos(f, g, q, sample_rate) for f, g, q in zip(voice.eq_hz, voice.eq_gain_db, voice.eq_q, strict=True)]
    )
    out = signal.sosfilt(eq, out)
    speech = np.zeros(n, dtype=bool)
    for s, e in plan.phrases:
        speech[s * block : e * block] = True
    rms = float(np.sqrt(np.mean(out[speech] ** 2))) if speech.any() else 1.0
    out *= 10 ** (voice.level_db / 20.0) / (rms or 1.0)
    return out.astype(np.float32)


def synthesize_speech(
    voice: Voice,
    rng: np.random.Generator,
    *,
    n_phrases: int | None = None,
    min_duration_s: float | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> Utterance:
    """Synthesize phrases of ``voice`` until ``n_phrases`` phrases or at least ``min_duration_s`` seconds."""
    if sample_rate < 16000:
        raise ValueError(f"sample_rate: must be >= 16000 Hz for the synthesiser, got {sample_rate}")
    plan = plan_speech(voice, rng, n_phrases=n_phrases, min_duration_s=min_duration_s)
    audio = render(plan, voice, rng, sample_rate)
    phrases = [(s * BLOCK_S, e * BLOCK_S) for s, e in plan.phrases]
    return Utterance(audio=audio, sample_rate=sample_rate, phrases=phrases)
