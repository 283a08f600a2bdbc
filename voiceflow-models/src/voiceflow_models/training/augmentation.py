"""Seeded, on-the-fly waveform augmentation for ``[B, T]`` (or ``[T]``) float32 batches.

Every transform is called as ``transform(audio, generator)`` and draws *all* of its randomness (whether it fires,
its parameters, its noise) from that ``torch.Generator``, so a given seed reproduces a batch exactly. Parameters are
drawn per example. :class:`Compose` owns a generator seeded from ``seed`` and is what the Lightning module calls
(``augmentation(audio)``); Hydra builds it from ``model.augmentation`` in the configs.

Filtering uses the biquad's exact frequency response applied in the FFT domain rather than
``torchaudio.functional.lfilter``: lfilter's pure-Python fallback here costs ~1 s per 32-window batch, the FFT ~5 ms,
and the only difference is circular wrap of the biquad's (fast-decaying) impulse-response tail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch
import torchaudio.functional as AF

from voiceflow_contract.spec import SAMPLE_RATE


class Transform(Protocol):
    """A seeded augmentation step."""

    def __call__(self, audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return an augmented copy of ``audio [B, T]``."""
        ...


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _fires(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """Per-example boolean mask, True with probability ``p`` (always drawn, so the stream stays aligned)."""
    return torch.rand(n, generator=generator) < p


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")


def _check_range(name: str, low: float, high: float) -> None:
    if low > high:
        raise ValueError(f"{name}: low ({low}) must be <= high ({high})")


def signal_power(audio: torch.Tensor) -> torch.Tensor:
    """Mean power per example, ``[B]``."""
    return audio.pow(2).mean(dim=-1)


def snr_db(clean: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio in dB per example, ``10 log10(P_clean / P_noise)``."""
    return 10 * torch.log10(signal_power(clean) / signal_power(noise).clamp_min(1e-20))


def white_noise(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """Gaussian white noise."""
    return torch.randn(*shape, generator=generator)


def pink_noise(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """1/f-power noise: white noise shaped by ``1/sqrt(f)`` in the frequency domain."""
    white = torch.randn(*shape, generator=generator)
    spectrum = torch.fft.rfft(white)
    freqs = torch.arange(spectrum.shape[-1], dtype=torch.float32)
    spectrum = spectrum / freqs.clamp_min(1.0).sqrt()
    return torch.fft.irfft(spectrum, n=shape[-1])


def babble_noise(audio: torch.Tensor, generator: torch.Generator, talkers: int = 4) -> torch.Tensor:
    """Babble-ish noise: a sum of other examples of the batch, each circularly shifted by a random offset.

    With a batch of one there are no other talkers, so pink noise is used instead.
    """
    batch, length = audio.shape
    if batch < 2:
        return pink_noise(audio.shape, generator)
    noise = torch.zeros_like(audio)
    for _ in range(talkers):
        # A non-zero roll of the batch guarantees no example babbles over itself.
        roll = int(torch.randint(1, batch, (1,), generator=generator))
        shift = int(torch.randint(0, length, (1,), generator=generator))
        noise = noise + torch.roll(torch.roll(audio, roll, dims=0), shift, dims=1)
    return noise


class RandomGain:
    """Multiply each example by a gain drawn uniformly in dB from ``[min_db, max_db]``."""

    def __init__(self, min_db: float = -6.0, max_db: float = 6.0, p: float = 0.5) -> None:
        _check_probability(p)
        _check_range("gain_db", min_db, max_db)
        self.min_db, self.max_db, self.p = min_db, max_db, p

    def __call__(self, audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Apply the per-example gain where the transform fires."""
        n = audio.shape[0]
        fire = _fires(n, self.p, generator)
        gain_db = _uniform(n, self.min_db, self.max_db, generator)
        gain = torch.where(fire, 10 ** (gain_db / 20), torch.ones(n))
        return audio * gain.unsqueeze(-1).to(audio.dtype)


class AddNoise:
    """Add white, pink or babble noise at an SNR drawn uniformly from ``[min_snr_db, max_snr_db]``.

    The noise is scaled so that ``10 log10(P_signal / P_noise)`` equals the drawn SNR exactly (``P`` = mean power
    over the window); silent examples get no noise.
    """

    KINDS = ("white", "pink", "babble")

    def __init__(
        self,
        min_snr_db: float = 5.0,
        max_snr_db: float = 30.0,
        kinds: Sequence[str] = ("white", "pink", "babble"),
        p: float = 0.5,
    ) -> None:
        _check_probability(p)
        _check_range("snr_db", min_snr_db, max_snr_db)
        unknown = set(kinds) - set(self.KINDS)
        if not kinds or unknown:
            raise ValueError(f"kinds must be a non-empty subset of {self.KINDS}, got {list(kinds)}")
        self.min_snr_db, self.max_snr_db, self.kinds, self.p = min_snr_db, max_snr_db, tuple(kinds), p

    def make_noise(self, kind: str, audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Unscaled noise of the given kind, shaped like ``audio``."""
        if kind == "white":
            return white_noise(audio.shape, generator)
        if kind == "pink":
            return pink_noise(audio.shape, generator)
        return babble_noise(audio, generator)

    def __call__(self, audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Add noise at the drawn SNR where the transform fires."""
        n = audio.shape[0]
        fire = _fires(n, self.p, generator)
        snr = _uniform(n, self.min_snr_db, self.max_snr_db, generator)
        kind = self.kinds[int(torch.randint(0, len(self.kinds), (1,), generator=generator))]
        noise = self.make_noise(kind, audio, generator)
        scale = torch.sqrt(signal_power(audio) / (signal_power(noise).clamp_min(1e-20) * 10 ** (snr / 10)))
        scale = torch.where(fire, scale, torch.zeros(n))
        return audio + noise * scale.unsqueeze(-1).to(audio.dtype)


def biquad_response(
    kind: str, cutoff_hz: torch.Tensor, n_fft: int, sample_rate: int = SAMPLE_RATE, q: float = 0.707
) -> torch.Tensor:
    """Complex frequency response ``[B, n_fft // 2 + 1]`` of RBJ-cookbook low/high-pass biquads (one per cutoff)."""
    w0 = 2 * math.pi * cutoff_hz.double() / sample_rate
    alpha = torch.sin(w0) / (2 * q)
    cos_w0 = torch.cos(w0)
    if kind == "lowpass":
        b = torch.stack([(1 - cos_w0) / 2, 1 - cos_w0, (1 - cos_w0) / 2], dim=-1)
    elif kind == "highpass":
        b = torch.stack([(1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2], dim=-1)
    else:
        raise ValueError(f"kind must be 'lowpass' or 'highpass', got {kind!r}")
    a = torch.stack([1 + alpha, -2 * cos_w0, 1 - alpha], dim=-1)
    # Evaluate b(z)/a(z) at z = e^{jw} on the rfft grid.
    w = torch.linspace(0, math.pi, n_fft // 2 + 1, dtype=torch.float64)
    z = torch.exp(-1j * w.unsqueeze(-1) * torch.arange(3, dtype=torch.float64))  # [F, 3]
    return ((b.to(z.dtype) @ z.T) / (a.to(z.dtype) @ z.T)).to(torch.complex64)


class RandomFilter:
    """Random biquad low-pass (cutoff in ``lowpass_hz``) or high-pass (cutoff in ``highpass_hz``), per example."""

    def __init__(
        self,
        lowpass_hz: tuple[float, float] = (3000.0, 12000.0),
        highpass_hz: tuple[float, float] = (50.0, 400.0),
        p: float = 0.3,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        _check_probability(p)
        _check_range("lowpass_hz", *lowpass_hz)
        _check_range("highpass_hz", *highpass_hz)
        if not (highpass_hz[0] > 0 and lowpass_hz[1] < sample_rate / 2):
            raise ValueError(f"cutoffs must lie in (0, {sample_rate / 2}) Hz")
        self.lowpass_hz, self.highpass_hz, self.p, self.sample_rate = lowpass_hz, highpass_hz, p, sample_rate

    def __call__(self, audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Filter the examples where the transform fires (half low-pass, half high-pass)."""
        n, length = audio.shape
        fire = _fires(n, self.p, generator)
        use_lowpass = torch.rand(n, generator=generator) < 0.5
        low = _uniform(n, *self.lowpass_hz, generator)
        high = _uniform(n, *self.highpass_hz, generator)
        rows = torch.nonzero(fire).flatten()
        if rows.numel() == 0:
            return audio
        # Only the examples that fire pay for the FFTs (all parameters were drawn above, so the stream is unchanged).
        response = torch.where(
            use_lowpass[rows].unsqueeze(-1),
            biquad_response("lowpass", low[rows], length, self.sample_rate),
            biquad_response("highpass", high[rows], length, self.sample_rate),
        )
        out = audio.clone()
        out[rows] = torch.fft.irfft(torch.fft.rfft(audio[rows]) * response, n=length).to(audio.dtype)
        return out


class SyntheticReverb:
    """Convolve with an exponentially decaying noise impulse response (RT60 drawn from ``rt60_s``).

    The direct path is kept (IR tap 0 = 1) and the output is rescaled to the input's power, so reverb changes
    timbre/smearing but not level.
    """

    def __init__(
        self, rt60_s: tuple[float, float] = (0.1, 0.6), p: float = 0.3, sample_rate: int = SAMPLE_RATE
    ) -> None:
        _check_probability(p)
        _check_range("rt60_s", *rt60_s)
        if rt60_s[0] <= 0:
            raise ValueError(f"rt60_s must be > 0, got {rt60_s}")
        self.rt60_s, self.p, self.sample_rate = rt60_s, p, sample_rate

    def impulse_responses(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``[n, L]`` impulse responses, ``L`` = the longest RT60 in samples."""
        rt60 = _uniform(n, *self.rt60_s, generator)
        length = int(self.rt60_s[1] * self.sample_rate)
        t = torch.arange(length, dtype=torch.float32) / self.sample_rate
        # Amplitude falls by 60 dB at t = rt60: exp(-6.908 t / rt60).
        envelope = torch.exp(-6.908 * t.unsqueeze(0) / rt60.unsqueeze(-1))
        ir = torch.randn(n, length, generator=generator) * envelope * 0.1
        ir[:, 0] = 1.0
        return ir

    def __call__(self, audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Reverberate the examples where the transform fires."""
        n, length = audio.shape
        fire = _fires(n, self.p, generator)
        ir = self.impulse_responses(n, generator)
        rows = torch.nonzero(fire).flatten()
        if rows.numel() == 0:
            return audio
        dry, ir = audio[rows], ir[rows]
        # Linear (not circular) convolution needs length + L - 1; one more sample keeps the FFT size 5-smooth (fast).
        size = length + ir.shape[-1]
        wet = torch.fft.irfft(torch.fft.rfft(dry, n=size) * torch.fft.rfft(ir, n=size), n=size)[:, :length]
        wet = wet * torch.sqrt(signal_power(dry) / signal_power(wet).clamp_min(1e-20)).unsqueeze(-1)
        out = audio.clone()
        out[rows] = wet.to(audio.dtype)
        return out


class SpeedPerturb:
    """Speed perturbation by resampling (tempo and pitch change together), one factor per batch from ``factors``.

    The result is cropped (faster) or circularly extended (slower) back to the input length, keeping ``[B, T]``.
    """

    def __init__(
        self, factors: Sequence[float] = (0.9, 1.0, 1.1), p: float = 0.3, sample_rate: int = SAMPLE_RATE
    ) -> None:
        _check_probability(p)
        if not factors or any(f <= 0 for f in factors):
            raise ValueError(f"factors must be non-empty and positive, got {list(factors)}")
        self.factors, self.p, self.sample_rate = tuple(float(f) for f in factors), p, sample_rate

    def __call__(self, audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Resample the examples where the transform fires by the drawn factor."""
        n, length = audio.shape
        fire = _fires(n, self.p, generator)
        factor = self.factors[int(torch.randint(0, len(self.factors), (1,), generator=generator))]
        rows = torch.nonzero(fire).flatten()
        if factor == 1.0 or rows.numel() == 0:
            return audio
        # Playing sr*factor samples per second at sr: resample from sr*factor to sr (rounded to 100 Hz for a small gcd).
        orig = round(self.sample_rate * factor / 100) * 100
        perturbed = AF.resample(audio[rows], orig_freq=orig, new_freq=self.sample_rate)
        if perturbed.shape[-1] >= length:
            perturbed = perturbed[:, :length]
        else:
            repeats = math.ceil(length / perturbed.shape[-1])
            perturbed = perturbed.repeat(1, repeats)[:, :length]
        out = audio.clone()
        out[rows] = perturbed.to(audio.dtype)
        return out


class Compose:
    """Apply transforms in order with one seeded generator.

    Args:
        transforms: the steps (Hydra passes a list of instantiated transforms).
        seed: seed of the owned generator; the same seed and inputs give the same outputs.
        clip: clamp the result to ``[-clip, clip]`` (keeps the contract's "roughly in [-1, 1]"); None disables.
    """

    def __init__(self, transforms: Sequence[Transform], seed: int = 0, clip: float | None = 1.0) -> None:
        self.transforms = list(transforms)
        self.seed = int(seed)
        self.clip = clip
        self.generator = torch.Generator().manual_seed(self.seed)

    def reset(self, seed: int | None = None) -> None:
        """Restart the random stream (from ``seed`` or the constructor's seed)."""
        self.generator.manual_seed(self.seed if seed is None else int(seed))

    def apply(self, audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Run every transform with an explicit generator; accepts ``[T]`` or ``[B, T]``."""
        if audio.dim() not in (1, 2):
            raise ValueError(f"audio must be [T] or [B, T], got shape {list(audio.shape)}")
        single = audio.dim() == 1
        x = audio.unsqueeze(0) if single else audio
        # Randomness is drawn on the CPU generator; move the data there and back (GPU batches included).
        device = x.device
        x = x.detach().float().cpu()
        for transform in self.transforms:
            x = transform(x, generator)
        if self.clip is not None:
            x = x.clamp(-self.clip, self.clip)
        x = x.to(device=device, dtype=audio.dtype)
        return x.squeeze(0) if single else x

    def __call__(self, audio: torch.Tensor) -> torch.Tensor:
        """Augment with the owned generator (advances it)."""
        return self.apply(audio, self.generator)

    def __repr__(self) -> str:
        return f"Compose(seed={self.seed}, transforms={[type(t).__name__ for t in self.transforms]})"
