"""Synthetic conversations among the voices of one split (train / val / test), without a datamodule.

The datamodule's validation and test conversations and the held-out sets of ``voiceflow_models.evaluation.held_out``
are all built here, so every consumer scores the same audio for the same arguments.
"""

from __future__ import annotations

import math

from voiceflow_contract.spec import SAMPLE_RATE
from voiceflow_models.data.records import Conversation
from voiceflow_models.data.splits import VoiceSplits
from voiceflow_models.data.synthesis.conversation import make_conversation
from voiceflow_models.data.synthesis.voices import Voice, make_voice

#: Conversation partners differ by at least this much in mean pitch (semitones) or vocal-tract length (relative):
#: two near-identical synthetic voices would test nothing but chance.
MIN_F0_SEMITONES = 2.5
MIN_VTL_RATIO = 0.08


def conversation_voice_ids(index: int, voice_ids: list[int], speakers: int) -> list[int]:
    """Voices of conversation ``index``: consecutive, wrapping groups of ``speakers`` from ``voice_ids``."""
    if speakers < 1 or speakers > len(voice_ids):
        raise ValueError(f"speakers: must be within [1, {len(voice_ids)}] (voices available), got {speakers}")
    return [voice_ids[(index * speakers + k) % len(voice_ids)] for k in range(speakers)]


def distinct(a: Voice, b: Voice) -> bool:
    """Whether two voices are far enough apart in pitch or vocal-tract length to be told apart by ear."""
    f0_st = abs(12.0 * math.log2(a.f0_hz / b.f0_hz))
    vtl = abs(a.vtl_scale - b.vtl_scale) / min(a.vtl_scale, b.vtl_scale)
    return f0_st >= MIN_F0_SEMITONES or vtl >= MIN_VTL_RATIO


def pick_conversation_voices(index: int, voice_ids: list[int], speakers: int, voice_seed: int) -> list[Voice]:
    """Voices of conversation ``index``: starting at ``voice_ids[index * speakers]``, the next voices (cyclic) that are
    :func:`distinct` from those already chosen (falling back to plain order if the pool has none)."""
    if speakers < 1 or speakers > len(voice_ids):
        raise ValueError(f"speakers: must be within [1, {len(voice_ids)}] (voices available), got {speakers}")
    n = len(voice_ids)
    first = (index * speakers) % n
    chosen = [make_voice(voice_seed, voice_ids[first])]
    candidates = [voice_ids[(first + k) % n] for k in range(1, n)]
    for vid in candidates:
        if len(chosen) == speakers:
            break
        voice = make_voice(voice_seed, vid)
        if all(distinct(voice, c) for c in chosen):
            chosen.append(voice)
    for vid in candidates:  # not enough distinct voices in the pool: fill in order
        if len(chosen) == speakers:
            break
        if vid not in {c.voice_id for c in chosen}:
            chosen.append(make_voice(voice_seed, vid))
    return chosen


def make_split_conversation(
    split: str,
    index: int,
    seed: int = 0,
    duration_s: float = 30.0,
    *,
    num_voices: int,
    speakers: int = 2,
    voice_seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
    overlap_prob: float = 0.15,
    noise_snr_db: float | None = None,
    uri: str | None = None,
) -> Conversation:
    """Conversation ``index`` among the first ``num_voices`` voices of ``split`` ('val'/'test' are unseen)."""
    splits = VoiceSplits(num_train=2, num_val=num_voices, num_test=num_voices)
    voices = pick_conversation_voices(index, splits.ids(split), speakers, voice_seed)
    return make_conversation(
        voices,
        duration_s,
        seed=seed * 100_003 + index,
        sample_rate=sample_rate,
        uri=uri or f"{split}_{seed}_{index:03d}",
        overlap_prob=overlap_prob,
        noise_snr_db=noise_snr_db,
    )


def make_split_conversations(
    split: str,
    n: int,
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
    """``n`` conversations among voices of ``split`` (default: enough voices for disjoint speaker groups)."""
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    count = num_voices if num_voices is not None else max(speakers, speakers * n)
    return [
        make_split_conversation(
            split,
            i,
            seed,
            duration_s,
            num_voices=count,
            speakers=speakers,
            voice_seed=voice_seed,
            sample_rate=sample_rate,
            overlap_prob=overlap_prob,
            noise_snr_db=noise_snr_db,
        )
        for i in range(n)
    ]


__all__ = [
    "conversation_voice_ids",
    "distinct",
    "make_split_conversation",
    "make_split_conversations",
    "pick_conversation_voices",
]
