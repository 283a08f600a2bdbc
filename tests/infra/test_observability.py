"""Prometheus scrapes the service where compose runs it, Grafana is provisioned against that Prometheus, and every
metric named by the dashboard and the alert rules is one the real service exports (read from a live /metrics).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

try:
    import promql_parser
except ImportError as exc:  # a hard failure, not a skip: without it the PromQL checks would silently vanish
    raise ImportError("promql-parser is needed for the PromQL checks: `make setup` installs it") from exc

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy/prometheus/prometheus.yml"
ALERTS = REPO / "deploy/prometheus/alerts.yml"
DATASOURCES = REPO / "deploy/grafana/provisioning/datasources/prometheus.yml"
DASHBOARD_PROVIDERS = REPO / "deploy/grafana/provisioning/dashboards/voiceflow.yml"
DASHBOARD = REPO / "deploy/grafana/dashboards/voiceflow.json"
COMPOSE = REPO / "docker-compose.yml"
RULE_TESTS = sorted((REPO / "deploy/prometheus/tests").glob("*.yml"))

# Series Prometheus writes itself for every scrape target; no service exports them.
PROMETHEUS_BUILTINS = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
# Grafana's interval variables are not PromQL; any valid duration stands in for them when parsing.
_GRAFANA_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}")


# ---------------------------------------------------------------------------------------------- metric names
def _selected(node: Any) -> set[str]:
    """Metric names selected anywhere in a parsed PromQL expression tree."""
    if isinstance(node, promql_parser.VectorSelector):
        names = {node.name} if node.name else set()
        matchers = node.matchers.matchers if node.matchers else []
        return names | {m.value for m in matchers if m.name == "__name__"}
    children: list[Any] = []
    if isinstance(node, promql_parser.MatrixSelector):
        children = [node.vector_selector]
    elif isinstance(node, promql_parser.BinaryExpr):
        children = [node.lhs, node.rhs]
    elif isinstance(node, promql_parser.AggregateExpr):
        children = [node.expr, node.param]
    elif isinstance(node, promql_parser.Call):
        children = list(node.args)
    elif isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr):
        children = [node.expr]
    return {name for child in children if child is not None for name in _selected(child)}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects, from the real PromQL parser (a syntax or type error raises)."""
    try:
        tree = promql_parser.parse(_GRAFANA_INTERVALS.sub("5m", expr))
    except ValueError as exc:
        raise ValueError(f"invalid PromQL ({exc}): {expr}") from None
    return _selected(tree)


def grafana_query_metric_names(query: str) -> set[str]:
    """Metric names in a Grafana variable query: `label_values(metric, label)`, `query_result(expr)`, `metrics(re)`."""
    if match := re.fullmatch(r"\s*label_values\(\s*(.*?)\s*,\s*\w+\s*\)\s*", query):
        return promql_metric_names(match.group(1))
    if re.fullmatch(r"\s*label_values\(\s*\w+\s*\)\s*", query) or query.strip().startswith("metrics("):
        return set()
    if match := re.fullmatch(r"\s*query_result\((.*)\)\s*", query):
        return promql_metric_names(match.group(1))
    return promql_metric_names(query)


def dashboard_metric_names(dashboard: dict[str, Any]) -> set[str]:
    """Every metric the dashboard's panel targets (rows' nested panels included) and variables query."""
    names: set[str] = set()
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop()
        panels += panel.get("panels", [])
        for target in panel.get("targets", []):
            if target.get("expr"):
                names |= promql_metric_names(target["expr"])
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        if variable.get("type") == "query" and query:
            names |= grafana_query_metric_names(query)
    return names


def alert_metric_names(rules: dict[str, Any]) -> set[str]:
    """Every metric used by the alerting and recording rules' expressions."""
    return {name for group in rules["groups"] for rule in group["rules"] for name in promql_metric_names(rule["expr"])}


