"""Window datasets, the epoch sampler and the synthetic DiarizationDataModule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voiceflow_models.data.datamodule import DiarizationDataModule
from voiceflow_models.data.sources import SyntheticVoicePool
from voiceflow_models.data.splits import SPLIT_OFFSETS
from voiceflow_models.data.synthesis import make_voices
from voiceflow_models.data.windows import ConversationDataset, EpochSampler, SpeakerWindowDataset
from voiceflow_models.evaluation.held_out import make_test_conversations

TINY = dict(
    num_train_voices=3,
    num_val_voices=2,
    num_test_voices=2,
    windows_per_epoch=6,
    val_windows=4,
    test_windows=4,
    batch_size=3,
    seconds_per_voice=3.0,
    num_val_conversations=1,
    num_test_conversations=2,
    conversation_duration_s=6.0,
    seed=7,
)


@pytest.fixture(scope="module")
def pool() -> SyntheticVoicePool:
    p = SyntheticVoicePool(make_voices(0, range(3)), seconds_per_voice=3.0, seed=1)
    p.prepare()
    return p


def test_windows_are_deterministic_per_index(pool):
    ds = SpeakerWindowDataset(pool, num_windows=8, seed=3)
    a, la = ds[5]
    b, lb = ds[5]
    assert a.shape == (48000,) and a.dtype == torch.float32 and la.dtype == torch.int64
    assert torch.equal(a, b) and int(la) == int(lb)
    assert not torch.equal(ds[5][0], ds[6][0])
    assert not torch.equal(ds[5][0], ds[5 + 8][0]), "the next epoch's index gives a new window"
    assert {int(ds[i][1]) for i in range(40)} == {0, 1, 2}
    # Windows are mostly speech: RMS near the voice's level, not silence.
    assert float(a.pow(2).mean().sqrt()) > 1e-3
    with pytest.raises(IndexError):
        ds[-1]


def test_augment_hook_is_seeded_and_leaves_global_rng_alone(pool):
    def augment(x: torch.Tensor) -> torch.Tensor:
        return x + 0.01 * torch.randn_like(x)

    ds = SpeakerWindowDataset(pool, num_windows=4, seed=3, augment=augment)
    plain = SpeakerWindowDataset(pool, num_windows=4, seed=3)
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    x1, _ = ds[2]
    after = torch.rand(1)
    assert torch.equal(before, after), "augmentation must not consume the global torch RNG"
    x2, _ = ds[2]
    assert torch.equal(x1, x2)
    assert not torch.equal(x1, plain[2][0])


def test_epoch_sampler():
    sampler = EpochSampler(4)
    assert list(sampler) == [0, 1, 2, 3]
    assert list(sampler) == [4, 5, 6, 7], "iterating again advances the epoch"
    sampler.set_epoch(5)
    assert list(sampler) == [20, 21, 22, 23]
    shuffled = EpochSampler(6, seed=1, shuffle=True)
    shuffled.set_epoch(2)
    assert sorted(shuffled) == list(range(12, 18))


def test_synthetic_datamodule_batches_and_splits():
    dm = DiarizationDataModule(**TINY)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (3, 48000) and y.shape == (3,) and int(y.max()) < 3
    vx, _vy = next(iter(dm.val_dataloader()))
    assert vx.shape == (3, 48000)
    assert not torch.equal(vx, x)
    dm.setup("test")
    tx, _ = next(iter(dm.test_dataloader()))
    assert not torch.equal(tx, vx)
    assert dm.num_classes == 3
    # Validation windows are other utterances of the training voices.
    train_pool, val_pool = dm.speaker_source("train"), dm.speaker_source("val")
    assert train_pool.speakers == val_pool.speakers
    assert not np.array_equal(train_pool.audio(0)[:48000], val_pool.audio(0)[:48000])  # type: ignore[attr-defined]
    # Test conversations use unseen voices.
    item = next(iter(dm.conversation_dataloader("test")))
    assert set(item) == {"uri", "audio", "sample_rate", "segments", "rttm"}
    assert isinstance(item["audio"], torch.Tensor) and item["audio"].shape == (6 * 48000,)
    ids = {int(s.speaker.removeprefix("voice")) for s in item["segments"]}
    assert all(i >= SPLIT_OFFSETS["test"] for i in ids)
    assert len(dm.conversations("test")) == 2 and len(dm.conversations("val")) == 1
    val_ids = {int(s.speaker.removeprefix("voice")) for s in dm.conversations("val").conversation(0).segments}
    assert all(SPLIT_OFFSETS["val"] <= i < SPLIT_OFFSETS["test"] for i in val_ids)


def test_fingerprint_tracks_the_data_config():
    a = DiarizationDataModule(**TINY).fingerprint()
    assert a == DiarizationDataModule(**TINY).fingerprint()
    assert a == DiarizationDataModule(**{**TINY, "num_workers": 2}).fingerprint(), "loader settings are not data"
    assert a != DiarizationDataModule(**{**TINY, "seed": 8}).fingerprint()
    assert a != DiarizationDataModule(**{**TINY, "num_train_voices": 4}).fingerprint()
    assert len(a) == 64 and "synthetic" in DiarizationDataModule(**TINY).describe()


def test_datamodule_rejects_bad_config():
    with pytest.raises(ValueError, match="source"):
        DiarizationDataModule(source="mp3s")
    with pytest.raises(ValueError, match="root"):
        DiarizationDataModule(source="rttm")
    with pytest.raises(ValueError, match="batch_size"):
        DiarizationDataModule(batch_size=0)
    with pytest.raises(ValueError, match="num_train"):
        DiarizationDataModule(num_train_voices=1)


def test_conversation_dataset_lazy_cache():
    calls = []

    def factory():
        calls.append(1)
        return make_test_conversations(1, duration_s=3.0)[0]

    ds = ConversationDataset([factory])
    assert ds[0]["uri"] == ds[0]["uri"] and len(calls) == 1
