"""The contract as data: model_contract.yaml loads into typed models; bad files are errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from voiceflow_contract.errors import ContractError, VoiceFlowError
from voiceflow_contract.spec import ModelContract, Profile, load_contract

PACKAGED = Path(__file__).resolve().parents[1] / "src" / "voiceflow_contract" / "model_contract.yaml"


def _raw() -> dict[str, Any]:
    data = yaml.safe_load(PACKAGED.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_packaged_contract_holds_the_seed_contract() -> None:
    contract = load_contract()
    assert contract.name == "VoiceFlow Speaker Diarization Model"
    assert contract.version == "1.0.0"
    assert (contract.input.name, contract.input.dtype) == ("audio", "float32")
    assert contract.input.shape == ["batch_size", 48000]
    assert contract.output.name == "speaker_embeddings"
    assert contract.output.shape == ["batch_size", "num_speakers"]
    assert contract.output.activation == "softmax"
    assert contract.metadata.sample_rate == 48000
    assert contract.metadata.audio_duration == 1.0
    assert contract.metadata.num_speakers == "dynamic"
    assert contract.window_samples == 48000
    perf = contract.performance_requirements
    assert (perf.cpu_p99_ms, perf.gpu_p99_ms, perf.model_size_mb) == (10.0, 5.0, 50.0)
    assert [o.name for o in contract.optional_outputs] == ["embedding"]
    assert contract.validation.batch_sizes == [1, 8]


def test_symlinked_contract_is_the_packaged_one() -> None:
    top = Path(__file__).resolve().parents[1] / "model_contract.yaml"
    assert load_contract(top) == load_contract()


def test_profiles_default_and_named() -> None:
    contract = load_contract()
    default = contract.profile(None)
    assert default.name == contract.default_profile == "cpu-realtime"
    assert (default.device, default.p99_ms, default.model_size_mb) == ("cpu", 10.0, 50.0)
    assert contract.profile("gpu-realtime").p99_ms == 5.0
    large = contract.profile("gpu-large")
    assert large.device == "gpu"
    assert large.model_size_mb >= 362  # the seed's Wav2Vec2 model must fit
    assert large.p99_ms >= 40
    assert contract.profile_names[0] == "cpu-realtime"
    assert set(contract.profile_names) == {"cpu-realtime", "gpu-realtime", "gpu-large"}


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ContractError) as info:
        load_contract().profile("tpu-dream")
    message = str(info.value)
    assert "tpu-dream" in message
    for name in ("cpu-realtime", "gpu-realtime", "gpu-large"):
        assert name in message


def test_contract_error_is_a_value_error_and_a_voiceflow_error() -> None:
    assert issubclass(ContractError, ValueError)
    assert issubclass(ContractError, VoiceFlowError)


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda d: d.update(inputt=d["input"]), "inputt"),
        (lambda d: d["input"].update(dtype="float32"), "input.dtype"),
        (lambda d: d["profiles"]["gpu-large"].update(p99_ms=-1), "profiles.gpu-large.p99_ms"),
        (lambda d: d["profiles"]["cpu-realtime"].update(device="tpu"), "profiles.cpu-realtime.device"),
        (lambda d: d["metadata"].update(sample_rate="fast"), "metadata.sample_rate"),
        (lambda d: d["metadata"].update(num_speakers="several"), "metadata.num_speakers"),
        (lambda d: d["validation"].update(softmax_tolerance=2), "validation.softmax_tolerance"),
        (lambda d: d["validation"].update(batch_sizes=[1, 0]), "validation.batch_sizes"),
        (lambda d: d.pop("output"), "output"),
        (lambda d: d["output"].update(type="complex64"), "output.type"),
        (lambda d: d["input"].update(shape=["batch_size", -5]), "input.shape"),
    ],
)
def test_bad_keys_and_values_are_named(tmp_path: Path, mutate: Any, key: str) -> None:
    data = _raw()
    mutate(data)
    with pytest.raises(ContractError) as info:
        load_contract(_write(tmp_path, data))
    assert key in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(default_profile="missing"), "default_profile"),
        (lambda d: d["input"].update(shape=["batch_size", 16000]), "48000"),
        (lambda d: d.update(version="one"), "version"),
        (lambda d: d["metadata"].update(num_speakers=1), "min_num_speakers"),
        (lambda d: d["profiles"]["gpu-large"].update(name="other"), "gpu-large"),
        (lambda d: d["output"].update(shape=["batch_size", 4, "num_speakers"]), "output.shape"),
    ],
)
def test_inconsistent_contracts_are_refused(tmp_path: Path, mutate: Any, needle: str) -> None:
    data = _raw()
    mutate(data)
    with pytest.raises(ContractError, match=needle):
        load_contract(_write(tmp_path, data))


def test_fixed_speaker_count_is_allowed(tmp_path: Path) -> None:
    data = _raw()
    data["metadata"]["num_speakers"] = 2
    assert load_contract(_write(tmp_path, data)).metadata.num_speakers == 2


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="cannot read"):
        load_contract(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ContractError, match="not valid YAML"):
        load_contract(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ContractError, match="mapping"):
        load_contract(listing)


def test_models_are_immutable_and_profiles_standalone() -> None:
    contract = load_contract()
    with pytest.raises(ValueError, match="frozen"):
        contract.default_profile = "gpu-large"  # type: ignore[misc]
    custom = Profile(name="tiny", device="cpu", p99_ms=1.0, model_size_mb=0.5)
    assert custom.name == "tiny"
    copy = contract.model_copy(update={"profiles": {**contract.profiles, "tiny": custom}})
    assert isinstance(copy, ModelContract)
    assert copy.profile("tiny") is custom
