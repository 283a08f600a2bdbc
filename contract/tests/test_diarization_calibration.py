"""metadata.json's ``diarization`` block: ranges the streaming code accepts, and the new final-pass / VAD fields."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from voiceflow_contract.diarization import BOUNDARIES, METHODS, VAD_KINDS, StreamingDiarizer, make_vad
from voiceflow_contract.schemas import DiarizationCalibration


def test_defaults_are_what_models_calibrated_before_the_fields_existed() -> None:
    block = DiarizationCalibration()
    assert (block.method, block.vad, block.threshold, block.boundary) == ("cohesion", "energy", 0.8, "midpoint")


@pytest.mark.parametrize("threshold", [-1.0, -0.3, 0.0, 0.6, 1.0])
def test_every_threshold_the_schema_accepts_streams(threshold: float) -> None:
    block = DiarizationCalibration(threshold=threshold, final_threshold=threshold)
    StreamingDiarizer(threshold=block.threshold, method=block.method, final_threshold=block.final_threshold)


@pytest.mark.parametrize("field", ["threshold", "final_threshold"])
@pytest.mark.parametrize("value", [1.5, 2.0, -1.01])
def test_thresholds_outside_the_cosine_range_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError):
        DiarizationCalibration.model_validate({field: value})


def test_methods_and_vads_of_the_schema_are_the_code_s() -> None:
    schema = DiarizationCalibration.model_json_schema()["properties"]
    assert set(schema["method"]["enum"]) == set(METHODS)
    assert set(schema["vad"]["enum"]) == set(VAD_KINDS)
    assert set(schema["boundary"]["enum"]) == set(BOUNDARIES)
    for boundary in BOUNDARIES:
        StreamingDiarizer(boundary=boundary)
    for method in METHODS:
        StreamingDiarizer(method=method)
    make_vad("energy")
