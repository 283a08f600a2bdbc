"""voiceflow-contract CLI: table, report file, exit codes naming failed rules, profiles, schema and bump."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from voiceflow_contract.cli import main
from voiceflow_contract.schemas.report import ValidationReport

SCRIPT = Path(sys.executable).parent / "voiceflow-contract"


@pytest.fixture
def contract_file(tmp_path: Path) -> Path:
    """The packaged contract plus test profiles: roomy (latency cannot flake on a shared box), small, instant."""
    import yaml

    contract = yaml.safe_load((Path(__file__).parents[1] / "model_contract.yaml").read_text(encoding="utf-8"))
    contract["profiles"]["roomy"] = {"device": "cpu", "p99_ms": 1000.0, "model_size_mb": 50.0}
    contract["profiles"]["small"] = {"device": "cpu", "p99_ms": 1000.0, "model_size_mb": 1.0}
    contract["profiles"]["instant"] = {"device": "cpu", "p99_ms": 0.0001, "model_size_mb": 50.0}
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(contract), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default report path is the current directory: each test gets its own."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def copy_model(model_path: Callable[[str], Path], tmp_path: Path) -> Callable[[str], Path]:
    """Copy a built model into its own folder."""

    def copy(name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        return Path(shutil.copy(model_path(name), folder / "model.onnx"))

    return copy


def test_validate_good_model(
    copy_model: Callable[[str], Path], contract_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = copy_model("good")
    assert main(["--contract", str(contract_file), "validate", str(model), "--runs", "5", "--profile", "roomy"]) == 0
    out, err = capsys.readouterr()
    for text in ("rule", "status", "measured", "limit", "input.length", "latency.p99", "PASSED"):
        assert text in out
    assert "PASSED: every contract rule holds" in err
    report = ValidationReport.read(Path.cwd() / "validation_report.json")
    assert report.passed
    assert report.latency is not None
    assert report.latency.runs == 5


@pytest.mark.parametrize(
    ("variant", "rules"),
    [
        ("wrong_length", "input.length"),
        ("float64_input", "input.dtype"),
        ("fixed_batch", "input.batch_dynamic, runtime.batch_8"),
        ("raw_logits", "output.softmax"),
        ("nan_output", "output.finite"),
        ("rank3_output", "output.rank"),
        ("random_bytes", "onnx.parse"),
    ],
)
def test_validate_broken_model_exits_1_naming_the_rules(
    copy_model: Callable[[str], Path],
    contract_file: Path,
    capsys: pytest.CaptureFixture[str],
    variant: str,
    rules: str,
) -> None:
    model = copy_model(variant)
    report_path = model.parent / "out" / "report.json"
    argv = ["--contract", str(contract_file), "validate", str(model), "--profile", "roomy", "--runs", "3"]
    assert main([*argv, "--report", str(report_path)]) == 1
    out, err = capsys.readouterr()
    assert f"FAILED: {rules}" in err
    assert "FAILED" in out  # the table row
    report = ValidationReport.read(report_path)
    assert ", ".join(c.name for c in report.failed_checks) == rules


def test_oversize_and_too_slow_via_profiles_in_a_contract_file(
    copy_model: Callable[[str], Path], contract_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = contract_file
    oversize = copy_model("oversize")
    assert main(["--contract", str(path), "validate", str(oversize), "--profile", "small", "--runs", "3"]) == 1
    assert "FAILED: file.size" in capsys.readouterr().err
    good = copy_model("good")
    assert main(["--contract", str(path), "validate", str(good), "--profile", "instant", "--runs", "3"]) == 1
    assert "FAILED: latency.p99" in capsys.readouterr().err


def test_profile_and_speaker_count_from_metadata(
    copy_model: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = copy_model("good")
    metadata = model.parent / "metadata.json"
    metadata.write_text(json.dumps({"profile": "gpu-large", "contract": {"num_speakers": 2}}), encoding="utf-8")
    assert main(["validate", str(model), "--runs", "3"]) == 0
    assert ValidationReport.read(Path.cwd() / "validation_report.json").profile == "gpu-large"
    metadata.write_text(json.dumps({"contract": {"num_speakers": 3}}), encoding="utf-8")
    assert main(["validate", str(model), "--no-latency"]) == 1
    assert "FAILED: output.num_speakers" in capsys.readouterr().err
    # The flag wins over metadata.json.
    assert main(["validate", str(model), "--no-latency", "--num-speakers", "2", "--profile", "cpu-realtime"]) == 0
    report = ValidationReport.read(Path.cwd() / "validation_report.json")
    assert report.latency is None
    assert report.profile == "cpu-realtime"


def test_json_output_and_threads(
    copy_model: Callable[[str], Path], contract_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = copy_model("good")
    argv = ["--contract", str(contract_file), "validate", str(model), "--profile", "roomy"]
    assert main([*argv, "--json", "--threads", "2", "--runs", "4"]) == 0
    report = ValidationReport.from_json(capsys.readouterr().out)
    assert report.latency is not None
    assert report.latency.intra_op_threads == 2


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["validate", "MODEL", "--profile", "warp-speed"], "known profiles: cpu-realtime"),
        (["validate", "MODEL", "--metadata", "/nonexistent/metadata.json"], "metadata file not found"),
        (["schema", "bogus"], "unknown schema 'bogus'"),
        (["--contract", "/nonexistent/contract.yaml", "profiles"], "cannot read contract"),
        (["bump", "MODEL", "/nonexistent.onnx"], "model not found"),
        (["bump", "MODEL", "MODEL", "--current", "1.x"], "invalid version"),
    ],
)
def test_usage_errors_exit_2(
    model_path: Callable[[str], Path], capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    argv = [str(model_path("good")) if a == "MODEL" else a for a in argv]
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["validate"], ["validate", "m.onnx", "--runs", "0"], ["frobnicate"]])
def test_argparse_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "--no-latency" in out


def test_profiles_lists_every_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    for name in ("cpu-realtime (default)", "gpu-realtime", "gpu-large"):
        assert name in out


def test_schema_prints_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "report"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "validation_report.json"
    assert "checks" in schema["properties"]
    assert main(["schema", "metadata", "manifest"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"metadata", "manifest"}
    assert main(["schema", "--out", str(tmp_path / "schemas")]) == 0
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == [f"{n}.schema.json" for n in ("contract", "manifest", "metadata", "report")]


def test_bump_command(model_path: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    good, head = str(model_path("good")), str(model_path("speaker_count_head"))
    assert main(["bump", good, head, "--current", "v1.0.0"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "MINOR"
    assert "next version: 1.1.0" in out
    assert main(["bump", good, str(model_path("rank3_output")), "--current", "1.1.1"]) == 0
    assert "next version: 2.0.0" in capsys.readouterr().out
    assert main(["bump", good, good, "--old-arch", "cnn", "--new-arch", "cnn"]) == 0
    assert capsys.readouterr().out.startswith("PATCH")


def test_console_script_end_to_end(copy_model: Callable[[str], Path]) -> None:
    """The installed entry point, as CI calls it: exit code and the failed rule on stderr."""
    model = copy_model("nan_output")
    proc = subprocess.run(
        [str(SCRIPT), "validate", str(model), "--no-latency"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 1, proc.stderr
    assert "FAILED: output.finite" in proc.stderr
    assert (Path.cwd() / "validation_report.json").is_file()


def test_missing_model_fails_file_exists_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12 finding 10: validating a missing file wrote /validation_report.json (the report went beside the input's
    nearest existing folder); now the exit code and message are unchanged and nothing is written anywhere."""
    assert main(["validate", str(tmp_path / "no" / "such" / "model.onnx")]) == 1
    assert "FAILED: file.exists" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()  # no folders invented for a model that is not there
    assert list(tmp_path.iterdir()) == []


def test_report_goes_to_the_current_directory_not_beside_the_input(
    copy_model: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 finding 10: `voiceflow-contract validate /etc/passwd` wrote /etc/validation_report.json."""
    not_a_model = copy_model("good").parent / "passwd"
    not_a_model.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert main(["validate", str(not_a_model), "--no-latency"]) == 1
    assert not (not_a_model.parent / "validation_report.json").exists()
    assert ValidationReport.read(cwd / "validation_report.json").failed_checks[0].name == "onnx.parse"
    asked = tmp_path / "asked" / "r.json"
    assert main(["validate", str(not_a_model), "--no-latency", "--report", str(asked)]) == 1
    assert asked.is_file()
