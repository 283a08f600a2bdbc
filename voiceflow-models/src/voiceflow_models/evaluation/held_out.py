"""Held-out audio, from the data package's voice splits (voiceflow_models.data.split_conversations).

* test conversations: conversations of test-split voices (never used in training), the same audio the datamodule's
  test split, the benchmarks, the inference end-to-end tests and the demo score;
* calibration / fitting audio: validation-split voices, so nothing fitted here (int8 ranges, baseline feature
  standardisation) ever sees the test voices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from voiceflow_contract.spec import SAMPLE_RATE, WINDOW_SAMPLES
from voiceflow_models.data.records import Conversation
from voiceflow_models.data.split_conversations import make_split_conversations


class ConversationLike(Protocol):
    """What the benchmarks need of a conversation (voiceflow_models.data.records.Conversation)."""

    uri: str
    audio: np.ndarray
    sample_rate: int
    segments: Sequence[Any]


def make_test_conversations(
    n: int = 1,
    seed: int = 0,
    duration_s: float = 30.0,
    *,
    num_voices: int | None = None,
    speakers: int = 2,
    voice_seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
    overlap_prob: float = 0.15,
    noise_snr_db: float | None = None,
) -> list[Conversation]:
    """``n`` held-out conversations of test-split voices (never used for training), each with reference RTTM.

    Deterministic in all arguments; ``sample_rate`` other than the contract's gives audio synthesised at that rate.
    """
    return make_split_conversations(
        "test",
        n,
        seed,
        duration_s,
        num_voices=num_voices,
        speakers=speakers,
        voice_seed=voice_seed,
        sample_rate=sample_rate,
        overlap_prob=overlap_prob,
        noise_snr_db=noise_snr_db,
    )


def held_out_conversations(n: int = 8, duration_s: float = 30.0, seed: int = 0) -> list[ConversationLike]:
    """`n` two-speaker conversations of test-split voices, `duration_s` seconds each, deterministic in `seed`."""
    if n < 1 or duration_s <= 1.0:
        raise ValueError(f"need n >= 1 and duration_s > 1, got n={n}, duration_s={duration_s}")
    return list(make_test_conversations(n, seed, duration_s, speakers=2))


def validation_conversations(n: int = 2, duration_s: float = 30.0, seed: int = 0) -> list[ConversationLike]:
    """`n` two-speaker conversations of validation-split voices (for calibration and baseline fitting)."""
    return list(make_split_conversations("val", n, seed, duration_s, speakers=2))


def calibration_windows(
    n: int = 64, seed: int = 7, conversations: Sequence[ConversationLike] | None = None
) -> np.ndarray:
    """`n` 1 s windows [n, WINDOW_SAMPLES] of conversational speech (validation voices by default), for int8."""
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
