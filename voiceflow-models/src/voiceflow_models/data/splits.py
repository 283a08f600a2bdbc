"""Disjoint voice-id ranges for the train, validation and test splits of the synthetic data."""

from __future__ import annotations

from dataclasses import dataclass

#: Each split draws its voice ids from its own range, so splits can never share a voice.
SPLIT_OFFSETS: dict[str, int] = {"train": 0, "val": 100_000, "test": 200_000}
MAX_VOICES_PER_SPLIT = 100_000


@dataclass(frozen=True)
class VoiceSplits:
    """Voice ids of each split: ``train`` voices are the classifier's classes, ``val``/``test`` are unseen voices."""

    num_train: int
    num_val: int
    num_test: int

    def __post_init__(self) -> None:
        for name in ("num_train", "num_val", "num_test"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_VOICES_PER_SPLIT:
                raise ValueError(f"{name}: must be within [0, {MAX_VOICES_PER_SPLIT}], got {value}")
        if self.num_train < 2:
            raise ValueError(f"num_train: a speaker classifier needs at least 2 voices, got {self.num_train}")

    def ids(self, split: str) -> list[int]:
        """Voice ids of ``split`` ('train', 'val' or 'test')."""
        if split not in SPLIT_OFFSETS:
            raise ValueError(f"split: must be one of {sorted(SPLIT_OFFSETS)}, got {split!r}")
        count = {"train": self.num_train, "val": self.num_val, "test": self.num_test}[split]
        return list(range(SPLIT_OFFSETS[split], SPLIT_OFFSETS[split] + count))

    @property
    def train_ids(self) -> list[int]:
        """Training voices (classifier classes, in label order)."""
        return self.ids("train")

    @property
    def val_ids(self) -> list[int]:
        """Unseen voices for validation conversations."""
        return self.ids("val")

    @property
    def test_ids(self) -> list[int]:
        """Unseen voices for held-out test conversations."""
        return self.ids("test")