def exported_series_names(exposition: str) -> set[str]:
    """Series names a Prometheus server stores from this /metrics text.

    Sample lines give the names directly; metrics with labels but no sample yet only have `# TYPE` lines, which
    are expanded by type: histogram -> _bucket/_sum/_count, summary -> name/_sum/_count, counter -> its name as
    written (prometheus_client writes counters with the _total suffix), plus _created for all three.
    """
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
            elif kind == "summary":
                names |= {name, f"{name}_sum", f"{name}_count", f"{name}_created"}
            elif kind == "counter":
                base = name.removesuffix("_total")
                names |= {f"{base}_total", f"{base}_created"}
            else:
                names.add(name)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def unknown_metrics(used: set[str], exported: set[str]) -> set[str]:
    """The check: used names that are neither exported by the service nor written by Prometheus itself."""
    return used - exported - PROMETHEUS_BUILTINS


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def exported(live_inference: Any) -> set[str]:
    scrape = _yaml(PROMETHEUS)["scrape_configs"][0]
    reply = httpx.get(live_inference.url + scrape.get("metrics_path", "/metrics"), timeout=10)
    assert reply.status_code == 200
    names = exported_series_names(reply.text)
    # exercise() sent REST, OIP and WebSocket traffic: the version-labelled latency series must have samples.
    assert re.search(r'voiceflow_inference_latency_seconds_count\{[^}]*version="1\.0\.0"', reply.text), reply.text[
        :2000
    ]
    return names


# ---------------------------------------------------------------------------------------------- tests
def test_promql_metric_names() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, version) ("
        'rate(voiceflow_inference_latency_seconds_bucket{model=~"$model"}'
        '[$__rate_interval]))) > 0.010 and on() (sum(up{job="x"}) > 0) / clamp_min(sum(rate(a_total[5m])), 1e-9)'
    )
    assert promql_metric_names(expr) == {"voiceflow_inference_latency_seconds_bucket", "up", "a_total"}
    assert promql_metric_names('(sum(m1) or vector(0)) < 1 unless m2 offset 5m + {__name__="m3"}') == {"m1", "m2", "m3"}
    assert grafana_query_metric_names("label_values(voiceflow_model_info, model)") == {"voiceflow_model_info"}
    with pytest.raises(ValueError, match="invalid PromQL"):
        promql_metric_names("sum(rate(m1[5m])")
    assert exported_series_names(
        '# TYPE h histogram\n# TYPE c_total counter\n# TYPE g gauge\nc_total{a="1"} 2.0\nx 1\n'
    ) == {"h_bucket", "h_sum", "h_count", "h_created", "c_total", "c_created", "g", "x"}


