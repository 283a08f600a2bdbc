"""Render deploy/k8s and deploy/kserve with `kubectl kustomize`, validate the output (kubernetes-validate --strict,
the vendored CRD schemas), and read the sources of truth the manifests must agree with (config/<env>.toml, the CPU
Dockerfile's user and ENV, the metrics module's gauge). Used by k8s_checks.py and test_k8s_manifests.py.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy/k8s"
KSERVE = REPO / "deploy/kserve"
CRDS = K8S / "crds"
CONFIG = REPO / "voiceflow-inference/config"
DOCKERFILE_CPU = REPO / "voiceflow-inference/docker/Dockerfile.cpu"
METRICS_PY = REPO / "voiceflow-inference/src/voiceflow_inference/metrics.py"
OVERLAYS = ("staging", "production")
# Kubernetes versions the rendered output must validate against: an old floor and kubernetes-validate's latest.
KUBERNETES_VERSIONS = ("1.29.0", None)
KINDS = {
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Ingress",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Secret",
    "Service",
    "ServiceAccount",
    "ServiceMonitor",
}
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): CRDS / "monitoring.coreos.com_servicemonitors.schema.json",
    ("serving.kserve.io/v1beta1", "InferenceService"): CRDS / "serving.kserve.io_inferenceservices.schema.json",
}
Docs = list[dict[str, Any]]


# ---------------------------------------------------------------- rendering and schema validation
def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not found: run `make setup` (it installs Debian's kubernetes-client) to render deploy/k8s")
    return found


def kustomize(folder: Path) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {folder} failed:\n{result.stderr}"
    return result.stdout


@cache
def rendered_text(folder: str) -> str:
    return kustomize(REPO / folder)


def rendered(folder: str) -> Docs:
    return [doc for doc in yaml.safe_load_all(rendered_text(folder)) if doc]


def overlay(env: str) -> Docs:
    return copy.deepcopy(rendered(f"deploy/k8s/overlays/{env}"))


def kubernetes_validate(text: str, tmp_path: Path, version: str | None = None) -> subprocess.CompletedProcess[str]:
    """`kubernetes-validate --strict` (unknown fields are errors) on `text`, against `version` (default: its latest)."""
    target = tmp_path / "rendered.yaml"
    target.write_text(text)
    # The venv's own script first: `make test` runs .venv/bin/pytest without the venv's bin on PATH.
    beside = Path(sys.executable).parent / "kubernetes-validate"
    binary = str(beside) if beside.is_file() else shutil.which("kubernetes-validate")
    assert binary, "kubernetes-validate missing: `.venv/bin/pip install kubernetes-validate` (make setup installs it)"
    command = [binary, "--strict", *(["--kubernetes-version", version] if version else []), str(target)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def strict(schema: Any) -> Any:
    """The schema with unknown fields rejected wherever the CRD does not allow them (additionalProperties: false on
    every object that lists its properties and neither preserves unknown fields nor declares additionalProperties)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    open_ended = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and not open_ended:
        out["additionalProperties"] = False
    return out


def crd_violations(doc: dict[str, Any]) -> list[str]:
    import jsonschema  # lazy: only these tests need it

    schema_file = CRD_SCHEMAS[(doc["apiVersion"], doc["kind"])]
    schema = strict(json.loads(schema_file.read_text())["openAPIV3Schema"])
    validator = jsonschema.Draft7Validator(schema)
    return [f"{doc['kind']} {'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


# ---------------------------------------------------------------- the sources of truth
def toml(env: str) -> dict[str, Any]:
    return tomllib.loads((CONFIG / f"{env}.toml").read_text())


def image_uid() -> int:
    text = DOCKERFILE_CPU.read_text()
    uid = re.search(r"--uid (\d+)", text)
    user = re.search(r"(?m)^USER (\d+)", text)
    assert uid and user and uid.group(1) == user.group(1), "Dockerfile.cpu: useradd --uid and USER disagree"
    return int(uid.group(1))


def image_env() -> dict[str, str]:
    """The VOICEFLOW_* variables the CPU image's runtime stage sets (they beat the TOML file)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE_CPU.read_text())
    env: dict[str, str] = {}
    for line in re.findall(r"(?m)^ENV (.*)$", re.split(r"(?m)^FROM ", text)[-1]):
        for key, value in re.findall(r"(\w+)=('[^']*'|\"[^\"]*\"|\S+)", line):
            env[key] = value.strip("'\"")
    return {k: v for k, v in env.items() if k.startswith("VOICEFLOW_")}


def sessions_gauge() -> str:
    found = re.search(r"ws_sessions_active = Gauge\(\s*\"(\w+)\"", METRICS_PY.read_text())
    assert found, "metrics.py: the open-sessions gauge (ws_sessions_active) not found"
    return found.group(1)
