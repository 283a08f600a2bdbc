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
