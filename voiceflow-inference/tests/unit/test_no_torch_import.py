"""The serving package must never load torch or the training package (its container stays small)."""

from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import json, sys
import voiceflow_inference.app as app_module
from voiceflow_inference.config import load_settings
settings = load_settings("development", registry_url="/nonexistent", watch_dir=None, poll_interval_s=0)
app = app_module.create_app(settings)
paths = sorted(app.openapi()["paths"]) + [str(app.url_path_for("diarize"))]
banned = [m for m in sys.modules if m.split(".")[0] in ("torch", "torchaudio", "lightning", "pytorch_lightning",
                                                          "voiceflow_models")]
print(json.dumps({"banned": banned, "paths": paths}))
"""


def test_importing_and_creating_the_app_loads_no_torch() -> None:
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["banned"] == []
    for path in ("/infer", "/ready", "/health", "/metrics", "/v2/models/{name}/infer", "/admin/reload", "/ws/diarize"):
        assert path in result["paths"]


BANNED_DISTRIBUTIONS = {"torch", "torchaudio", "pytorch-lightning", "lightning", "voiceflow-models"}


def _requirement_closure(root: str, extras: tuple[str, ...]) -> set[str]:
    """Every distribution `pip install root[extras]` pulls in, read from the installed metadata (no network)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    pending: list[tuple[str, tuple[str, ...]]] = [(root, extras)]
    while pending:
        name, wanted = pending.pop()
        key = canonicalize_name(name)
        try:
            dist = distribution(key)
        except PackageNotFoundError:
            continue
        seen.add(key)
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            active = marker is None or any(
                marker.evaluate({**default_environment(), "extra": extra}) for extra in ("", *wanted)
            )
            if active and canonicalize_name(requirement.name) not in seen | {key}:
                pending.append((requirement.name, tuple(requirement.extras)))
    return seen


def test_the_install_closure_of_the_serving_package_has_no_torch() -> None:
    """What the serving container installs (`voiceflow-inference[cpu,cloud]`) never pulls torch or the training side."""
    closure = _requirement_closure("voiceflow-inference", ("cpu", "cloud"))
    assert {"voiceflow-contract", "onnxruntime", "fastapi"} <= closure
    assert closure.isdisjoint(BANNED_DISTRIBUTIONS), closure & BANNED_DISTRIBUTIONS


def test_the_closure_check_sees_torch_where_it_is() -> None:
    """The same walk finds torch under the training package, so the check above can fail."""
    assert "torch" in _requirement_closure("voiceflow-models", ())
