"""Augmentation: seeded determinism, exact SNR, filters/reverb/speed doing what they claim, Hydra-built pipeline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from voiceflow_models.training.augmentation import (
    AddNoise,
    Compose,
    RandomFilter,
    RandomGain,
    SpeedPerturb,
    SyntheticReverb,
    signal_power,
    snr_db,
)

SR = 48_000


def tone(freq_hz: float, batch: int = 4, amplitude: float = 0.3) -> torch.Tensor:
    t = torch.arange(SR, dtype=torch.float32) / SR
    return (amplitude * torch.sin(2 * math.pi * freq_hz * t)).repeat(batch, 1)


def peak_hz(audio: torch.Tensor) -> float:
    spectrum = torch.fft.rfft(audio).abs()
    return float(spectrum.argmax()) * SR / audio.shape[-1]


def band_power_db(audio: torch.Tensor, freq_hz: float) -> float:
    spectrum = torch.fft.rfft(audio).abs() ** 2
    k = round(freq_hz * audio.shape[-1] / SR)
    return float(10 * torch.log10(spectrum[..., k - 2 : k + 3].sum()))


def everything(seed: int) -> Compose:
    return Compose(
        [RandomGain(p=1), AddNoise(p=1), RandomFilter(p=1), SyntheticReverb(p=1), SpeedPerturb(factors=[1.1], p=1)],
        seed=seed,
    )


def test_same_seed_same_output_different_seed_different_output():
    audio = torch.randn(4, SR) * 0.1
    a = everything(7)(audio)
    b = everything(7)(audio)
    c = everything(8)(audio)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert a.shape == audio.shape and a.dtype == torch.float32
    assert a.abs().max() <= 1.0  # clipped to the contract's range
    # reset() replays the stream; consecutive calls draw new randomness.
    pipeline = everything(7)
    first = pipeline(audio)
    second = pipeline(audio)
    pipeline.reset()
    assert torch.equal(pipeline(audio), first)
    assert not torch.equal(first, second)


def test_explicit_generator_and_one_dimensional_input():
    pipeline = Compose([RandomGain(p=1)], seed=0)
    audio = torch.randn(SR) * 0.1
    out1 = pipeline.apply(audio, torch.Generator().manual_seed(3))
    out2 = pipeline.apply(audio, torch.Generator().manual_seed(3))
    assert out1.shape == (SR,) and torch.equal(out1, out2)
    with pytest.raises(ValueError, match=r"\[T\] or \[B, T\]"):
        pipeline(torch.zeros(1, 1, SR))


@pytest.mark.parametrize("kind", ["white", "pink", "babble"])
def test_add_noise_hits_the_target_snr(kind):
    clean = torch.randn(6, SR) * 0.05
    noisy = AddNoise(min_snr_db=12.0, max_snr_db=12.0, kinds=[kind], p=1.0)(clean, torch.Generator().manual_seed(0))
    measured = snr_db(clean, noisy - clean)
    assert torch.allclose(measured, torch.full_like(measured, 12.0), atol=1e-3), measured


def test_add_noise_snr_drawn_within_range_and_silence_stays_silent():
    clean = torch.randn(32, SR) * 0.05
    noisy = AddNoise(min_snr_db=5.0, max_snr_db=20.0, kinds=["white"], p=1.0)(clean, torch.Generator().manual_seed(1))
    measured = snr_db(clean, noisy - clean)
    assert float(measured.min()) >= 5.0 - 1e-3 and float(measured.max()) <= 20.0 + 1e-3
    silent = torch.zeros(2, SR)
    assert torch.equal(AddNoise(p=1.0)(silent, torch.Generator().manual_seed(0)), silent)


def test_pink_noise_has_more_low_than_high_frequency_power():
    clean = torch.randn(1, SR) * 0.01
    noisy = AddNoise(10, 10, kinds=["pink"], p=1)(clean, torch.Generator().manual_seed(0))
    spectrum = torch.fft.rfft((noisy - clean)[0]).abs() ** 2
    assert spectrum[100:1000].mean() > 10 * spectrum[10000:20000].mean()


def test_gain_is_within_the_configured_decibels():
    audio = torch.randn(64, SR) * 0.05
    out = RandomGain(min_db=-6, max_db=3, p=1.0)(audio, torch.Generator().manual_seed(0))
    gain_db = 10 * torch.log10(signal_power(out) / signal_power(audio))
    assert float(gain_db.min()) >= -6 - 1e-3 and float(gain_db.max()) <= 3 + 1e-3
    unchanged = RandomGain(p=0.0)(audio, torch.Generator().manual_seed(0))
    assert torch.equal(unchanged, audio)


def _picks_lowpass(seed: int) -> bool:
    """Replay RandomFilter's draws for a batch of one: fire coin, then the low/high-pass coin."""
    gen = torch.Generator().manual_seed(seed)
    torch.rand(1, generator=gen)
    return bool(torch.rand(1, generator=gen) < 0.5)


