"""The deploy smoke test's answer rules (voiceflow_inference.client.smoke) on hand-made /infer answers."""

from __future__ import annotations

import numpy as np
import pytest

from voiceflow_inference.client.smoke import check_probabilities, synthetic_windows


def test_synthetic_windows_are_deterministic_one_second_windows_in_range() -> None:
    windows = synthetic_windows(4)
    assert windows.shape == (4, 48000) and windows.dtype == np.float64
    assert np.all(np.abs(windows) <= 1.0) and np.array_equal(windows, synthetic_windows(4))
    assert np.abs(windows[0]).max() < 0.01 < np.abs(windows[1]).max()  # window 0 is near silence, then tones


def test_good_rows_pass() -> None:
    assert check_probabilities({"probabilities": [[0.25, 0.75], [1.0, 0.0]]}, windows=2, num_speakers=2) is None


@pytest.mark.parametrize(
    ("probabilities", "says"),
    [
        ([[0.5, 0.5]], "expected 2 rows"),
        ([[0.5, 0.5], [0.2, 0.3, 0.5]], "row 1 has 3 speakers"),
        ([[0.5, 0.5], [float("nan"), 1.0]], "row 1 holds a non-finite value"),
        ([[0.5, 0.5], [1.5, -0.5]], "outside [0, 1]"),
        ([[0.5, 0.5], [0.2, 0.2]], "row 1 sums to 0.400000"),
        ("oops", "expected 2 rows"),
    ],
    ids=["rows", "speakers", "nan", "range", "sum", "type"],
)
def test_bad_rows_are_named(probabilities: object, says: str) -> None:
    problem = check_probabilities({"probabilities": probabilities}, windows=2, num_speakers=2)
    assert problem is not None and says in problem