def test_prometheus_scrapes_the_service_where_compose_runs_it(live_inference: Any) -> None:
    config = _yaml(PROMETHEUS)
    compose = _yaml(COMPOSE)["services"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs["voiceflow-inference"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets == ["inference:8000"]
    host, port = targets[0].split(":")
    assert host in compose
    # The container listens on the port the host maps to and the image exposes.
    container_ports = {str(p).rsplit(":", 1)[-1] for p in compose[host]["ports"]}
    assert port in container_ports
    assert f"EXPOSE {port}" in (REPO / compose[host]["build"]["dockerfile"]).read_text()
    # The metrics path is the service's real one.
    reply = httpx.get(live_inference.url + job.get("metrics_path", "/metrics"), timeout=10)
    assert reply.status_code == 200 and "voiceflow_model_info" in reply.text
    # The rule file Prometheus loads is our alerts.yml: relative to the config, which the compose bind mount carries
    # together with it, so the same path works in the container and for promtool in the repository.
    mount = next(v for v in compose["prometheus"]["volumes"] if v.startswith("./deploy/prometheus:"))
    container_dir = mount.split(":")[1]
    config_flag = next(a for a in compose["prometheus"]["command"] if a.startswith("--config.file="))
    assert config_flag == f"--config.file={container_dir}/prometheus.yml"
    assert config["rule_files"] == ["alerts.yml"]
    assert all((PROMETHEUS.parent / rule_file).is_file() for rule_file in config["rule_files"])


def test_grafana_is_provisioned_against_compose_prometheus() -> None:
    compose = _yaml(COMPOSE)["services"]
    datasource = _yaml(DATASOURCES)["datasources"][0]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090" and "prometheus" in compose
    providers = _yaml(DASHBOARD_PROVIDERS)["providers"]
    mounts = dict(v.split(":")[:2] for v in compose["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == providers[0]["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]} | {
        t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]
    }
    assert uids == {datasource["uid"]}
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for needed in ("p50 / p99 by version", "request rate", "errors", "reloads", "websocket sessions", "models served"):
        assert needed in titles
    latency = " ".join(t["expr"] for p in dashboard["panels"] if "latency" in p["title"].lower() for t in p["targets"])
    assert "histogram_quantile(0.99" in latency and "histogram_quantile(0.50" in latency
    assert "by (le, version)" in latency


def test_alert_rules_cover_the_runbook() -> None:
    from voiceflow_contract.spec import load_contract

    rules = {r["alert"]: r for g in _yaml(ALERTS)["groups"] for r in g["rules"]}
    assert set(rules) >= {
        "VoiceFlowHighErrorRate",
        "VoiceFlowP99OverBudget",
        "VoiceFlowModelReloadFailed",
        "VoiceFlowNoModelReady",
    }
    budget_s = load_contract().profile("cpu-realtime").p99_ms / 1000.0
    threshold = float(re.search(r">\s*([\d.]+)\s*$", rules["VoiceFlowP99OverBudget"]["expr"].strip()).group(1))
    assert threshold == pytest.approx(budget_s)
    runbook = (REPO / "docs/runbook.md").read_text()
    for name, rule in rules.items():
        assert rule["annotations"]["runbook_url"].startswith("docs/runbook.md#")
        assert "runbook" not in rule["annotations"]
        assert name in runbook, f"{name} is not explained in docs/runbook.md"


def test_dashboard_and_alert_metrics_are_exported(exported: set[str]) -> None:
    used_dashboard = dashboard_metric_names(json.loads(DASHBOARD.read_text()))
    used_alerts = alert_metric_names(_yaml(ALERTS))
    assert {"voiceflow_inference_latency_seconds_bucket", "voiceflow_model_reloads_total"} <= used_dashboard
    assert unknown_metrics(used_dashboard, exported) == set()
    assert unknown_metrics(used_alerts, exported) == set()


def test_the_check_catches_made_up_metrics(exported: set[str]) -> None:
    dashboard = copy.deepcopy(json.loads(DASHBOARD.read_text()))
    dashboard["panels"][0]["targets"].append({"expr": "sum(rate(voiceflow_made_up_total[5m]))", "refId": "Z"})
    assert unknown_metrics(dashboard_metric_names(dashboard), exported) == {"voiceflow_made_up_total"}
    rules = _yaml(ALERTS)
    # A counter without its _total suffix is not a series Prometheus stores.
    rules["groups"][0]["rules"][1]["expr"] = "rate(voiceflow_inference_requests[5m]) > 1"
    assert unknown_metrics(alert_metric_names(rules), exported) == {"voiceflow_inference_requests"}


# ---------------------------------------------------------------------------------------------- promtool
def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: run `make setup` (it installs Debian's prometheus package)")
    return subprocess.run([found, *map(str, args)], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_checks_the_config_and_the_rules() -> None:
    config = _promtool("check", "config", PROMETHEUS)
    assert config.returncode == 0, config.stdout + config.stderr
    assert "1 rule files found" in config.stdout
    rules = _promtool("check", "rules", ALERTS)
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    assert RULE_TESTS, "deploy/prometheus/tests/*.yml: no rule unit tests"
    result = _promtool("test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every alert has at least one unit test that expects it to fire.
    fired = {
        case["alertname"]
        for path in RULE_TESTS
        for test in _yaml(path)["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == {r["alert"] for g in _yaml(ALERTS)["groups"] for r in g["rules"]}


def test_the_p99_alert_reads_the_per_window_histogram() -> None:
    rules = {r["alert"]: r for g in _yaml(ALERTS)["groups"] for r in g["rules"]}
    assert promql_metric_names(rules["VoiceFlowP99OverBudget"]["expr"]) == {
        "voiceflow_inference_window_latency_seconds_bucket"
    }


def test_metrics_carry_process_and_python_series(live_inference: Any) -> None:
    text = httpx.get(live_inference.url + "/metrics", timeout=10).text
    for series in (
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
        "python_info",
        "python_gc_collections_total",
    ):
        assert re.search(rf"^{series}(\{{| )", text, re.MULTILINE), f"{series} missing from /metrics"
    assert re.search(r'^voiceflow_inference_window_latency_seconds_count\{[^}]*version="1\.0\.0"', text, re.MULTILINE)
