"""docs/architecture.md opens with the source tree, one line per module; this keeps it true.

Every source module of the five packages must appear in the tree (and every listed module must exist), and no
source module may grow past 400 lines (the architecture rule: one concept per file).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = [
    "contract/src/voiceflow_contract",
    "voiceflow-models/src/voiceflow_models",
    "voiceflow-inference/src/voiceflow_inference",
    "bench/src/voiceflow_bench",
    "demo",
]
MAX_LINES = 400


def source_modules() -> list[Path]:
    found = []
    for pkg in PACKAGES:
        found += [p for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(found)


def documented_modules(text: str) -> set[str]:
    """Paths of the modules the doc's first code block lists (indentation gives the folder)."""
    block = text.split("```", 2)[1]
    paths: set[str] = set()
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        name = line.split()[0]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        prefix = stack[-1][1] if stack else ""
        if name.endswith("/"):
            folder = f"{prefix}{name}"
            stack.append((indent, folder))
            if prefix:  # a sub-package: its __init__.py
                paths.add(f"{folder}__init__.py")
        elif name.endswith(".py"):
            paths.add(f"{prefix}{name}")
    return paths


def test_the_tree_lists_every_module_and_nothing_else() -> None:
    listed = documented_modules(DOC.read_text(encoding="utf-8"))
    actual = {str(p.relative_to(ROOT)) for p in source_modules()}
    assert actual - listed == set(), "modules missing from the tree in docs/architecture.md"
    assert listed - actual == set(), "docs/architecture.md lists modules that do not exist"


def test_no_source_module_is_over_the_limit() -> None:
    big = {str(p.relative_to(ROOT)): n for p in source_modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}, f"split these modules (one concept per file, <= {MAX_LINES} lines)"


def test_the_tree_check_can_fail(tmp_path: Path) -> None:
    """The parser sees a missing module: drop one line from the tree and the comparison differs."""
    text = DOC.read_text(encoding="utf-8")
    line = next(ln for ln in text.split("```", 2)[1].splitlines() if ln.strip().startswith("spec.py"))
    assert "contract/src/voiceflow_contract/spec.py" in documented_modules(text)
    assert "contract/src/voiceflow_contract/spec.py" not in documented_modules(text.replace(line + "\n", "", 1))
