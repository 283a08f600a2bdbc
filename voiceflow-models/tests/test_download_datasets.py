"""voiceflow-datasets: prepare from local fixture archives in the real layouts (no network), safe extraction."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voiceflow_contract.diarization import to_rttm
from voiceflow_models.data.corpora import RttmCorpus, find_utterances
from voiceflow_models.data.download_datasets import DatasetError, main, safe_extract
from voiceflow_models.data.synthesis import make_voice, synthesize_speech
from voiceflow_models.evaluation.held_out import make_test_conversations

SR = 16000


def _flac_bytes(seed: int) -> bytes:
    utt = synthesize_speech(make_voice(5, seed), np.random.default_rng(seed), n_phrases=1, sample_rate=SR)
    buf = io.BytesIO()
    sf.write(buf, utt.audio, SR, format="FLAC")
    return buf.getvalue()


def _wav_and_rttm(uri: str, seed: int) -> tuple[bytes, str]:
    conv = make_test_conversations(1, seed=seed, duration_s=6.0, sample_rate=SR)[0]
    buf = io.BytesIO()
    sf.write(buf, conv.audio, SR, format="WAV", subtype="PCM_16")
    return buf.getvalue(), to_rttm(conv.segments, uri)


def _add_tar(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """Archives named like the real downloads, with the real internal layouts, tiny content."""
    src = tmp_path_factory.mktemp("downloads")
    # LibriSpeech: dev-clean.tar.gz -> LibriSpeech/dev-clean/<spk>/<chapter>/<spk>-<chapter>-NNNN.flac
    with tarfile.open(src / "dev-clean.tar.gz", "w:gz") as tar:
        _add_tar(tar, "LibriSpeech/README.TXT", b"tiny fixture\n")
        for s, speaker in enumerate(("84", "174")):
            for k in range(2):
                _add_tar(
                    tar,
                    f"LibriSpeech/dev-clean/{speaker}/121123/{speaker}-121123-{k:04d}.flac",
                    _flac_bytes(s * 10 + k),
                )
    # VoxConverse: dev wav zip (audio/<uri>.wav) + rttm repository zip (voxconverse-master/dev/<uri>.rttm)
    with (
        zipfile.ZipFile(src / "voxconverse_dev_wav.zip", "w") as wav_zip,
        zipfile.ZipFile(src / "voxconverse-master.zip", "w") as rttm_zip,
    ):
        rttm_zip.writestr("voxconverse-master/README.md", "fixture")
        for i, uri in enumerate(("abjxc", "afjiv")):
            wav, rttm = _wav_and_rttm(uri, i)
            wav_zip.writestr(f"audio/{uri}.wav", wav)
            rttm_zip.writestr(f"voxconverse-master/dev/{uri}.rttm", rttm)
    # AMI: AMI-diarization-setup-main.zip (lists + only_words rttms) and amicorpus/<m>/audio/<m>.Mix-Headset.wav
    with zipfile.ZipFile(src / "AMI-diarization-setup-main.zip", "w") as setup:
        for split, meetings in (("train", ["ES2002a", "ES2002b"]), ("dev", ["ES2011a"]), ("test", ["EN2002a"])):
            setup.writestr(f"AMI-diarization-setup-main/lists/{split}.meetings.txt", "\n".join(meetings) + "\n")
            for i, meeting in enumerate(meetings):
                wav, rttm = _wav_and_rttm(meeting, 10 + i + len(split))
                setup.writestr(f"AMI-diarization-setup-main/only_words/rttms/{split}/{meeting}.rttm", rttm)
                if meeting != "ES2011a":  # one meeting's audio is "not downloaded"
                    wav_path = src / "amicorpus" / meeting / "audio" / f"{meeting}.Mix-Headset.wav"
                    wav_path.parent.mkdir(parents=True)
                    wav_path.write_bytes(wav)
    return src


def test_help_and_list(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "openslr.org/resources/12/train-clean-100.tar.gz" in out
    assert "voxconverse_test_wav.zip" in out and "AMI-diarization-setup" in out and "Mix-Headset.wav" in out


def test_prepare_librispeech(sources, tmp_path):
    root = tmp_path / "data"
    assert (
        main(
            [
                "prepare",
                "librispeech",
                "--root",
                str(root),
                "--source-dir",
                str(sources),
                "--subset",
                "dev-clean",
                "--no-progress",
            ]
        )
        == 0
    )
    utts = find_utterances(root, "dev-clean")
    assert sorted(utts) == ["174", "84"] and all(len(v) == 2 for v in utts.values())
    assert sf.info(str(utts["84"][0])).samplerate == SR
    # Preparing again is a no-op.
    assert (
        main(
            [
                "prepare",
                "librispeech",
                "--root",
                str(root),
                "--source-dir",
                str(sources),
                "--subset",
                "dev-clean",
                "--no-progress",
            ]
        )
        == 0
    )


def test_prepare_voxconverse_then_load(sources, tmp_path):
    root = tmp_path / "data"
    assert (
        main(
            [
                "prepare",
                "voxconverse",
                "--root",
                str(root),
                "--source-dir",
                str(sources),
                "--subset",
                "dev",
                "--no-progress",
            ]
        )
        == 0
    )
    corpus_root = root / "voxconverse"
    assert sorted(p.name for p in (corpus_root / "audio" / "dev").iterdir()) == ["abjxc.wav", "afjiv.wav"]
    corpus = RttmCorpus(corpus_root / "audio", corpus_root / "rttm" / "dev")
    conv = corpus.conversation(0)
    assert conv.uri == "abjxc" and conv.sample_rate == 48000 and len(conv.audio) == 6 * 48000
    assert not (corpus_root / "_extract").exists()


def test_prepare_ami_skips_missing_audio(sources, tmp_path, capsys):
    root = tmp_path / "data"
    assert main(["prepare", "ami", "--root", str(root), "--source-dir", str(sources), "--no-progress"]) == 0
    assert "ES2011a" in capsys.readouterr().err
    ami = root / "ami"
    assert sorted(p.name for p in (ami / "rttm" / "train").iterdir()) == ["ES2002a.rttm", "ES2002b.rttm"]
    corpus = RttmCorpus(ami / "audio", ami / "rttm" / "train")
    assert [r.uri for r in corpus.recordings] == ["ES2002a", "ES2002b"]
    assert corpus.recordings[0].audio_path.name == "ES2002a.Mix-Headset.wav"


def test_missing_source_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["prepare", "librispeech", "--root", str(tmp_path / "d"), "--source-dir", str(empty), "--no-progress"])
    assert code == 2
    assert "dev-clean.tar.gz: not found in --source-dir" in capsys.readouterr().err
    assert main(["prepare", "ami", "--root", str(tmp_path / "d"), "--source-dir", str(tmp_path / "nope")]) == 2


def test_safe_extract_refuses_traversal_and_links(tmp_path):
    evil_tar = tmp_path / "evil.tar.gz"
    with tarfile.open(evil_tar, "w:gz") as tar:
        _add_tar(tar, "../escaped.txt", b"x")
    with pytest.raises(DatasetError, match="unsafe"):
        safe_extract(evil_tar, tmp_path / "out", progress=False)
    assert not (tmp_path / "escaped.txt").exists()

    link_tar = tmp_path / "link.tar"
    with tarfile.open(link_tar, "w") as tar:
        info = tarfile.TarInfo("data/link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(DatasetError, match="not a file"):
        safe_extract(link_tar, tmp_path / "out2", progress=False)

    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as zf:
        zf.writestr("/abs/path.txt", "x")
    with pytest.raises(DatasetError, match="unsafe"):
        safe_extract(evil_zip, tmp_path / "out3", progress=False)

    with pytest.raises(DatasetError, match="unsupported"):
        safe_extract(tmp_path / "file.rar", tmp_path / "out4", progress=False)
