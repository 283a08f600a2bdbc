"""GitHub workflows: valid against the GitHub workflow JSON schema (check-jsonschema), and every `make X` they run is a
real target of the root Makefile, so CI calls exactly what a person calls.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
EXPECTED = ("train", "benchmark", "publish", "build", "test", "deploy", "chaos")
_MAKE_CALL = re.compile(r"(?:^|[;&|(\s])make((?:\s+-[A-Za-z]+)*)\s+([A-Za-z0-9_][\w.-]*)")
_TARGET_LINE = re.compile(r"^([A-Za-z0-9_.][\w./ -]*?)\s*::?(?!=)(?:\s|$)")


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))


def check_jsonschema_bin() -> str:
    beside = Path(sys.executable).parent / "check-jsonschema"
    found = str(beside) if beside.is_file() else shutil.which("check-jsonschema")
    if found is None:
        pytest.fail("check-jsonschema not found: `make setup` installs it into .venv")
    return found


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    """Validate workflow files with check-jsonschema's bundled (offline) GitHub workflow schema."""
    return subprocess.run(
        [check_jsonschema_bin(), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def makefile_targets(makefile: Path = REPO / "Makefile") -> set[str]:
    """Explicit rule targets of a Makefile (variable assignments and recipe lines excluded)."""
    targets: set[str] = set()
    for line in makefile.read_text().splitlines():
        if line.startswith(("\t", "#", " ")) or "=" in line.split(":", 1)[0]:
            continue
        match = _TARGET_LINE.match(line)
        if match and "$" not in match.group(1):
            targets |= {t for t in match.group(1).split() if t not in (".PHONY", ".DEFAULT_GOAL")}
    return targets


def _run_scripts(node: Any) -> list[str]:
    if isinstance(node, dict):
        scripts = [node["run"]] if isinstance(node.get("run"), str) else []
        return scripts + [s for key, value in node.items() if key != "run" for s in _run_scripts(value)]
    if isinstance(node, list):
        return [s for item in node for s in _run_scripts(item)]
    return []


def make_calls(workflow: dict[str, Any]) -> set[str]:
    """Targets of every `make TARGET` in the workflow's `run:` scripts."""
    return {m.group(2) for script in _run_scripts(workflow) for m in _MAKE_CALL.finditer(script)}


def unknown_make_targets(workflow: dict[str, Any], targets: set[str]) -> set[str]:
    return make_calls(workflow) - targets


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return dict(data)


def test_expected_workflows_exist() -> None:
    names = {p.stem for p in workflow_files()}
    assert set(EXPECTED) <= names, f"missing: {set(EXPECTED) - names}"


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_workflow_matches_github_schema(path: Path) -> None:
    proc = validate(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_copy(tmp_path: Path) -> None:
    text = (WORKFLOWS / "test.yml").read_text()
    broken = tmp_path / "test.yml"
    broken.write_text(text.replace("runs-on:", "runs_on:"))
    proc = validate(broken)
    assert proc.returncode != 0
    assert "runs-on" in proc.stdout


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: p.name)
def test_workflow_make_targets_exist(path: Path) -> None:
    missing = unknown_make_targets(load(path), makefile_targets())
    assert not missing, f"{path.name} calls make targets the Makefile lacks: {sorted(missing)}"


def test_make_target_check_can_fail(tmp_path: Path) -> None:
    makefile = tmp_path / "Makefile"
    makefile.write_text("X := 1\nsetup: a.txt ## set up\n\ttouch $@\ntest train: setup\n\t@echo $(X)\n")
    assert makefile_targets(makefile) == {"setup", "test", "train"}
    workflow = load(WORKFLOWS / "test.yml")
    workflow["jobs"]["test"]["steps"].append({"run": "make setup && make -s no-such-target ENV=x"})
    assert unknown_make_targets(workflow, makefile_targets(makefile)) == {"no-such-target"}


def test_workflows_follow_the_pipeline() -> None:
    train, publish = load(WORKFLOWS / "train.yml"), load(WORKFLOWS / "publish.yml")
    for workflow in (train, publish):
        assert set(workflow["on"]["push"]["paths"]) >= {"voiceflow-models/**", "contract/**"}
        assert all("gpu" in job["runs-on"] for job in workflow["jobs"].values())
    assert make_calls(publish) >= {"setup", "train", "export", "optimize", "validate", "benchmark", "publish"}
    assert make_calls(load(WORKFLOWS / "benchmark.yml")) >= {"benchmark", "validate"}
    assert make_calls(load(WORKFLOWS / "test.yml")) == {"test"}
    chaos = load(WORKFLOWS / "chaos.yml")  # the slow suites run somewhere: weekly and on demand
    assert make_calls(chaos) == {"chaos"} and "workflow_dispatch" in chaos["on"]
    assert [entry["cron"] for entry in chaos["on"]["schedule"]] and "test_cache_disk_full" in str(chaos)

    deploy = load(WORKFLOWS / "deploy.yml")
    inputs = deploy["on"]["workflow_dispatch"]["inputs"]
    assert inputs["model_version"]["default"] == "latest"
    assert set(inputs["environment"]["options"]) == {"staging", "production"}
    assert deploy["jobs"]["production"]["needs"] == "staging"
    for job in ("staging", "production"):
        scripts = " ".join(_run_scripts(deploy["jobs"][job]))
        assert f"make deploy ENV={job}" in scripts and "/health" in scripts

    build = (WORKFLOWS / "build.yml").read_text()
    for dockerfile in ("Dockerfile.cpu", "Dockerfile.gpu", "voiceflow-models/docker/Dockerfile"):
        assert dockerfile in build
    assert "hadolint" in build


# The first major of each action that runs on the node24 runtime (the hosted runners no longer provide node20).
CURRENT_MAJORS = {
    "actions/checkout": 6,
    "actions/setup-python": 6,
    "actions/setup-node": 6,
    "actions/upload-artifact": 7,
    "docker/build-push-action": 7,
    "docker/setup-buildx-action": 4,
    "docker/login-action": 4,
    "docker/metadata-action": 6,
}
_USES = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)@v(\d+)\b")


def test_pinned_action_versions() -> None:
    for path in workflow_files():
        text = path.read_text()
        assert "actions/checkout@v" in text, path.name
        assert not re.search(r"uses:\s*\S+@(main|master|latest)\b", text), path.name
        for action, major in _USES.findall(text):
            assert action in CURRENT_MAJORS, f"{path.name}: {action} has no known current major"
            assert int(major) >= CURRENT_MAJORS[action], f"{path.name}: {action}@v{major} runs on a retired runtime"
        for node in re.findall(r"node-version:\s*\"?([^\"\s]+)", text):
            assert node == "lts/*" or int(node.split(".")[0]) >= 24, f"{path.name}: node-version {node} is not an LTS"


DEPENDABOT = REPO / ".github" / "dependabot.yml"


def test_dependabot_config_matches_its_schema_and_covers_every_manifest() -> None:
    result = subprocess.run(
        [check_jsonschema_bin(), "--builtin-schema", "vendor.dependabot", str(DEPENDABOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    updates = yaml.safe_load(DEPENDABOT.read_text())["updates"]
    folders: dict[str, set[str]] = {}
    for update in updates:
        dirs = update.get("directories") or [update["directory"]]
        folders.setdefault(update["package-ecosystem"], set()).update(d.strip("/") for d in dirs)
    pyprojects = {p.parent.relative_to(REPO).as_posix() for p in REPO.glob("*/pyproject.toml")}
    assert folders["pip"] == pyprojects
    assert "" in folders["npm"] and (REPO / "package.json").is_file()
    assert "" in folders["github-actions"]
    dockerfiles = {p.parent.relative_to(REPO).as_posix() for p in REPO.glob("*/docker/Dockerfile*")}
    assert folders["docker"] == dockerfiles
