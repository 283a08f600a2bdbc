"""``DiarizationDataModule``: the Lightning datamodule behind every training run (Hydra: ``configs/data/*.yaml``).

Splits:
- train: 1 s single-speaker windows of the *training* speakers (labels = speaker index), fresh windows every epoch;
- val / test (``val_dataloader``/``test_dataloader``): held-out windows (other utterances) of the same training
  speakers, for classification accuracy;
- val / test conversations (``conversation_dataloader(split)``/``conversations(split)``): multi-speaker recordings
  of *unseen* speakers with reference RTTM, for DER. Synthetic train/val/test voices come from disjoint id ranges.

Sources: ``synthetic`` (default, no download), ``rttm`` (any audio + RTTM corpus: AMI, VoxConverse), ``librispeech``
(LibriSpeech-style folders, simulated conversations).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytorch_lightning as L
from torch.utils.data import DataLoader

from voiceflow_contract.spec import SAMPLE_RATE, WINDOW_SAMPLES
from voiceflow_models.data.corpora.librispeech import (
    LibriSpeechSpeakerSource,
    find_utterances,
    simulate_conversation,
)
from voiceflow_models.data.corpora.librispeech import fingerprint as librispeech_fingerprint
from voiceflow_models.data.corpora.rttm_corpus import CorpusSpeakerSource, RttmCorpus
from voiceflow_models.data.records import Conversation
from voiceflow_models.data.sources import SpeakerSource, SyntheticVoicePool
from voiceflow_models.data.split_conversations import conversation_voice_ids, make_split_conversation
from voiceflow_models.data.splits import VoiceSplits
from voiceflow_models.data.synthesis.voices import GENERATOR_VERSION, make_voices
from voiceflow_models.data.windows import Augment, ConversationDataset, EpochSampler, SpeakerWindowDataset, first_item

SOURCES = ("synthetic", "rttm", "librispeech")
# Different pool/item seeds per split so held-out windows are other utterances / other crops.
_SPLIT_SEED = {"train": 0, "val": 1_000_003, "test": 2_000_029}


class DiarizationDataModule(L.LightningDataModule):
    """Speaker-classification windows for training and conversations for DER (see module docstring).

    Args:
        source: ``synthetic`` | ``rttm`` | ``librispeech``.
        num_train_voices: training speakers = classifier classes (for corpora: the N speakers with most speech).
        num_val_voices / num_test_voices: unseen speakers for the val / test conversations.
        windows_per_epoch / val_windows / test_windows: windows per epoch of each split.
        batch_size, num_workers, pin_memory, persistent_workers: DataLoader settings.
        seed: seeds every window and conversation.
        sample_rate / window_samples: the model contract's SAMPLE_RATE / WINDOW_SAMPLES.
        voice_seed: the synthetic voice family (voices are drawn from (voice_seed, voice_id)).
        seconds_per_voice: synthetic speech pooled per training voice (windows are random crops of it).
        num_val_conversations / num_test_conversations / conversation_duration_s / speakers_per_conversation,
            overlap_prob, noise_snr_db: the evaluation conversations.
        root: corpus root for ``rttm`` (``<root>/audio`` + ``<root>/rttm``) and ``librispeech``
            (``<root>/<split>/...`` or ``<root>/LibriSpeech/<split>/...``).
        audio_dir, rttm_dir: override ``<root>/audio`` / ``<root>/rttm``.
        train_subset / eval_subset: subfolders of ``rttm_dir`` for training speakers / eval conversations (used
            when they exist, e.g. AMI's train/test lists), or LibriSpeech splits (train-clean-100 / test-clean).
        augment: optional per-window waveform transform (``Tensor -> Tensor``) for training windows.
        precompute: synthesise the training voices' pools in ``setup`` (workers then inherit them).
    """

    def __init__(
        self,
        source: str = "synthetic",
        num_train_voices: int = 40,
        num_val_voices: int = 8,
        num_test_voices: int = 8,
        windows_per_epoch: int = 4096,
        val_windows: int = 1024,
        test_windows: int = 1024,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        sample_rate: int = SAMPLE_RATE,
        window_samples: int = WINDOW_SAMPLES,
        voice_seed: int = 0,
        seconds_per_voice: float = 30.0,
        num_val_conversations: int = 4,
        num_test_conversations: int = 8,
        conversation_duration_s: float = 60.0,
        speakers_per_conversation: int = 2,
        overlap_prob: float = 0.15,
        noise_snr_db: float | None = None,
        root: str | None = None,
        audio_dir: str | None = None,
        rttm_dir: str | None = None,
        train_subset: str | None = None,
        eval_subset: str | None = None,
        augment: Augment | None = None,
        precompute: bool = True,
        pin_memory: bool = False,
        persistent_workers: bool = False,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"source: must be one of {', '.join(SOURCES)}; got {source!r}")
        if sample_rate != SAMPLE_RATE and source == "synthetic" and window_samples == WINDOW_SAMPLES:
            raise ValueError(f"sample_rate: the model contract is {SAMPLE_RATE} Hz for {WINDOW_SAMPLES}-sample windows")
        for name, value in (
            ("windows_per_epoch", windows_per_epoch),
            ("val_windows", val_windows),
            ("test_windows", test_windows),
            ("batch_size", batch_size),
        ):
            if value < 1:
                raise ValueError(f"{name}: must be >= 1, got {value}")
        if num_workers < 0:
            raise ValueError(f"num_workers: must be >= 0, got {num_workers}")
        if source != "synthetic" and root is None and (audio_dir is None or (source == "rttm" and rttm_dir is None)):
            raise ValueError(f"root: source {source!r} needs data.root (see `voiceflow-datasets prepare --help`)")
        self.splits = VoiceSplits(num_train_voices, num_val_voices, num_test_voices)
        self.save_hyperparameters(ignore=["augment"])
        self.source = source
        self.batch_size = batch_size
        self.augment = augment
        self._sources: dict[str, SpeakerSource] = {}
        self._conversations: dict[str, list[Conversation | Callable[[], Conversation]]] = {}
        self._corpus_fingerprint: str | None = None

    # --- configuration helpers -------------------------------------------------------------------------------------

    @property
    def hp(self) -> Any:
        """The constructor arguments (Lightning hparams)."""
        return self.hparams

    @property
    def num_classes(self) -> int:
        """Number of training speakers (the model's ``num_speakers``)."""
        return int(self.hp.num_train_voices)

    def describe(self) -> str:
        """One-line description of the data for metadata.json's ``training.dataset``."""
        hp = self.hp
        if self.source == "synthetic":
            return (
                f"synthetic source-filter voices ({GENERATOR_VERSION}): {hp.num_train_voices} train / "
                f"{hp.num_val_voices} val / {hp.num_test_voices} test voices (disjoint)"
            )
        return f"{self.source} corpus at {hp.root or hp.audio_dir}: {hp.num_train_voices} training speakers"

    def fingerprint(self) -> str:
        """sha256 over the data configuration and the generator version (synthetic) or the corpus files (real)."""
        loader_only = {"num_workers", "pin_memory", "persistent_workers", "precompute"}
        config = {k: v for k, v in dict(self.hp).items() if k not in loader_only}
        config["generator_version"] = GENERATOR_VERSION
        if self.source != "synthetic":
            config["corpus"] = self._corpus_digest()
        return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()

    # --- corpus locations --------------------------------------------------------------------------------------------

    def _rttm_dirs(self) -> tuple[Path, Path, Path]:
        hp = self.hp
        audio = Path(hp.audio_dir) if hp.audio_dir else Path(hp.root) / "audio"
        rttm = Path(hp.rttm_dir) if hp.rttm_dir else Path(hp.root) / "rttm"
        train_subset = hp.train_subset or "train"
        eval_subset = hp.eval_subset or "test"
        train = rttm / train_subset if (rttm / train_subset).is_dir() else rttm
        evaluation = rttm / eval_subset if (rttm / eval_subset).is_dir() else rttm
        return audio, train, evaluation

    def _libri_splits(self) -> tuple[str, str]:
        return self.hp.train_subset or "train-clean-100", self.hp.eval_subset or "test-clean"

    def _corpus_digest(self) -> str:
        if self._corpus_fingerprint is None:
            if self.source == "rttm":
                audio, train, evaluation = self._rttm_dirs()
                parts = [RttmCorpus(audio, train).fingerprint(), RttmCorpus(audio, evaluation).fingerprint()]
            else:
                train_split, eval_split = self._libri_splits()
                parts = [
                    librispeech_fingerprint(find_utterances(self.hp.root, train_split)),
                    librispeech_fingerprint(find_utterances(self.hp.root, eval_split)),
                ]
            self._corpus_fingerprint = hashlib.sha256("".join(parts).encode()).hexdigest()
        return self._corpus_fingerprint

    # --- sources -----------------------------------------------------------------------------------------------------

    def speaker_source(self, split: str = "train") -> SpeakerSource:
        """Training-speaker windows for ``split`` ('train', or held-out utterances for 'val'/'test')."""
        if split not in _SPLIT_SEED:
            raise ValueError(f"split: must be train, val or test; got {split!r}")
        if split in self._sources:
            return self._sources[split]
        hp = self.hp
        source: SpeakerSource
        if self.source == "synthetic":
            voices = make_voices(hp.voice_seed, self.splits.train_ids)
            seconds = hp.seconds_per_voice if split == "train" else max(4.0, hp.seconds_per_voice / 4)
            source = SyntheticVoicePool(voices, seconds, seed=hp.seed + _SPLIT_SEED[split], sample_rate=hp.sample_rate)
        elif self.source == "rttm":
            audio, train, _ = self._rttm_dirs()
            source = CorpusSpeakerSource(
                RttmCorpus(audio, train),
                max_speakers=hp.num_train_voices,
                part="train" if split == "train" else "heldout",
                sample_rate=hp.sample_rate,
            )
        else:
            train_split, _ = self._libri_splits()
            utterances = find_utterances(hp.root, train_split)
            speakers = sorted(utterances)[: hp.num_train_voices]
            source = LibriSpeechSpeakerSource(
                utterances,
                speakers,
                sample_rate=hp.sample_rate,
                part="train" if split == "train" else "heldout",
            )
        if len(source.speakers) != hp.num_train_voices:
            raise ValueError(
                f"num_train_voices: the {self.source} data has {len(source.speakers)} usable training speakers, "
                f"config asks for {hp.num_train_voices}"
            )
        self._sources[split] = source
        return source

    def conversations(self, split: str = "test") -> ConversationDataset:
        """Evaluation conversations of unseen speakers for ``split`` ('val' or 'test'), generated lazily."""
        if split not in ("val", "test"):
            raise ValueError(f"split: conversations exist for val and test; got {split!r}")
        if split not in self._conversations:
            self._conversations[split] = self._conversation_factories(split)
        return ConversationDataset(self._conversations[split])

    def _conversation_factories(self, split: str) -> list[Conversation | Callable[[], Conversation]]:
        hp = self.hp
        count = hp.num_val_conversations if split == "val" else hp.num_test_conversations
        voices = hp.num_val_voices if split == "val" else hp.num_test_voices
        seed = hp.seed + _SPLIT_SEED[split]
        if self.source == "synthetic":
            return [
                partial(
                    make_split_conversation,
                    split,
                    i,
                    seed,
                    hp.conversation_duration_s,
                    num_voices=voices,
                    speakers=hp.speakers_per_conversation,
                    voice_seed=hp.voice_seed,
                    sample_rate=hp.sample_rate,
                    overlap_prob=hp.overlap_prob,
                    noise_snr_db=hp.noise_snr_db,
                )
                for i in range(count)
            ]
        if self.source == "rttm":
            audio, _, evaluation = self._rttm_dirs()
            corpus = RttmCorpus(audio, evaluation)
            picks = range(len(corpus)) if split == "test" else range(min(count, len(corpus)))
            return [partial(corpus.conversation, i, hp.sample_rate) for i in picks]
        _, eval_split = self._libri_splits()
        utterances = find_utterances(hp.root, eval_split)
        speakers = sorted(utterances)
        # val and test use disjoint halves of the evaluation split's speakers.
        half = speakers[: len(speakers) // 2] if split == "val" and len(speakers) > 3 else speakers
        if split == "test" and len(speakers) > 3:
            half = speakers[len(speakers) // 2 :]
        pool = half[: max(voices, hp.speakers_per_conversation)]
        return [
            partial(
                simulate_conversation,
                utterances,
                [pool[k] for k in conversation_voice_ids(i, list(range(len(pool))), hp.speakers_per_conversation)],
                hp.conversation_duration_s,
                seed * 7919 + i,
                sample_rate=hp.sample_rate,
                uri=f"libri_{split}_{i:03d}",
                overlap_prob=hp.overlap_prob,
            )
            for i in range(count)
        ]

    # --- Lightning hooks ---------------------------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        """Build the sources the stage needs (and synthesise the training pools when ``precompute``)."""
        if stage in (None, "fit"):
            train = self.speaker_source("train")
            if self.hp.precompute and isinstance(train, SyntheticVoicePool):
                train.prepare()
            self.speaker_source("val")
        if stage in (None, "validate"):
            self.speaker_source("val")
        if stage in (None, "test"):
            self.speaker_source("test")

    def _loader(self, dataset: Any, **kwargs: Any) -> DataLoader[Any]:
        workers = int(self.hp.num_workers)
        return DataLoader(
            dataset,
            num_workers=workers,
            pin_memory=bool(self.hp.pin_memory),
            persistent_workers=bool(self.hp.persistent_workers) and workers > 0,
            **kwargs,
        )

    def window_dataset(self, split: str) -> SpeakerWindowDataset:
        """The classification-window dataset of ``split``."""
        count = {"train": self.hp.windows_per_epoch, "val": self.hp.val_windows, "test": self.hp.test_windows}[split]
        return SpeakerWindowDataset(
            self.speaker_source(split),
            count,
            seed=self.hp.seed + _SPLIT_SEED[split],
            window_samples=self.hp.window_samples,
            augment=self.augment if split == "train" else None,
        )

    def train_dataloader(self) -> DataLoader[Any]:
        """Fresh seeded training windows each epoch (``EpochSampler``)."""
        dataset = self.window_dataset("train")
        sampler = EpochSampler(len(dataset), seed=self.hp.seed)
        return self._loader(dataset, batch_size=self.batch_size, sampler=sampler, drop_last=False)

    def val_dataloader(self) -> DataLoader[Any]:
        """Held-out windows of the training speakers (the same windows every epoch)."""
        return self._loader(self.window_dataset("val"), batch_size=self.batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader[Any]:
        """Other held-out windows of the training speakers (classification accuracy after training)."""
        return self._loader(self.window_dataset("test"), batch_size=self.batch_size, shuffle=False)

    def conversation_dataloader(self, split: str = "test") -> DataLoader[Any]:
        """One conversation dict per batch (uri, audio tensor, sample_rate, segments, rttm) for DER."""
        return self._loader(self.conversations(split), batch_size=1, shuffle=False, collate_fn=first_item)
