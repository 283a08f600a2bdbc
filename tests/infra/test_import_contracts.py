"""The import contracts in .importlinter really bite: a temporary copy of the four packages passes lint-imports, and the
same copy with one planted cross-package import fails, naming the contract it breaks.

Each case copies the sources (not the tests) into a temporary folder, points PYTHONPATH at the copy only, and runs
lint-imports there with a copy of .importlinter, so the worktree is never touched. No timing is asserted.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = {
    "voiceflow_contract": REPO / "contract/src/voiceflow_contract",
    "voiceflow_inference": REPO / "voiceflow-inference/src/voiceflow_inference",
    "voiceflow_models": REPO / "voiceflow-models/src/voiceflow_models",
    "voiceflow_bench": REPO / "bench/src/voiceflow_bench",
}
#: (package the violation is planted in, what it imports, the id of the contract that must break)
VIOLATIONS = [
    ("voiceflow_models", "voiceflow_inference", "models-never-import-inference"),
    ("voiceflow_inference", "voiceflow_models", "inference-stays-small"),
    ("voiceflow_inference", "torch", "inference-stays-small"),
    ("voiceflow_contract", "voiceflow_inference", "contract-is-leaf"),
    ("voiceflow_contract", "voiceflow_models", "contract-is-leaf"),
    ("voiceflow_contract", "torch", "contract-is-leaf"),
    ("voiceflow_inference", "voiceflow_bench", "only-bench-imports-bench"),
    ("voiceflow_models", "voiceflow_bench", "only-bench-imports-bench"),
]


def contract_names() -> dict[str, str]:
    """Contract id -> the name lint-imports prints, read from the real .importlinter."""
    config = configparser.ConfigParser()
    config.read(REPO / ".importlinter")
    prefix = "importlinter:contract:"
    return {
        section[len(prefix) :]: config[section]["name"] for section in config.sections() if section.startswith(prefix)
    }


def copy_tree(root: Path) -> Path:
    """The four packages' sources and .importlinter under ``root``; returns the folder to put on PYTHONPATH."""
    src = root / "src"
    for name, path in PACKAGES.items():
        shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(REPO / ".importlinter", root / ".importlinter")
    return src


def lint_imports(root: Path, src: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports in ``root`` seeing only the copy (no cache, so every run analyses the files afresh)."""
    # lint-imports prints through rich, which wraps long contract names at the terminal width: one line per result.
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "1000"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def broken_line(output: str, name: str) -> str | None:
    """The result line of contract ``name`` in lint-imports' summary, or None when it is not printed."""
    return next((line for line in output.splitlines() if line.startswith(name + " ")), None)


def test_the_contracts_this_test_relies_on_exist() -> None:
    names = contract_names()
    for _, _, contract in VIOLATIONS:
        assert contract in names, f".importlinter lost the {contract} contract"


def test_unmodified_copy_passes(tmp_path: Path) -> None:
    src = copy_tree(tmp_path)
    proc = lint_imports(tmp_path, src)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in contract_names().values():
        line = broken_line(proc.stdout, name)
        assert line is not None and line.endswith("KEPT"), (name, proc.stdout)


@pytest.mark.parametrize(("package", "imported", "contract"), VIOLATIONS, ids=[f"{p}->{i}" for p, i, _ in VIOLATIONS])
def test_planted_violation_fails_naming_the_contract(
    tmp_path: Path, package: str, imported: str, contract: str
) -> None:
    src = copy_tree(tmp_path)
    planted = src / package / "planted_violation.py"
    planted.write_text(f'"""Planted by the import-contract test."""\n\nimport {imported}  # noqa: F401\n')
    proc = lint_imports(tmp_path, src)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    name = contract_names()[contract]
    line = broken_line(proc.stdout, name)
    assert line is not None and line.endswith("BROKEN"), (name, proc.stdout)
    assert f"{package}.planted_violation -> {imported}" in proc.stdout, proc.stdout
