"""Speaker sources: where single-speaker training windows come from (synthetic voices or real corpora).

A source knows its speakers (the classifier's classes, in label order) and can cut a window of one speaker's speech
for a given random generator, so datasets stay deterministic per index whatever the backing data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_models.data.synthesis.synthesizer import synthesize_speech
from voiceflow_models.data.synthesis.voices import Voice


class SpeakerSource(Protocol):
    """What a speaker-window dataset needs from its data."""

    @property
    def speakers(self) -> list[str]:
        """Speaker names; a speaker's label is its index here."""
        ...

    def window(self, speaker: int, rng: np.random.Generator, window_samples: int) -> np.ndarray:
        """``window_samples`` float32 samples (48 kHz) of mostly-speech audio of ``speaker``."""
        ...


def speech_start_positions(speech: np.ndarray, window: int, min_fraction: float, step: int) -> np.ndarray:
    """Window start positions (every ``step`` samples) whose window is at least ``min_fraction`` speech."""
    if len(speech) < window:
        return np.zeros(0, dtype=np.int64)
    csum = np.concatenate([[0], np.cumsum(speech, dtype=np.int64)])
    starts = np.arange(0, len(speech) - window + 1, step)
    fraction = (csum[starts + window] - csum[starts]) / window
    return starts[fraction >= min_fraction]


class SyntheticVoicePool:
    """A cached pool of ``seconds_per_voice`` seconds of synthesised speech per voice, cut into windows on demand.

    Audio for a voice is generated on first use (deterministic in ``seed`` and the voice), so workers and processes
    agree; ``prepare()`` fills the cache eagerly. ``seed`` should differ between the training and validation pools
    so validation windows are new utterances of the same voices.
    """

    def __init__(
        self,
        voices: Sequence[Voice],
        seconds_per_voice: float = 20.0,
        seed: int = 0,
        sample_rate: int = SAMPLE_RATE,
        min_speech_fraction: float = 0.6,
    ) -> None:
        if seconds_per_voice < 2.0:
            raise ValueError(f"seconds_per_voice: must be >= 2 s to cut 1 s windows, got {seconds_per_voice}")
        self.voices = list(voices)
        self.seconds_per_voice = float(seconds_per_voice)
        self.seed = int(seed)
        self.sample_rate = int(sample_rate)
        self.min_speech_fraction = float(min_speech_fraction)
        self._audio: dict[int, np.ndarray] = {}
        self._starts: dict[int, dict[int, np.ndarray]] = {}
        self._mask: dict[int, np.ndarray] = {}

    @property
    def speakers(self) -> list[str]:
        """Voice names in label order."""
        return [v.name for v in self.voices]

    def audio(self, speaker: int) -> np.ndarray:
        """The pooled speech of voice ``speaker`` (generated on first use)."""
        if speaker not in self._audio:
            voice = self.voices[speaker]
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, voice.voice_id, 0xA0D10])
            utt = synthesize_speech(voice, rng, min_duration_s=self.seconds_per_voice, sample_rate=self.sample_rate)
            mask = np.zeros(len(utt.audio), dtype=bool)
            for s, e in utt.phrases:
                mask[round(s * self.sample_rate) : round(e * self.sample_rate)] = True
            self._audio[speaker] = utt.audio
            self._starts[speaker] = {}
            self._mask[speaker] = mask
        return self._audio[speaker]

    def starts(self, speaker: int, window_samples: int) -> np.ndarray:
        """Valid window starts for ``speaker`` (mostly speech)."""
        self.audio(speaker)
        cache = self._starts[speaker]
        if window_samples not in cache:
            step = max(1, self.sample_rate // 100)
            starts = speech_start_positions(self._mask[speaker], window_samples, self.min_speech_fraction, step)
            if starts.size == 0:  # very short pool: fall back to anywhere
                starts = np.arange(0, max(1, len(self._audio[speaker]) - window_samples + 1), step)
            cache[window_samples] = starts
        return cache[window_samples]

    def window(self, speaker: int, rng: np.random.Generator, window_samples: int) -> np.ndarray:
        """A random mostly-speech window of voice ``speaker``."""
        audio = self.audio(speaker)
        starts = self.starts(speaker, window_samples)
        start = int(starts[int(rng.integers(starts.size))])
        out = audio[start : start + window_samples]
        if out.size < window_samples:
            out = np.pad(out, (0, window_samples - out.size))
        return out

    def prepare(self) -> None:
        """Generate every voice's audio now."""
        for k in range(len(self.voices)):
            self.audio(k)
