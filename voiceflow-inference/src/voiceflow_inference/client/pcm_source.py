"""Audio for the streaming client as little-endian int16 PCM: a WAV/FLAC file at any rate, or raw s16le on stdin.

The server resamples any rate between 8 and 192 kHz, so files are sent at their own rate (first channel only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
import soundfile as sf

ENCODING = "pcm_s16le"
BYTES_PER_SAMPLE = 2


class PcmSource(Protocol):
    """Mono s16le PCM at `sample_rate`: `read(n)` returns up to n bytes, b"" at the end."""

    sample_rate: int

    def read(self, nbytes: int) -> bytes: ...


def to_s16le(audio: np.ndarray) -> bytes:
    """float audio in [-1, 1] -> int16 little-endian bytes (clipped)."""
    return np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32768.0), -32768, 32767).astype("<i2").tobytes()


@dataclass
class BufferSource:
    """PCM held in memory (a decoded file or an array)."""

    pcm: bytes
    sample_rate: int
    _offset: int = 0

    @classmethod
    def from_array(cls, audio: np.ndarray, sample_rate: int) -> BufferSource:
        """A mono float array (or [samples, channels], first channel used) at `sample_rate`."""
        data = np.asarray(audio)
        return cls(to_s16le(data[:, 0] if data.ndim == 2 else data), int(sample_rate))

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.pcm) / BYTES_PER_SAMPLE / self.sample_rate

    def read(self, nbytes: int) -> bytes:
        """The next `nbytes` bytes (fewer at the end)."""
        chunk = self.pcm[self._offset : self._offset + nbytes]
        self._offset += len(chunk)
        return chunk


@dataclass
class StreamSource:
    """Raw s16le PCM from a binary stream (stdin: `arecord -f S16_LE -r 16000 | voiceflow-inference stream -`)."""

    stream: BinaryIO
    sample_rate: int

    def read(self, nbytes: int) -> bytes:
        """Up to `nbytes` bytes; blocks until they arrive or the stream ends."""
        return self.stream.read(nbytes) or b""


def read_file(path: str | Path) -> BufferSource:
    """Decode a WAV/FLAC/OGG file (anything libsndfile reads) at its own sample rate."""
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return BufferSource.from_array(audio, int(rate))
