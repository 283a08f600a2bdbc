"""deploy/k8s (Kustomize base + staging/production overlays) and deploy/kserve, rendered with `kubectl kustomize`.

The rendered output must pass `kubernetes-validate --strict`; the custom resources (ServiceMonitor, InferenceService),
which kubernetes-validate has no schema for, must pass their CRDs' OpenAPI schemas (vendored, trimmed, in
deploy/k8s/crds) with unknown fields rejected, as the API server's strict field validation does. Then the semantic
facts the service depends on are checked against the service's own sources: config/<env>.toml, the Dockerfile's
user and ENV, the metrics module's gauge names.

Each semantic check is a function returning its violations: empty on our manifests, not empty on a copy broken on
purpose (`test_*_check_can_fail`), so a check that cannot fail would be noticed.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_checks import CHECKS, container, kserve_violations, loaded_settings_violations, one
from k8s_render import (
    CONFIG,
    CRD_SCHEMAS,
    K8S,
    KINDS,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    Docs,
    crd_violations,
    kubernetes_validate,
    overlay,
    rendered,
    rendered_text,
)


# ---------------------------------------------------------------- tests on the real manifests
@pytest.mark.parametrize("env", OVERLAYS)
def test_overlay_renders_the_expected_kinds(env: str) -> None:
    assert {d["kind"] for d in overlay(env)} == KINDS
    assert {d["metadata"].get("namespace") for d in overlay(env)} == {
        "voiceflow" if env == "production" else "voiceflow-staging"
    }


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS, ids=lambda v: v or "latest")
@pytest.mark.parametrize("folder", [*(f"deploy/k8s/overlays/{env}" for env in OVERLAYS), "deploy/kserve"])
def test_rendered_output_passes_kubernetes_validate_strict(folder: str, version: str | None, tmp_path: Path) -> None:
    result = kubernetes_validate(rendered_text(folder), tmp_path, version)
    assert result.returncode == 0, result.stdout + result.stderr
    builtin = [d for d in rendered(folder) if (d["apiVersion"], d["kind"]) not in CRD_SCHEMAS]
    assert result.stdout.count(" passed for resource ") == len(builtin), result.stdout


@pytest.mark.parametrize("folder", [*(f"deploy/k8s/overlays/{env}" for env in OVERLAYS), "deploy/kserve"])
def test_custom_resources_pass_their_crd_schemas(folder: str) -> None:
    custom = [d for d in rendered(folder) if (d["apiVersion"], d["kind"]) in CRD_SCHEMAS]
    assert custom
    for doc in custom:
        assert crd_violations(doc) == []


def test_vendored_crd_schemas_name_their_source() -> None:
    for schema_file in CRD_SCHEMAS.values():
        data = json.loads(schema_file.read_text())
        assert re.fullmatch(r"github\.com/[\w-]+/[\w-]+@[0-9a-f]{40}:\S+\.yaml", data["_source"])
        assert data["_license"].startswith("Apache-2.0")


@pytest.mark.parametrize("env", OVERLAYS)
@pytest.mark.parametrize("check", sorted(CHECKS))
def test_semantic_check_passes(check: str, env: str) -> None:
    assert CHECKS[check](overlay(env), env) == []


@pytest.mark.parametrize("env", OVERLAYS)
def test_pod_loads_exactly_the_toml_settings(env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert loaded_settings_violations(overlay(env), env, tmp_path, monkeypatch) == []


@pytest.mark.parametrize("env", OVERLAYS)
def test_overlay_toml_is_a_copy_of_the_service_config(env: str) -> None:
    copied = K8S / "overlays" / env / f"{env}.toml"
    assert copied.read_bytes() == (CONFIG / f"{env}.toml").read_bytes(), f"run `make k8s-config` to refresh {copied}"


def test_kserve_inference_service() -> None:
    assert {d["kind"] for d in rendered("deploy/kserve")} == {"InferenceService"}
    assert kserve_violations(copy.deepcopy(rendered("deploy/kserve"))) == []


# ---------------------------------------------------------------- each check fails on a broken copy
def _container(docs: Docs) -> dict[str, Any]:
    return container(docs)


def _pod(docs: Docs) -> dict[str, Any]:
    return one(docs, "Deployment")["spec"]["template"]["spec"]


BREAKS: dict[str, list[tuple[str, Callable[[Docs], None]]]] = {
    "probes": [
        ("readiness on /ready", lambda d: _container(d)["readinessProbe"]["httpGet"].update(path="/ready")),
        (
            "liveness on the readiness path",
            lambda d: _container(d)["livenessProbe"]["httpGet"].update(path="/v2/health/ready"),
        ),
        ("no startup probe", lambda d: _container(d).pop("startupProbe")),
        ("startup gives up after 15 s", lambda d: _container(d)["startupProbe"].update(failureThreshold=3)),
    ],
    "grace": [
        ("default 30 s grace", lambda d: _pod(d).pop("terminationGracePeriodSeconds")),
        ("no preStop", lambda d: _container(d).pop("lifecycle")),
    ],
    "resources": [
        ("no cpu limit", lambda d: _container(d)["resources"]["limits"].pop("cpu")),
        ("half a cpu", lambda d: _container(d)["resources"]["requests"].update(cpu="500m")),
        (
            "no MALLOC_ARENA_MAX",
            lambda d: [m["data"].pop("MALLOC_ARENA_MAX", None) for m in d if m["kind"] == "ConfigMap"],
        ),
    ],
    "security": [
        ("root", lambda d: _pod(d)["securityContext"].update(runAsUser=0)),
        ("writable root fs", lambda d: _container(d)["securityContext"].update(readOnlyRootFilesystem=False)),
    ],
    "volumes": [
        (
            "cache not on an emptyDir",
            lambda d: _container(d).update(
                volumeMounts=[m for m in _container(d)["volumeMounts"] if m["name"] != "model-cache"]
            ),
        ),
    ],
    "config": [
        (
            "TOML edited in the ConfigMap",
            lambda d: [
                m["data"].update({k: v.replace("30.0", "3.0")})
                for m in d
                if m["kind"] == "ConfigMap"
                for k, v in m["data"].items()
                if k.endswith(".toml")
            ],
        ),
        (
            "image's registry URL wins",
            lambda d: [m["data"].pop("VOICEFLOW_REGISTRY_URL", None) for m in d if m["kind"] == "ConfigMap"],
        ),
    ],
    "secrets": [
        ("a committed token", lambda d: one(d, "Secret")["stringData"].update(VOICEFLOW_ADMIN_TOKEN="hunter2hunter2")),
        ("credentials not optional", lambda d: _container(d)["envFrom"][1]["secretRef"].update(optional=False)),
    ],
    "scaling": [
        ("no sessions metric", lambda d: one(d, "HorizontalPodAutoscaler")["spec"]["metrics"].pop(1)),
        (
            "wrong gauge name",
            lambda d: one(d, "HorizontalPodAutoscaler")["spec"]["metrics"][1]["pods"]["metric"].update(
                name="voiceflow_sessions"
            ),
        ),
        (
            "target above the cap",
            lambda d: one(d, "HorizontalPodAutoscaler")["spec"]["metrics"][1]["pods"]["target"].update(
                averageValue="100000"
            ),
        ),
    ],
    "wiring": [
        (
            "service selects nothing",
            lambda d: one(d, "Service")["spec"]["selector"].update({"app.kubernetes.io/component": "web"}),
        ),
        ("scrape of /stats", lambda d: one(d, "ServiceMonitor")["spec"]["endpoints"][0].update(path="/stats")),
    ],
    "admin": [
        ("ingress routes /", lambda d: one(d, "Ingress")["spec"]["rules"][0]["http"]["paths"][0].update(path="/")),
        (
            "ingress routes /admin/models",
            lambda d: one(d, "Ingress")["spec"]["rules"][0]["http"]["paths"][0].update(
                path="/admin/models", pathType="Exact"
            ),
        ),
        (
            "policy admits every namespace",
            lambda d: one(d, "NetworkPolicy")["spec"]["ingress"][0]["from"].append({"namespaceSelector": {}}),
        ),
        (
            "policy admits an IP block",
            lambda d: one(d, "NetworkPolicy")["spec"]["ingress"][0]["from"].append({"ipBlock": {"cidr": "0.0.0.0/0"}}),
        ),
    ],
}
BREAK_CASES = [(check, name, breaker) for check, cases in BREAKS.items() for name, breaker in cases]


def test_every_check_has_a_break() -> None:
    assert set(BREAKS) == set(CHECKS)


@pytest.mark.parametrize(("check", "name", "breaker"), BREAK_CASES, ids=[f"{c}-{n}" for c, n, _ in BREAK_CASES])
def test_semantic_check_can_fail(check: str, name: str, breaker: Callable[[Docs], None]) -> None:
    docs = overlay("production")
    breaker(docs)
    assert CHECKS[check](docs, "production"), f"{check} did not notice: {name}"


def test_loaded_settings_check_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = overlay("production")
    next(m for m in docs if m["kind"] == "ConfigMap" and "VOICEFLOW_MODEL_REF" in m["data"])["data"][
        "VOICEFLOW_MODEL_REF"
    ] = "1.0.0"
    assert loaded_settings_violations(docs, "production", tmp_path, monkeypatch) == [
        "model_ref: pod loads '1.0.0', production.toml says 'latest'"
    ]


def test_kubernetes_validate_strict_can_fail(tmp_path: Path) -> None:
    docs = overlay("production")
    _container(docs)["readinessProbe"]["httpGet"]["paht"] = "/v2/health/ready"  # a typo: an unknown field
    one(docs, "HorizontalPodAutoscaler")["spec"].pop("maxReplicas")  # a required field
    result = kubernetes_validate(yaml.safe_dump_all(docs), tmp_path)
    assert result.returncode != 0
    assert "paht" in result.stdout + result.stderr
    assert "maxReplicas" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("kind", "breaker", "expected"),
    [
        ("ServiceMonitor", lambda d: d["spec"]["endpoints"][0].update(prot="http"), "prot"),
        ("ServiceMonitor", lambda d: d["spec"]["endpoints"][0].update(interval="15 seconds"), "15 seconds"),
        ("InferenceService", lambda d: d["spec"]["predictor"].update(protocolVersion="v2"), "protocolVersion"),
        ("InferenceService", lambda d: d["spec"]["predictor"].update(scaleMetric="gpu"), "gpu"),
    ],
)
def test_crd_schema_check_can_fail(kind: str, breaker: Callable[[dict[str, Any]], None], expected: str) -> None:
    folder = "deploy/kserve" if kind == "InferenceService" else "deploy/k8s/overlays/production"
    doc = copy.deepcopy(one(rendered(folder), kind))
    breaker(doc)
    problems = crd_violations(doc)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    "breaker",
    [
        lambda d: d["spec"]["predictor"]["containers"][0].update(env=[]),
        lambda d: d["spec"]["predictor"]["containers"][0]["args"].__setitem__(4, "--registry=s3://elsewhere"),
        lambda d: d["spec"]["predictor"]["containers"][0]["readinessProbe"]["httpGet"].update(path="/ready"),
    ],
    ids=["no PROTOCOL=v2", "other registry", "readiness on /ready"],
)
def test_kserve_check_can_fail(breaker: Callable[[dict[str, Any]], None]) -> None:
    docs = copy.deepcopy(rendered("deploy/kserve"))
    breaker(one(docs, "InferenceService"))
    assert kserve_violations(docs)
