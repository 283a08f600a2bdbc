"""Real-corpus loaders on small fixture corpora built here: audio + RTTM (AMI/VoxConverse layouts), LibriSpeech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voiceflow_contract.diarization import Segment, parse_rttm, to_rttm
from voiceflow_models.data.audio_io import read_audio, resample
from voiceflow_models.data.corpora import (
    CorpusSpeakerSource,
    LibriSpeechSpeakerSource,
    RttmCorpus,
    exclusive_regions,
    find_utterances,
    simulate_conversation,
)
from voiceflow_models.data.datamodule import DiarizationDataModule
from voiceflow_models.data.synthesis import make_voice, synthesize_speech
from voiceflow_models.evaluation.held_out import make_test_conversations

SR_IN = 16000


def _write_conversation(audio_path: Path, rttm_path: Path, uri: str, seed: int, duration: float = 8.0) -> list[Segment]:
    conv = make_test_conversations(1, seed=seed, duration_s=duration, sample_rate=SR_IN)[0]
    audio_path.parent.mkdir(parents=True, exist_ok=True)
    rttm_path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(audio_path, conv.audio, SR_IN, subtype="PCM_16")
    rttm_path.write_text(to_rttm(conv.segments, uri))
    return conv.segments


@pytest.fixture(scope="module")
def ami_like(tmp_path_factory) -> Path:
    """<root>/audio/<meeting>.Mix-Headset.wav + <root>/rttm/{train,test}/<meeting>.rttm, 16 kHz audio."""
    root = tmp_path_factory.mktemp("ami")
    for i, (meeting, split) in enumerate([("ES2002a", "train"), ("ES2002b", "train"), ("IS1009a", "test")]):
        _write_conversation(
            root / "audio" / f"{meeting}.Mix-Headset.wav", root / "rttm" / split / f"{meeting}.rttm", meeting, i
        )
    # A reference without audio is reported, not fatal.
    (root / "rttm" / "test" / "TS3003a.rttm").write_text("SPEAKER TS3003a 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n")
    return root


@pytest.fixture(scope="module")
def libri_like(tmp_path_factory) -> Path:
    """<root>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-NNNN.flac at 16 kHz."""
    root = tmp_path_factory.mktemp("libri")
    for split, speakers in (("train-clean-100", ("19", "26", "32")), ("test-clean", ("61", "121", "237", "260"))):
        for s_index, speaker in enumerate(speakers):
            voice = make_voice(99, 500 + s_index + (10 if split == "test-clean" else 0))
            chapter = root / "LibriSpeech" / split / speaker / "1000"
            chapter.mkdir(parents=True)
            for k in range(3):
                utt = synthesize_speech(voice, np.random.default_rng(k), n_phrases=1, sample_rate=SR_IN)
                padded = np.concatenate([np.zeros(SR_IN // 5), utt.audio, np.zeros(SR_IN // 5)])
                sf.write(chapter / f"{speaker}-1000-{k:04d}.flac", padded, SR_IN)
    return root


def test_resample_16k_to_48k_keeps_frequency(tmp_path):
    t = np.arange(SR_IN) / SR_IN
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    up = resample(tone, SR_IN, 48000)
    assert up.shape == (48000,) and up.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(up))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)  # 1 s of audio -> 1 Hz bins
    stereo = np.stack([tone, tone], axis=1)
    sf.write(tmp_path / "tone.wav", stereo, SR_IN)
    part = read_audio(tmp_path / "tone.wav", 0.25, 0.75)
    assert part.shape == (24000,)
    assert np.allclose(part[1000:2000], up[12000 + 1000 : 12000 + 2000], atol=1e-2)
    with pytest.raises(FileNotFoundError):
        read_audio(tmp_path / "missing.wav")


def test_rttm_corpus_matches_uris_and_resamples(ami_like):
    corpus = RttmCorpus(ami_like / "audio", ami_like / "rttm")
    assert [r.uri for r in corpus.recordings] == ["ES2002a", "ES2002b", "IS1009a"]
    assert corpus.missing == ["TS3003a"]
    conv = corpus.conversation(0)
    assert conv.sample_rate == 48000 and len(conv.audio) == 8 * 48000
    reference = parse_rttm((ami_like / "rttm" / "train" / "ES2002a.rttm").read_text())["ES2002a"]
    assert conv.segments == reference
    assert len(list(corpus.conversations())) == 3
    only_test = RttmCorpus(ami_like / "audio", ami_like / "rttm" / "test")
    assert [r.uri for r in only_test.recordings] == ["IS1009a"]
    assert len(corpus.fingerprint()) == 64 and corpus.fingerprint() != only_test.fingerprint()
    with pytest.raises(FileNotFoundError, match="audio_dir"):
        RttmCorpus(ami_like / "nope", ami_like / "rttm")


def test_exclusive_regions():
    segs = [Segment(0, 4, "a"), Segment(3, 6, "b"), Segment(6, 7, "b"), Segment(8, 9, "a")]
    assert exclusive_regions(segs) == [Segment(0, 3, "a"), Segment(4, 7, "b"), Segment(8, 9, "a")]


def test_corpus_speaker_windows_and_heldout_split(ami_like):
    corpus = RttmCorpus(ami_like / "audio", ami_like / "rttm" / "train")
    train = CorpusSpeakerSource(corpus, part="train")
    held = CorpusSpeakerSource(corpus, part="heldout")
    assert train.speakers == held.speakers and all("/" in s for s in train.speakers)
    rng = np.random.default_rng(0)
    window = train.window(0, rng, 48000)
    assert window.shape == (48000,) and window.dtype == np.float32 and np.abs(window).max() > 1e-3
    whole = CorpusSpeakerSource(corpus, part="all")
    checked = 0
    for k in range(len(train.speakers)):
        if len(whole._regions[k]) < 2:  # a single short region is shared by both parts (documented)
            continue
        checked += 1
        a = {(p, round(s, 3)) for p, s, _ in train._regions[k]}
        b = {(p, round(s, 3)) for p, s, _ in held._regions[k]}
        assert not (a & b), "held-out regions are not training regions"
    assert checked > 0
    capped = CorpusSpeakerSource(corpus, max_speakers=2)
    assert len(capped.speakers) == 2


def test_librispeech_conversations_and_windows(libri_like):
    utts = find_utterances(libri_like, "test-clean")
    assert sorted(utts) == ["121", "237", "260", "61"] and all(len(v) == 3 for v in utts.values())
    conv = simulate_conversation(utts, ["61", "121"], 10.0, seed=1, uri="lib1")
    assert conv.sample_rate == 48000 and len(conv.audio) == 480000
    assert {s.speaker for s in conv.segments} == {"61", "121"}
    assert parse_rttm(conv.rttm)["lib1"] == conv.segments
    # Speech is where the reference says (leading silence of each file was trimmed).
    first = conv.segments[0]
    inside = conv.audio[int(first.start * 48000) : int(first.end * 48000)]
    assert np.sqrt(np.mean(inside**2)) > 1e-3
    source = LibriSpeechSpeakerSource(find_utterances(libri_like, "train-clean-100"), part="train")
    assert source.speakers == ["19", "26", "32"]
    assert source.window(1, np.random.default_rng(0), 48000).shape == (48000,)
    with pytest.raises(FileNotFoundError, match="dev-other"):
        find_utterances(libri_like, "dev-other")
    with pytest.raises(ValueError, match="speakers"):
        simulate_conversation(utts, ["nobody"], 5.0, seed=0)


def test_datamodule_on_real_layouts(ami_like, libri_like):
    common = dict(num_val_voices=2, num_test_voices=2, windows_per_epoch=4, val_windows=2, test_windows=2, batch_size=2)
    rttm_dm = DiarizationDataModule(source="rttm", root=str(ami_like), num_train_voices=4, **common)
    rttm_dm.setup("fit")
    x, y = next(iter(rttm_dm.train_dataloader()))
    assert x.shape == (2, 48000) and int(y.max()) < 4
    item = next(iter(rttm_dm.conversation_dataloader("test")))
    assert item["uri"] == "IS1009a" and item["sample_rate"] == 48000
    assert len(rttm_dm.fingerprint()) == 64
    libri_dm = DiarizationDataModule(
        source="librispeech",
        root=str(libri_like),
        num_train_voices=3,
        num_test_conversations=1,
        conversation_duration_s=6.0,
        **common,
    )
    libri_dm.setup()
    x, _ = next(iter(libri_dm.train_dataloader()))
    assert x.shape == (2, 48000)
    conv = libri_dm.conversations("test").conversation(0)
    assert len(conv.audio) == 6 * 48000 and len({s.speaker for s in conv.segments}) == 2
    with pytest.raises(ValueError, match="num_train_voices"):
        DiarizationDataModule(source="librispeech", root=str(libri_like), num_train_voices=5, **common).setup("fit")