def test_lowpass_removes_high_tone_and_highpass_removes_low_tone():
    mixture = tone(200.0, batch=1) + tone(15000.0, batch=1)
    filt = RandomFilter(lowpass_hz=(3000.0, 3000.0), highpass_hz=(2000.0, 2000.0), p=1.0)
    low_seed = next(s for s in range(50) if _picks_lowpass(s))
    high_seed = next(s for s in range(50) if not _picks_lowpass(s))
    low = filt(mixture, torch.Generator().manual_seed(low_seed))
    assert band_power_db(mixture, 15000) - band_power_db(low, 15000) > 25  # 12 dB/octave above 3 kHz
    assert abs(band_power_db(mixture, 200) - band_power_db(low, 200)) < 0.5
    high = filt(mixture, torch.Generator().manual_seed(high_seed))
    assert band_power_db(mixture, 200) - band_power_db(high, 200) > 25
    assert abs(band_power_db(mixture, 15000) - band_power_db(high, 15000)) < 0.5


def test_reverb_keeps_length_and_power_but_smears_in_time():
    clicks = torch.zeros(2, SR)
    clicks[:, 1000] = 1.0
    wet = SyntheticReverb(rt60_s=(0.4, 0.4), p=1.0)(clicks, torch.Generator().manual_seed(0))
    assert wet.shape == clicks.shape
    assert torch.allclose(signal_power(wet), signal_power(clicks), rtol=1e-4)
    # Energy now extends well after the click (the decaying tail).
    assert float(wet[:, 1000 + SR // 10 :].abs().sum()) > 0.1


def test_speed_perturbation_shifts_frequency_by_the_factor():
    out = SpeedPerturb(factors=[1.1], p=1.0)(tone(1000.0, batch=2), torch.Generator().manual_seed(0))
    assert out.shape == (2, SR)
    assert abs(peak_hz(out[0]) - 1100.0) < 5.0
    same = SpeedPerturb(factors=[1.0], p=1.0)(tone(1000.0), torch.Generator().manual_seed(0))
    assert abs(peak_hz(same[0]) - 1000.0) < 2.0


def test_bad_parameters_are_rejected_with_their_names():
    with pytest.raises(ValueError, match="p must be in"):
        RandomGain(p=1.5)
    with pytest.raises(ValueError, match="snr_db"):
        AddNoise(min_snr_db=20, max_snr_db=10)
    with pytest.raises(ValueError, match="kinds"):
        AddNoise(kinds=["brown"])
    with pytest.raises(ValueError, match="rt60_s"):
        SyntheticReverb(rt60_s=(0.0, 0.5))
    with pytest.raises(ValueError, match="factors"):
        SpeedPerturb(factors=[])
    with pytest.raises(ValueError, match="cutoffs"):
        RandomFilter(lowpass_hz=(3000.0, 30000.0))


@pytest.mark.parametrize("name", ["default", "strong"])
def test_hydra_augmentation_configs_build_a_working_pipeline(name):
    from importlib.resources import files

    cfg = OmegaConf.load(files("voiceflow_models.configs") / "augmentation" / f"{name}.yaml")
    if "defaults" in cfg:
        cfg = OmegaConf.merge(
            OmegaConf.load(files("voiceflow_models.configs") / "augmentation" / "default.yaml"),
            {k: v for k, v in cfg.items() if k != "defaults"},
        )
    cfg.seed = 5
    pipeline = instantiate(cfg)
    assert isinstance(pipeline, Compose) and pipeline.seed == 5
    out = pipeline(torch.randn(4, SR) * 0.1)
    assert out.shape == (4, SR) and torch.isfinite(out).all()
    np.testing.assert_array_equal(instantiate(cfg)(torch.ones(2, SR) * 0.1), instantiate(cfg)(torch.ones(2, SR) * 0.1))
