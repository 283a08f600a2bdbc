"""Torch datasets: single-speaker classification windows and evaluation conversations."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from voiceflow_contract.spec import WINDOW_SAMPLES
from voiceflow_models.data.records import Conversation
from voiceflow_models.data.sources import SpeakerSource

Augment = Callable[[torch.Tensor], torch.Tensor]


class SpeakerWindowDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """``(audio [window_samples] float32, label int64)`` windows of one speaker's speech, made on the fly.

    Item ``index`` is deterministic: its random generator is seeded with ``(seed, index)``. Indices beyond ``len`` are
    valid too: :class:`EpochSampler` offsets them by ``epoch * len`` so each epoch sees new windows. ``augment`` runs
    inside a forked torch RNG seeded from the same generator, so augmented items are deterministic as well.
    """

    def __init__(
        self,
        source: SpeakerSource,
        num_windows: int,
        seed: int = 0,
        window_samples: int = WINDOW_SAMPLES,
        augment: Augment | None = None,
    ) -> None:
        if num_windows < 1:
            raise ValueError(f"num_windows: must be >= 1, got {num_windows}")
        if len(source.speakers) < 1:
            raise ValueError("source: has no speakers")
        self.source = source
        self.num_windows = int(num_windows)
        self.seed = int(seed)
        self.window_samples = int(window_samples)
        self.augment = augment

    @property
    def num_classes(self) -> int:
        """Number of speakers (labels 0..num_classes-1)."""
        return len(self.source.speakers)

    def __len__(self) -> int:
        return self.num_windows

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index < 0:
            raise IndexError(f"index: must be >= 0, got {index}")
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, int(index)])
        label = int(rng.integers(self.num_classes))
        audio = torch.from_numpy(np.ascontiguousarray(self.source.window(label, rng, self.window_samples)))
        if self.augment is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(rng.integers(2**31)))
                audio = self.augment(audio)
        return audio.to(torch.float32), torch.tensor(label, dtype=torch.int64)


class EpochSampler(Sampler[int]):
    """Indices ``epoch*n .. epoch*n + n - 1`` so every epoch draws fresh (still deterministic) windows.

    Lightning calls ``set_epoch`` before each epoch (also after resuming); without it the epoch advances on each
    iteration. ``shuffle`` permutes the order within an epoch (seeded by the epoch).
    """

    def __init__(self, num_samples: int, seed: int = 0, shuffle: bool = False) -> None:
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch the next iteration draws."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        order = np.arange(self.num_samples)
        if self.shuffle:
            order = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch]).permutation(self.num_samples)
        base = self.epoch * self.num_samples
        self.epoch += 1
        return iter((base + order).tolist())


class ConversationDataset(Dataset[dict[str, object]]):
    """Evaluation conversations as dicts: uri, audio (float32 tensor), sample_rate, segments, rttm.

    ``conversations`` is a sequence of :class:`Conversation` or a zero-argument factory per item (generated lazily and
    cached when ``cache`` is true).
    """

    def __init__(
        self, conversations: Sequence[Conversation | Callable[[], Conversation]], *, cache: bool = True
    ) -> None:
        self._items = list(conversations)
        self._cache: dict[int, Conversation] = {}
        self.cache = cache

    def __len__(self) -> int:
        return len(self._items)

    def conversation(self, index: int) -> Conversation:
        """The :class:`Conversation` at ``index``."""
        if index in self._cache:
            return self._cache[index]
        item = self._items[index]
        conv = item if isinstance(item, Conversation) else item()
        if self.cache:
            self._cache[index] = conv
        return conv

    def __getitem__(self, index: int) -> dict[str, object]:
        item = self.conversation(index).as_item()
        item["audio"] = torch.from_numpy(np.ascontiguousarray(item["audio"]))  # type: ignore[arg-type]
        return item


def first_item(batch: list[dict[str, object]]) -> dict[str, object]:
    """Collate for conversation loaders (batch_size=1): the conversation dict itself."""
    return batch[0]
