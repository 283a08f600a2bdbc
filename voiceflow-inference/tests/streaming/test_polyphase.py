"""The numpy polyphase resampler gives scipy.signal's filter and resample_poly output (scipy is a test dependency)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import firwin
from scipy.signal import resample_poly as scipy_resample_poly

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_inference.streaming.polyphase import kaiser_lowpass, resample_poly


@pytest.mark.parametrize("rate", [8_000, 11_025, 16_000, 22_050, 44_100, 96_000, 192_000])
@pytest.mark.parametrize("n", [0, 1, 7, 999, 4_411])
def test_matches_scipy(rate: int, n: int) -> None:
    g = math.gcd(rate, SAMPLE_RATE)
    up, down = SAMPLE_RATE // g, rate // g
    half_len = 10 * max(up, down)
    taps = kaiser_lowpass(2 * half_len + 1, 1.0 / max(up, down), 5.0)
    reference_taps = firwin(2 * half_len + 1, 1.0 / max(up, down), window=("kaiser", 5.0))
    np.testing.assert_allclose(taps, reference_taps, atol=1e-12)
    x = np.random.default_rng(rate + n).standard_normal(n)
    got = resample_poly(x, up, down, taps)
    want = scipy_resample_poly(x, up, down, window=reference_taps.copy())
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-9)
