"""The semantic checks on rendered deploy/k8s and deploy/kserve documents, each a function returning its violations
(empty when the manifests agree with the service's sources). test_k8s_manifests.py runs each on the real manifests
and on copies broken on purpose.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from k8s_render import CONFIG, Docs, image_env, image_uid, sessions_gauge, toml

from voiceflow_inference.config import load_settings


# ---------------------------------------------------------------- helpers on rendered documents
def one(docs: Docs, kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(docs: Docs) -> dict[str, Any]:
    return one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def pod_env(docs: Docs) -> dict[str, str]:
    """The container's literal environment: envFrom ConfigMaps, then env values (Secrets left out)."""
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    c = container(docs)
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            env.update(maps[source["configMapRef"]["name"]])
    env.update({e["name"]: e["value"] for e in c.get("env", []) if "value" in e})
    return env


def config_toml(docs: Docs, env: str) -> str | None:
    for d in docs:
        if d["kind"] == "ConfigMap" and f"{env}.toml" in d.get("data", {}):
            return str(d["data"][f"{env}.toml"])
    return None


def mounts(docs: Docs) -> dict[str, dict[str, Any]]:
    """mountPath -> the volume mounted there."""
    volumes = {v["name"]: v for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container(docs)["volumeMounts"]}


# ---------------------------------------------------------------- semantic checks (each returns its violations)
def probe_violations(docs: Docs, env: str) -> list[str]:
    c = container(docs)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    expected = {"startupProbe": "/v2/health/ready", "readinessProbe": "/v2/health/ready", "livenessProbe": "/health"}
    problems = []
    for probe, path in expected.items():
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path:
            problems.append(f"{probe} path {get.get('path')!r}, expected {path!r}")
        if ports.get(get.get("port"), get.get("port")) != toml(env)["port"]:
            problems.append(f"{probe} port {get.get('port')!r} is not the service port {toml(env)['port']}")
    startup = c.get("startupProbe", {})
    # The first model: pull, validation (with latency measurement) and warm-up; give it at least two minutes.
    if startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3) < 120:
        problems.append("startupProbe allows less than 120 s for the first model")
    return problems


def grace_violations(docs: Docs, env: str) -> list[str]:
    spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    command = container(docs).get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    if len(command) != 2 or command[0] != "sleep":
        return [f"preStop must be `sleep N`, got {command!r}"]
    needed = int(command[1]) + math.ceil(toml(env)["shutdown_grace_s"])
    period = spec.get("terminationGracePeriodSeconds", 30)
    return [] if period > needed else [f"terminationGracePeriodSeconds {period} <= preStop + shutdown_grace_s {needed}"]


def resource_violations(docs: Docs, env: str) -> list[str]:
    resources = container(docs).get("resources", {})
    requests, limits = resources.get("requests", {}), resources.get("limits", {})
    problems = []
    if not (requests.get("cpu") == limits.get("cpu") == "1"):
        problems.append(f"cpu request {requests.get('cpu')!r} / limit {limits.get('cpu')!r}: both must be '1'")
    if requests.get("memory") is None or requests.get("memory") != limits.get("memory"):
        problems.append("memory request and limit must be set and equal (Guaranteed QoS)")
    if toml(env)["ort"]["intra_op_threads"] != 1:
        problems.append(f"{env}.toml ort.intra_op_threads must be 1 to match one CPU per replica")
    if pod_env(docs).get("MALLOC_ARENA_MAX") is None:
        problems.append("MALLOC_ARENA_MAX is not set")
    return problems


def security_violations(docs: Docs) -> list[str]:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"].get("securityContext", {})
    ctx = container(docs).get("securityContext", {})
    problems = []
    if pod.get("runAsNonRoot") is not True or pod.get("runAsUser") != image_uid():
        problems.append(f"pod must run as non-root uid {image_uid()} (Dockerfile.cpu), got {pod}")
    if ctx.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem must be true")
    if ctx.get("allowPrivilegeEscalation") is not False or ctx.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append("no privilege escalation, all capabilities dropped")
    return problems


def volume_violations(docs: Docs, env: str) -> list[str]:
    by_path = mounts(docs)
    settings = toml(env)
    problems = []
    for path in (settings["cache_dir"], settings["watch_dir"], "/tmp"):
        if "emptyDir" not in by_path.get(path, {}):
            problems.append(f"{path} (read-only root fs) must be an emptyDir mount")
    return problems


