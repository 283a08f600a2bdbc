"""The real development recording (pyannote.audio sample): unpacking, and the DER targets with GE2E embeddings."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import pytest

from voiceflow_contract.diarization import make_vad
from voiceflow_contract.schemas import RealSpeechAccuracy
from voiceflow_models.benchmarks import real_sample
from voiceflow_models.benchmarks.real_sample_onnx import real_sample_accuracy

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO / "data" / "real-sample"


def test_unpack_takes_the_sample_out_of_the_wheel(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "pyannote_audio-4.0.7-py3-none-any.whl", "w") as wheel:
        for member in real_sample.SAMPLE_MEMBERS:
            wheel.writestr(member, f"content of {member}")
        wheel.writestr("pyannote/audio/__init__.py", "")
    written = real_sample.unpack_sample(wheels, tmp_path / "out")
    assert sorted(p.name for p in written) == ["sample.rttm", "sample.wav"]
    assert (tmp_path / "out" / "sample.rttm").read_text().endswith("sample.rttm")
    with pytest.raises(FileNotFoundError, match="pip download"):
        real_sample.unpack_sample(tmp_path / "out", tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="make real-sample"):
        real_sample.load_sample(tmp_path / "nowhere")


@pytest.mark.skipif(not (SAMPLE_DIR / "sample.wav").is_file(), reason="real sample absent: run `make real-sample`")
@pytest.mark.skipif(importlib.util.find_spec("resemblyzer") is None, reason="needs resemblyzer (make setup)")
def test_ge2e_with_the_final_re_clustering_meets_the_targets_on_the_real_sample() -> None:
    # The development recording (the final pass was chosen on it): <= 20 % DER at collar 0, <= 8 % at +-0.25 s,
    # two speakers, never told the count; the previous finalize and the one-speaker baseline are far above.
    recording = real_sample.load_sample(SAMPLE_DIR)
    recording = real_sample.Recording(
        real_sample.normalise_volume(recording.audio), recording.sample_rate, recording.reference
    )
    ge2e, vad = real_sample.Ge2eVectors(), make_vad("energy")
    new = real_sample.score(recording, ge2e, vad, method=real_sample.GE2E_METHOD)
    assert new["der_collar_0"] <= 0.20 and new["der_collar_025"] <= 0.08 and new["speakers"] == 2
    old = real_sample.score(recording, ge2e, vad, method="cohesion")
    one = real_sample.score(recording, real_sample.one_speaker_vectors, vad, method=real_sample.GE2E_METHOD)
    assert old["der_collar_025"] > 0.3 and one["der_collar_025"] > 0.4


@pytest.mark.skipif(not (SAMPLE_DIR / "sample.wav").is_file(), reason="real sample absent: run `make real-sample`")
def test_an_exported_model_is_scored_on_the_real_sample_as_metadata_records_it(fast_onnx) -> None:
    doc = real_sample_accuracy(fast_onnx.path, {"vector": "embedding", "method": "spectral"}, SAMPLE_DIR)
    entry = RealSpeechAccuracy.model_validate(doc["metadata"])
    assert (entry.recording, entry.role, entry.skipped, entry.reference_speakers) == (
        "pyannote.audio sample",
        "development",
        None,
        2,
    )
    assert entry.der_collar_0 == doc["systems"]["model"]["der_collar_0"] and entry.speakers_found >= 1
    one = doc["systems"]["one-speaker"]
    assert one["speakers_found"] == 1 and 0.4 < one["der_collar_025"] < 0.5  # 46.4 % measured
    assert "model, silero VAD" in doc["systems"]


def test_the_real_sample_entry_is_skipped_with_the_reason_when_absent(fast_onnx, tmp_path: Path) -> None:
    doc = real_sample_accuracy(fast_onnx.path, None, tmp_path / "nowhere")
    assert doc["systems"] == {} and "make real-sample" in RealSpeechAccuracy.model_validate(doc["metadata"]).skipped
