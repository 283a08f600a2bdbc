"""Held-out audio for the benchmarks, from the data package's voice splits (voiceflow_models.data.synthetic_eval).

* test conversations: two-speaker conversations of test-split voices (never used in training), the same audio the
  datamodule's test split, the inference end-to-end tests and the demo score;
* calibration / fitting audio: validation-split voices, so nothing fitted here (int8 ranges, baseline feature
  standardisation) ever sees the test voices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

SAMPLE_RATE = 48_000
WINDOW_SAMPLES = 48_000


class ConversationLike(Protocol):
    """What the benchmarks need of a conversation (voiceflow_models.data.records.Conversation)."""

    uri: str
    audio: np.ndarray
    sample_rate: int
    segments: Sequence[Any]


def held_out_conversations(n: int = 8, duration_s: float = 30.0, seed: int = 0) -> list[ConversationLike]:
    """`n` two-speaker conversations of test-split voices, `duration_s` seconds each, deterministic in `seed`."""
    from voiceflow_models.data.synthetic_eval import make_test_conversations

    if n < 1 or duration_s <= 1.0:
        raise ValueError(f"need n >= 1 and duration_s > 1, got n={n}, duration_s={duration_s}")
    return list(make_test_conversations(n, seed, duration_s, speakers=2))


def validation_conversations(n: int = 2, duration_s: float = 30.0, seed: int = 0) -> list[ConversationLike]:
    """`n` two-speaker conversations of validation-split voices (for calibration and baseline fitting)."""
    from voiceflow_models.data.synthetic_eval import make_split_conversations

    return list(make_split_conversations("val", n, seed, duration_s, speakers=2))


def calibration_windows(
    n: int = 64, seed: int = 7, conversations: Sequence[ConversationLike] | None = None
) -> np.ndarray:
    """`n` 1 s windows [n, 48000] of conversational speech (validation voices by default) for int8 calibration."""
    convs = conversations or validation_conversations(max(1, n // 40 + 1), duration_s=30.0, seed=seed)
    rng = np.random.default_rng(seed)
    windows = []
    for i in range(n):
        audio = np.asarray(convs[i % len(convs)].audio, dtype=np.float32)
        if len(audio) <= WINDOW_SAMPLES:
            window = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
            window[: len(audio)] = audio
        else:
            start = int(rng.integers(0, len(audio) - WINDOW_SAMPLES))
            window = audio[start : start + WINDOW_SAMPLES]
        windows.append(window)
    return np.stack(windows).astype(np.float32)
