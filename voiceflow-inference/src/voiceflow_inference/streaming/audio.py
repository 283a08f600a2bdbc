"""Streaming audio input: decode binary PCM frames of any length and resample them to the model's rate (48 kHz).

Both classes keep state across frames so that feeding a signal in arbitrary chunks gives the same samples as
processing the whole signal at once (bit-exact for decoding, within float rounding for resampling).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_inference.streaming.polyphase import kaiser_lowpass, resample_poly

MIN_SAMPLE_RATE: Final = 8_000
MAX_SAMPLE_RATE: Final = 192_000

FloatArray = npt.NDArray[np.float32]

#: pcm_f32le is nominally within [-1, 1]; far beyond it (+36 dBFS) the client almost surely sent the wrong encoding
#: (int samples as float, big-endian bytes) and the model's energies would overflow float32.
MAX_ABS_F32 = 64.0


class Encoding(StrEnum):
    """Wire encodings accepted for binary audio frames (little-endian, mono)."""

    PCM_F32LE = "pcm_f32le"
    PCM_S16LE = "pcm_s16le"

    @property
    def sample_width(self) -> int:
        """Bytes per sample."""
        return 4 if self is Encoding.PCM_F32LE else 2


class AudioFormatError(ValueError):
    """A frame's content cannot be accepted as audio; `code` names the rule that failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FrameDecoder:
    """Turns binary frames into float32 samples, carrying a partial trailing sample over to the next frame.

    `pcm_s16le` is scaled to [-1, 1); `pcm_f32le` is passed through but NaN/Inf are refused (code
    `non_finite_audio`) because they would poison every window, model output and cluster after them, and so are
    magnitudes above MAX_ABS_F32 (code `audio_out_of_range`).
    """

    def __init__(self, encoding: Encoding) -> None:
        self.encoding = encoding
        self._carry = b""
        self.samples_decoded = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete sample waiting for the next frame."""
        return len(self._carry)

    def decode(self, frame: bytes) -> FloatArray:
        """Decode one frame; returns the complete samples it finishes (possibly none).

        Raises AudioFormatError on NaN/Inf; the decoder state is left as before the frame in that case.
        """
        data = self._carry + frame if self._carry else frame
        width = self.encoding.sample_width
        usable = len(data) - len(data) % width
        if self.encoding is Encoding.PCM_F32LE:
            samples = np.frombuffer(data, dtype="<f4", count=usable // width).astype(np.float32)
            if not np.isfinite(samples).all():
                bad = int(np.flatnonzero(~np.isfinite(samples))[0])
                raise AudioFormatError(
                    "non_finite_audio",
                    f"pcm_f32le frame contains NaN or Inf (first at sample {self.samples_decoded + bad} of the stream)",
                )
            if samples.size and float(np.abs(samples).max()) > MAX_ABS_F32:
                bad = int(np.flatnonzero(np.abs(samples) > MAX_ABS_F32)[0])
                raise AudioFormatError(
                    "audio_out_of_range",
                    f"pcm_f32le sample {self.samples_decoded + bad} of the stream is {float(samples[bad]):.3g}; "
                    f"samples must be within [-{MAX_ABS_F32:g}, {MAX_ABS_F32:g}] (nominally [-1, 1]): wrong encoding?",
                )
        else:
            samples = np.frombuffer(data, dtype="<i2", count=usable // width).astype(np.float32) / 32768.0
        self._carry = bytes(data[usable:])
        self.samples_decoded += samples.size
        return samples


def _rational(sample_rate: int, target: int) -> tuple[int, int]:
    g = math.gcd(sample_rate, target)
    return target // g, sample_rate // g


class StreamResampler:
    """Polyphase resampling (scipy's ``resample_poly`` output, computed in numpy) of an unbounded stream, in chunks.

    Each push resamples a short input span that starts on a multiple of `down` (so its outputs line up with the
    whole-signal output grid) and keeps `context` input samples of history and look-ahead around the outputs it
    emits, so every emitted sample sees exactly the filter taps the whole-signal call would. `flush()` emits the
    tail, zero-padded like the whole-signal call. Output length over the stream is ceil(n_in * up / down).
    """

    def __init__(self, sample_rate: int, target_rate: int = SAMPLE_RATE) -> None:
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise AudioFormatError(
                "unsupported_sample_rate",
                f"sample_rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz, got {sample_rate}",
            )
        self.sample_rate = sample_rate
        self.target_rate = target_rate
        self.up, self.down = _rational(sample_rate, target_rate)
        self.passthrough = self.up == self.down
        half_len = 10 * max(self.up, self.down)
        # Same filter scipy designs by default; computed once instead of per call.
        self._taps = (
            np.ones(1) if self.passthrough else kaiser_lowpass(2 * half_len + 1, 1.0 / max(self.up, self.down), 5.0)
        )
        self.context = math.ceil(half_len / self.up) + 1
        self._buf = np.zeros(0, dtype=np.float64)
        self._buf_start = 0  # global input index of _buf[0]; always a multiple of `down`
        self._in_total = 0
        self._out_next = 0  # next global output index to emit

    def _resample_span(self) -> npt.NDArray[np.float64]:
        return resample_poly(self._buf, self.up, self.down, self._taps)

    def push(self, samples: FloatArray) -> FloatArray:
        """Add input samples; returns the 48 kHz samples that are now final (possibly none)."""
        if self.passthrough:
            self._in_total += samples.size
            self._out_next += samples.size
            return samples.astype(np.float32, copy=False)
        self._buf = np.concatenate([self._buf, samples.astype(np.float64)])
        self._in_total += samples.size
        # Output n sits at input position n*down/up; it is final once `context` samples exist after it.
        ready_end = ((self._in_total - self.context) * self.up) // self.down + 1 if self._in_total > self.context else 0
        if ready_end <= self._out_next:
            return np.zeros(0, dtype=np.float32)
        out = self._emit(ready_end)
        self._trim()
        return out

    def flush(self) -> FloatArray:
        """Emit the remaining output (end of stream); the resampler is exhausted afterwards."""
        if self.passthrough:
            return np.zeros(0, dtype=np.float32)
        total_out = -((-self._in_total * self.up) // self.down)
        if total_out <= self._out_next:
            return np.zeros(0, dtype=np.float32)
        return self._emit(total_out)

    def _emit(self, end: int) -> FloatArray:
        span_out_start = self._buf_start * self.up // self.down
        y = self._resample_span()
        out = y[self._out_next - span_out_start : end - span_out_start]
        self._out_next = end
        return out.astype(np.float32)

    def _trim(self) -> None:
        # Keep `context` input samples before the next output, aligned down to a multiple of `down`.
        keep_from = (self._out_next * self.down) // self.up - self.context
        keep_from = max(self._buf_start, (keep_from // self.down) * self.down)
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start :]
            self._buf_start = keep_from
