"""docker-compose.yml: valid for Compose v1.29 (`docker-compose config -q`), every host port on 127.0.0.1 only, and
the services wired as the local stack needs (MinIO + bucket bootstrap + publish job + inference + Prometheus + Grafana).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
SERVICES = {"minio", "minio-init", "publish", "inference", "prometheus", "grafana"}


def compose_bin() -> str:
    """Debian's docker-compose v1 (checks files without an engine); the test is skipped only when it is missing."""
    found = shutil.which("docker-compose") or (
        "/usr/bin/docker-compose" if Path("/usr/bin/docker-compose").exists() else None
    )
    if found is None:
        pytest.skip("docker-compose is not installed (`make setup` installs it: apt-get install docker-compose)")
    return found


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    """`docker-compose -f PATH config -q`, resolving relative paths against the repository root."""
    return subprocess.run(
        [compose_bin(), "-f", str(path), "--project-directory", str(REPO), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def load(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def non_loopback_ports(compose: dict[str, Any]) -> list[str]:
    """Published ports not bound to 127.0.0.1 (a bare "8000:8000" listens on every interface)."""
    problems = []
    for name, service in (compose.get("services") or {}).items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                if "published" in port and port.get("host_ip") != "127.0.0.1":
                    problems.append(f"{name}: {port}")
            elif not str(port).startswith("127.0.0.1:"):
                problems.append(f"{name}: {port}")
    return problems


def test_compose_config_is_valid() -> None:
    proc = compose_config(COMPOSE_FILE)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # a key newer than Compose v1 understands
        ("    restart: unless-stopped\n", "    restart: unless-stopped\n    develop:\n      watch: []\n"),
        # a malformed port
        ('"127.0.0.1:8000:8000"', '"127.0.0.1:8000:abc"'),
        # a dependency on a service that does not exist
        (
            "      publish:\n        condition: service_completed_successfully",
            "      nope:\n        condition: service_started",
        ),
    ],
    ids=["newer-key", "bad-port", "unknown-dependency"],
)
def test_compose_config_rejects_a_broken_copy(tmp_path: Path, old: str, new: str) -> None:
    text = COMPOSE_FILE.read_text()
    assert old in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1))
    assert compose_config(broken).returncode != 0


def test_ports_bound_to_loopback_only() -> None:
    compose = load()
    assert non_loopback_ports(compose) == []
    published = [p for s in compose["services"].values() for p in s.get("ports") or []]
    assert "127.0.0.1:8000:8000" in published
    # The same check catches an exposed port.
    compose["services"]["grafana"]["ports"] = ["3000:3000"]
    compose["services"]["minio"]["ports"].append({"target": 9000, "published": 9000})
    assert len(non_loopback_ports(compose)) == 2


def test_services_are_wired() -> None:
    services = load()["services"]
    assert set(services) >= SERVICES
    for name in ("minio", "minio-init", "prometheus", "grafana"):
        image = services[name]["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned image {image}"
    assert "healthcheck" in services["minio"]
    assert "voiceflow-models" in services["minio-init"]["command"][0]
    assert services["publish"]["build"]["dockerfile"] == "voiceflow-models/docker/Dockerfile"
    assert services["publish"]["command"][:2] == ["make", "publish"]
    assert "REGISTRY=s3://voiceflow-models" in services["publish"]["command"]
    assert services["publish"]["environment"]["VOICEFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    inference = services["inference"]
    assert inference["build"] == {"context": ".", "dockerfile": "voiceflow-inference/docker/Dockerfile.cpu"}
    assert inference["environment"]["VOICEFLOW_REGISTRY_URL"] == "s3://voiceflow-models"
    assert "publish" in inference["depends_on"]
    for build in (s["build"] for s in services.values() if "build" in s):
        assert (REPO / build["context"] / build["dockerfile"]).is_file()
    for service in services.values():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"missing bind-mount source {source}"


def test_no_obsolete_version_key() -> None:
    assert "version" not in load()  # the Compose Specification ignores it; Compose v2 warns that it is obsolete
