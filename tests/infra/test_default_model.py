"""Every deployment path serves the model `make publish` publishes by default: the Makefile's MODEL/EXPERIMENT, the
compose `publish` job and `inference` service, both images, the staging/production settings, the Kubernetes base
and overlays, and the KServe InferenceService. A container that waits for a model nobody publishes never gets ready.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "voiceflow-models/src/voiceflow_models/configs/experiment"


def _make_default(name: str) -> str:
    match = re.search(rf"(?m)^{name} \?= (\S+)$", (REPO / "Makefile").read_text())
    assert match, f"Makefile sets no default {name}"
    return match.group(1)


def trained_model(experiment: str) -> str:
    """The registry name of the architecture a Hydra experiment trains (config group `fast_cnn` -> `fast-cnn`)."""
    match = re.search(r"override /model: (\S+)", (EXPERIMENTS / f"{experiment}.yaml").read_text())
    assert match, f"experiment {experiment} overrides no model"
    return match.group(1).replace("_", "-")


def compose_problems(compose: dict[str, Any]) -> list[str]:
    """Mismatches between what the compose `publish` job publishes and what `inference` serves."""
    command = compose["services"]["publish"]["command"]
    args = dict(a.split("=", 1) for a in command[2:] if "=" in a)
    model = args.get("MODEL", _make_default("MODEL"))
    experiment = args.get("EXPERIMENT", _make_default("EXPERIMENT"))
    served = compose["services"]["inference"]["environment"]["VOICEFLOW_MODEL_NAME"]
    problems = []
    if trained_model(experiment) != model:
        problems.append(f"publish trains {trained_model(experiment)} (EXPERIMENT={experiment}) as MODEL={model}")
    if served != model:
        problems.append(f"inference serves {served}, publish publishes {model}")
    return problems


def deployment_models() -> dict[str, str]:
    """The model name each deployment path serves, by where it is set."""
    names: dict[str, str] = {}
    for dockerfile in ("Dockerfile.cpu", "Dockerfile.gpu"):
        text = (REPO / "voiceflow-inference/docker" / dockerfile).read_text()
        names[dockerfile] = re.findall(r"VOICEFLOW_MODEL_NAME=(\S+)", text)[-1]
    for toml in (
        "voiceflow-inference/config/staging.toml",
        "voiceflow-inference/config/production.toml",
        "deploy/k8s/overlays/staging/staging.toml",
        "deploy/k8s/overlays/production/production.toml",
    ):
        names[toml] = tomllib.loads((REPO / toml).read_text())["model_name"]
    kustomization = yaml.safe_load((REPO / "deploy/k8s/base/kustomization.yaml").read_text())
    literals = [lit for gen in kustomization["configMapGenerator"] for lit in gen.get("literals", [])]
    names["k8s base"] = next(lit.split("=", 1)[1] for lit in literals if lit.startswith("VOICEFLOW_MODEL_NAME="))
    kserve = (REPO / "deploy/kserve/inferenceservice.yaml").read_text()
    names["kserve"] = re.search(r"--model=(\S+)", kserve).group(1)  # type: ignore[union-attr]
    return names


def test_the_makefile_default_experiment_trains_the_default_model() -> None:
    assert trained_model(_make_default("EXPERIMENT")) == _make_default("MODEL") == "ge2e"


def test_every_deployment_path_serves_the_default_model() -> None:
    default = _make_default("MODEL")
    assert {where: name for where, name in deployment_models().items() if name != default} == {}


def test_compose_serves_what_its_publish_job_publishes() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert compose_problems(compose) == []


def test_the_compose_check_catches_a_mismatch() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    # The stack before this check: MODEL=fast-cnn with the Makefile's default (ge2e) experiment, fast-cnn served.
    compose["services"]["publish"]["command"] = ["make", "publish", "MODEL=fast-cnn"]
    compose["services"]["inference"]["environment"]["VOICEFLOW_MODEL_NAME"] = "fast-cnn"
    assert compose_problems(compose) == ["publish trains ge2e (EXPERIMENT=ge2e_synthetic) as MODEL=fast-cnn"]
    compose["services"]["publish"]["command"].append("EXPERIMENT=fast_cnn_synthetic")
    assert compose_problems(compose) == []
    compose["services"]["inference"]["environment"]["VOICEFLOW_MODEL_NAME"] = "ge2e"
    assert compose_problems(compose) == ["inference serves ge2e, publish publishes fast-cnn"]
