"""The contract package stays a leaf: no torch, no training or serving package, and a light top-level import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("torch", "torchaudio", "lightning", "pytorch_lightning", "voiceflow_models", "voiceflow_inference")

PROBE = """
import json, sys
import voiceflow_contract
light = sorted(m for m in ("onnxruntime", "onnx", "torch") if m in sys.modules)
import voiceflow_contract.validator, voiceflow_contract.registry, voiceflow_contract.semver, voiceflow_contract.cli
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"light": light, "loaded": loaded}))
"""


def test_contract_imports_no_forbidden_package() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not set(FORBIDDEN) & set(result["loaded"]), result["loaded"]
    assert result["light"] == [], "import voiceflow_contract must not import onnx/onnxruntime/torch"


def test_lint_imports_passes() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    assert (REPO / ".importlinter").is_file()
    proc = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" in proc.stdout  # the summary line: "Contracts: N kept, 0 broken."
    assert "0 broken" in proc.stdout