def config_violations(docs: Docs, env: str) -> list[str]:
    """The pod's config is the TOML: the ConfigMap holds it verbatim, and every setting the image's ENV would
    override is set back to the TOML's value, so the service loads exactly what config/<env>.toml says."""
    problems = []
    text = config_toml(docs, env)
    if text != (CONFIG / f"{env}.toml").read_text():
        problems.append(f"the ConfigMap's {env}.toml differs from voiceflow-inference/config/{env}.toml")
    env_vars = pod_env(docs)
    config_dir = env_vars.get("VOICEFLOW_CONFIG_DIR")
    if mounts(docs).get(config_dir, {}).get("configMap") is None:
        problems.append(f"VOICEFLOW_CONFIG_DIR {config_dir!r} is not the ConfigMap's mount")
    if env_vars.get("VOICEFLOW_ENV") != env:
        problems.append(f"VOICEFLOW_ENV is {env_vars.get('VOICEFLOW_ENV')!r}, expected {env!r}")
    unset = sorted(set(image_env()) - set(env_vars))
    if unset:
        problems.append(f"the image's ENV would beat the TOML for {unset}: set them in the pod")
    return problems


def loaded_settings_violations(docs: Docs, env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Load the settings as the pod does (the image's ENV, then the pod's, the ConfigMap's TOML) and compare them
    with voiceflow-inference/config/<env>.toml loaded alone (no VOICEFLOW_* variables from this shell in either)."""
    config_dir = tmp_path / f"config-{env}"
    config_dir.mkdir()
    (config_dir / f"{env}.toml").write_text(config_toml(docs, env) or "")
    with monkeypatch.context() as patched:
        for name in [name for name in os.environ if name.startswith("VOICEFLOW_")]:
            patched.delenv(name)
        patched.setenv("VOICEFLOW_CONFIG_DIR", str(CONFIG))
        expected = load_settings(env).model_dump(mode="json")
        for name, value in {**image_env(), **pod_env(docs), "VOICEFLOW_CONFIG_DIR": str(config_dir)}.items():
            patched.setenv(name, value)
        got = load_settings().model_dump(mode="json")
    return [
        f"{key}: pod loads {got.get(key)!r}, {env}.toml says {value!r}"
        for key, value in expected.items()
        if got.get(key) != value
    ]


def secret_violations(docs: Docs) -> list[str]:
    c = container(docs)
    problems = []
    refs = [s["secretRef"] for s in c.get("envFrom", []) if "secretRef" in s]
    if not any(r.get("name") == "voiceflow-registry-credentials" and r.get("optional") for r in refs):
        problems.append("registry credentials: envFrom secretRef voiceflow-registry-credentials (optional) missing")
    token = [e for e in c.get("env", []) if e["name"] == "VOICEFLOW_ADMIN_TOKEN"]
    ref = token[0].get("valueFrom", {}).get("secretKeyRef", {}) if token else {}
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    if ref.get("name") not in secrets:
        problems.append("VOICEFLOW_ADMIN_TOKEN must come from the rendered admin-token Secret")
    elif secrets[ref["name"]].get("stringData", {}).get(ref["key"]) != "":
        problems.append("the committed admin token must be the empty placeholder (admin disabled until replaced)")
    return problems


def scaling_violations(docs: Docs, env: str) -> list[str]:
    hpa, deployment = one(docs, "HorizontalPodAutoscaler"), one(docs, "Deployment")
    problems = []
    if hpa["apiVersion"] != "autoscaling/v2" or hpa["spec"]["scaleTargetRef"]["name"] != deployment["metadata"]["name"]:
        problems.append("HPA must be autoscaling/v2 and target the Deployment")
    metrics = hpa["spec"].get("metrics", [])
    if not any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in metrics):
        problems.append("HPA has no CPU metric")
    pods = [m["pods"] for m in metrics if m["type"] == "Pods"]
    cap = toml(env)["limits"]["max_concurrent_sessions"]
    if not pods or pods[0]["metric"]["name"] != sessions_gauge():
        problems.append(f"HPA has no Pods metric {sessions_gauge()} (metrics.py)")
    elif not 0 < float(pods[0]["target"]["averageValue"]) < cap:
        problems.append(f"sessions target {pods[0]['target']['averageValue']} not below max_concurrent_sessions {cap}")
    pdb = one(docs, "PodDisruptionBudget")["spec"]
    if hpa["spec"].get("minReplicas", 1) < 2 or pdb.get("maxUnavailable") != 1:
        problems.append("at least two replicas and a PDB allowing one disruption at a time")
    return problems


def wiring_violations(docs: Docs) -> list[str]:
    """Selectors find the pods, ports are named consistently, the scrape targets /metrics."""
    template = one(docs, "Deployment")["spec"]["template"]
    labels = template["metadata"]["labels"]
    ports = {p["name"] for p in template["spec"]["containers"][0]["ports"]}
    service, monitor = one(docs, "Service"), one(docs, "ServiceMonitor")
    problems = []
    for kind, selector in (
        ("Service", service["spec"]["selector"]),
        ("PodDisruptionBudget", one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]),
        ("NetworkPolicy", one(docs, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"]),
    ):
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            problems.append(f"{kind} selector {selector} does not select the pods")
    if any(p["targetPort"] not in ports for p in service["spec"]["ports"]):
        problems.append("Service targetPort is not a container port name")
    service_labels = service["metadata"]["labels"]
    if any(service_labels.get(k) != v for k, v in monitor["spec"]["selector"]["matchLabels"].items()):
        problems.append("ServiceMonitor does not select the Service")
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    if any(e.get("port") not in service_ports or e.get("path") != "/metrics" for e in monitor["spec"]["endpoints"]):
        problems.append("ServiceMonitor endpoints must scrape a Service port at /metrics")
    return problems


ADMITTED_NAMESPACES = {"ingress-nginx", "monitoring"}  # the ingress controller and Prometheus


def reaches(path: str, path_type: str, target: str) -> bool:
    """Whether an Ingress path can route a request for `target` or anything below it."""
    path = path.rstrip("/") or "/"
    if path_type == "Exact":
        return path == target or path.startswith(target + "/")
    return path == "/" or path == target or target.startswith(path + "/") or path.startswith(target + "/")


def admin_violations(docs: Docs) -> list[str]:
    """/admin stays in the namespace: the policy admits this namespace's pods, the ingress controller's namespace
    and the monitoring namespace only; the Ingress (the controller's one route in) has no path reaching /admin or
    /metrics. A NetworkPolicy cannot filter paths, and the server has no separate admin port."""
    policy = one(docs, "NetworkPolicy")["spec"]
    problems = []
    if policy.get("policyTypes") != ["Ingress"] or not policy.get("ingress"):
        problems.append("NetworkPolicy must govern Ingress with explicit rules")
    for rule in policy.get("ingress", []):
        if not rule.get("from"):
            problems.append("an ingress rule without `from` admits every peer")
        for peer in rule.get("from", []):
            names = peer.get("namespaceSelector", {}).get("matchLabels", {})
            if "ipBlock" in peer or (
                "namespaceSelector" in peer and names.get("kubernetes.io/metadata.name") not in ADMITTED_NAMESPACES
            ):
                problems.append(f"peer {peer} reaches beyond the namespace, the ingress controller and monitoring")
    for rule in one(docs, "Ingress")["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            for target in ("/admin", "/metrics"):
                if reaches(path["path"], path["pathType"], target):
                    problems.append(f"Ingress path {path['path']} ({path['pathType']}) reaches {target}")
    return problems


CHECKS: dict[str, Callable[[Docs, str], list[str]]] = {
    "probes": probe_violations,
    "grace": grace_violations,
    "resources": resource_violations,
    "security": lambda docs, env: security_violations(docs),
    "volumes": volume_violations,
    "config": config_violations,
    "secrets": lambda docs, env: secret_violations(docs),
    "scaling": scaling_violations,
    "wiring": lambda docs, env: wiring_violations(docs),
    "admin": lambda docs, env: admin_violations(docs),
}


def kserve_violations(docs: Docs) -> list[str]:
    """The InferenceService runs our image as a custom predictor speaking the Open Inference Protocol (v2) on 8080,
    with the registry URL, model and version as `serve` arguments."""
    isvc = one(docs, "InferenceService")
    predictor = isvc["spec"]["predictor"]
    c = predictor["containers"][0]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    args = dict(a.removeprefix("--").split("=", 1) for a in c.get("args", [])[1:])
    production = toml("production")
    problems = []
    if c.get("command") != ["voiceflow-inference"] or c.get("args", [""])[0] != "serve":
        problems.append("the predictor must run `voiceflow-inference serve`")
    if env.get("PROTOCOL") != "v2":
        problems.append("custom predictor must declare PROTOCOL=v2 (KServe reads the protocol from this variable)")
    if (args.get("port"), [p["containerPort"] for p in c.get("ports", [])]) != ("8080", [8080]):
        problems.append("KServe convention: --port=8080 and containerPort 8080")
    for flag, key in (("registry", "registry_url"), ("model", "model_name"), ("version", "model_ref")):
        if args.get(flag) != production[key]:
            problems.append(f"--{flag}={args.get(flag)!r}, production.toml {key} is {production[key]!r}")
    if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/v2/health/ready":
        problems.append("readiness must be /v2/health/ready")
    ctx = c.get("securityContext", {})
    if ctx.get("runAsUser") != image_uid() or ctx.get("readOnlyRootFilesystem") is not True:
        problems.append("non-root image uid and read-only root filesystem")
    if predictor.get("minReplicas", 0) < 1:
        problems.append("minReplicas >= 1: a cold start pulls, validates and warms a model")
    return problems
