"""A session streams with the model's calibration: metadata.json ``diarization`` picks the final pass and the VAD."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from ws_helpers import conversation, der

from voiceflow_contract.diarization import make_vad
from voiceflow_contract.schemas import DiarizationCalibration, ModelMetadata
from voiceflow_inference.config import Settings
from voiceflow_inference.lifecycle.loader import LoadedModel, load_model
from voiceflow_inference.streaming.audio import Encoding
from voiceflow_inference.streaming.diarization_session import DiarizationSession, Engine
from voiceflow_inference.streaming.messages import StartMessage


@dataclass
class Pinned:
    """A loaded model with a metadata.json carrying only the calibration (all the session reads of it)."""

    name: str
    version: str
    metadata: ModelMetadata
    engine: Engine


@pytest.fixture(scope="module")
def band(band_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    settings = Settings(registry_url=str(tmp_path_factory.mktemp("reg")), warmup_runs=1)
    return load_model(band_model_path, settings, name="band", version="1.0.0", source="watch")


def _pinned(band: LoadedModel, **calibration: object) -> Pinned:
    block = DiarizationCalibration.model_validate({"vector": "speaker_embeddings", **calibration})
    return Pinned("band", "1.0.0", ModelMetadata.model_construct(diarization=block), band.engine)


def test_spectral_final_pass_from_the_metadata_diarizes_the_stream(band: LoadedModel) -> None:
    conv = conversation(16000, seed=3)
    session = DiarizationSession(
        "c1", StartMessage(sample_rate=16000, encoding=Encoding.PCM_S16LE), _pinned(band, method="spectral")
    )  # type: ignore[arg-type]
    assert session.diarizer.method == "spectral"
    session.process(np.clip(conv.audio * 32768, -32768, 32767).astype("<i2").tobytes())
    _, final = session.finish()
    hyp = [(s.start, s.end, s.speaker) for s in final.segments]
    assert der(conv.turns, hyp, conv.duration) < 0.25


@pytest.mark.skipif(importlib.util.find_spec("silero_vad") is None, reason="needs silero-vad (make setup)")
def test_silero_vad_from_the_metadata_gates_the_windows(band: LoadedModel) -> None:
    session = DiarizationSession(
        "c2", StartMessage(sample_rate=16000, encoding=Encoding.PCM_S16LE), _pinned(band, vad="silero")
    )  # type: ignore[arg-type]
    assert session.vad is make_vad("silero")
    windows = session.process(np.zeros(16000 * 3, dtype="<i2").tobytes())
    assert windows and all(not w.speech for w in windows)
