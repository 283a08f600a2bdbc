"""Security properties checked on the code itself (the live admin behaviour — 401 without a token, 403 with a wrong
one, 404 when disabled — is in tests/integration/test_serving_endpoints.py; non-root containers in
tests/infra/test_dockerfiles.py).

* the admin token is compared in constant time (hmac.compare_digest), and the comparison really decides;
* only ONNX is ever loaded: no pickle / torch.load / joblib / numpy pickle loading anywhere in voiceflow_inference;
* every size limit in Settings is documented, with its default, in docs/serving-api.md;
* a weak or empty token never enables /admin.
"""

from __future__ import annotations

import ast
import hmac
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

import voiceflow_inference
from voiceflow_inference import dependencies
from voiceflow_inference.config import ConfigError, Limits, load_settings
from voiceflow_inference.errors import ServiceError

SRC = Path(voiceflow_inference.__file__).resolve().parent
DOCS = Path(__file__).resolve().parents[3] / "docs" / "serving-api.md"
TOKEN = "s3cret-admin-token"


def request_with(authorization: str | None, token: str | None = TOKEN) -> Request:
    """A real Starlette request whose app carries settings with ``token``."""
    settings = load_settings("development", admin_token=token)

    class App:
        state = type("State", (), {"settings": settings})()

    headers = [] if authorization is None else [(b"authorization", authorization.encode("latin-1"))]
    scope: dict[str, Any] = {"type": "http", "headers": headers, "app": App(), "client": ("127.0.0.1", 1)}
    return Request(scope)


def status_of(authorization: str | None, token: str | None = TOKEN) -> int:
    try:
        dependencies.require_admin(request_with(authorization, token))
    except ServiceError as exc:
        return exc.status
    return 200


def test_require_admin_statuses() -> None:
    assert status_of(f"Bearer {TOKEN}") == 200
    assert status_of(f"bearer {TOKEN}") == 200  # the scheme is case-insensitive (RFC 7235)
    assert status_of(None) == 401
    assert status_of("Bearer ") == 401
    assert status_of(f"Basic {TOKEN}") == 401
    assert status_of("Bearer wrong-token-value") == 403
    assert status_of(f"Bearer {TOKEN}x") == 403
    assert status_of(f"Bearer {TOKEN[:-1]}") == 403
    assert status_of(f"Bearer {TOKEN}", token=None) == 404


def test_token_is_compared_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The source uses hmac.compare_digest and no ``==`` on the token, and the call really decides the outcome."""
    source = inspect.getsource(dependencies.require_admin)
    assert "hmac.compare_digest(" in source
    tree = ast.parse(inspect.cleandoc("\n" + source))
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            text = ast.unparse(node)
            assert "token" not in text and "expected" not in text, f"non-constant-time comparison: {text}"

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(dependencies.hmac, "compare_digest", spy)
    assert status_of("Bearer nope-nope-nope") == 403
    assert status_of(f"Bearer {TOKEN}") == 200
    assert calls == [(b"nope-nope-nope", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]
    # And the comparison is what decides: a compare_digest that always says "equal" lets a wrong token in.
    monkeypatch.setattr(dependencies.hmac, "compare_digest", lambda a, b: True)
    assert status_of("Bearer nope-nope-nope") == 200


@pytest.mark.parametrize("token", ["", "   ", "short"])
def test_empty_or_weak_token_never_enables_admin(token: str) -> None:
    if token.strip():
        with pytest.raises(ConfigError, match="admin_token"):
            load_settings("development", admin_token=token)
    else:
        assert load_settings("development", admin_token=token).admin_token is None


FORBIDDEN = {
    "pickle": "pickle can run arbitrary code on load",
    "cPickle": "pickle can run arbitrary code on load",
    "dill": "pickle variant",
    "cloudpickle": "pickle variant",
    "joblib": "joblib.load unpickles",
    "torch": "torch.load unpickles (and the server must not import torch)",
    "shelve": "shelve unpickles",
    "marshal": "marshal loads code objects",
}


def python_files() -> list[Path]:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    return files


def scan_for_pickle_loading(source: str, filename: str) -> list[str]:
    """The rules: no import of a pickle-based loader, no numpy.load, no allow_pickle other than False.

    Returns one ``file:line: problem`` string per offence; both the real scan and the planted-offender test use it.
    """
    problems: list[str] = []
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module.split(".")[0]]
        elif isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            if func in ("__import__", "importlib.import_module") and node.args:
                names = [ast.unparse(node.args[0]).strip("'\"").split(".")[0]]
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    problems.append(f"{filename}:{node.lineno}: allow_pickle={ast.unparse(kw.value)}")
            if func.endswith(("np.load", "numpy.load")):
                problems.append(f"{filename}:{node.lineno}: numpy.load (can unpickle)")
        problems += [f"{filename}:{node.lineno}: imports {n} ({FORBIDDEN[n]})" for n in names if n in FORBIDDEN]
    return problems


def test_no_pickle_style_loading_anywhere_in_the_server() -> None:
    """Only ONNX is ever loaded: no import of a pickle-based loader, and numpy never loads with allow_pickle=True."""
    problems: list[str] = []
    for path in python_files():
        problems += scan_for_pickle_loading(path.read_text(), path.name)
    assert problems == []


def test_models_are_only_opened_by_onnxruntime_from_bytes_or_onnx_paths() -> None:
    """The one place a model becomes executable is an onnxruntime session (built by create_session)."""
    sessions = [
        p.name for p in python_files() if any(s in p.read_text() for s in ("InferenceSession(", "create_session("))
    ]
    assert sessions and set(sessions) <= {"onnx_model.py", "bare_ort.py"}, sessions


def test_the_scan_would_catch_a_pickle_import() -> None:
    """Guard against a scan that can never fail: the very function the real test runs flags each planted offender."""
    planted = {
        "import pickle": "imports pickle",
        "import torch.serialization": "imports torch",
        "from joblib import load": "imports joblib",
        "import importlib\nimportlib.import_module('dill')": "imports dill",
        "__import__('shelve')": "imports shelve",
        "import numpy as np\nnp.load('x.npy')": "numpy.load",
        "import numpy\nnumpy.load('x.npy', allow_pickle=False)": "numpy.load",
        "f('x', allow_pickle=True)": "allow_pickle=True",
        "f('x', allow_pickle=flag)": "allow_pickle=flag",
    }
    for source, problem in planted.items():
        found = scan_for_pickle_loading(source, "planted.py")
        assert len(found) == 1 and problem in found[0], (source, found)
    clean = "import json\nimport numpy as np\nnp.frombuffer(b'', dtype=np.float32)\nf(allow_pickle=False)\n"
    assert scan_for_pickle_loading(clean, "clean.py") == []


def test_every_limit_is_configured_and_documented() -> None:
    """Each field of Settings.limits (and the other size/time bounds) appears in docs/serving-api.md with its key."""
    text = DOCS.read_text()
    missing = [f"limits.{name}" for name in Limits.model_fields if f"limits.{name}" not in text]
    assert missing == [], f"undocumented limits in {DOCS.name}: {missing}"
    for name in ("shutdown_grace_s", "admin_token", "poll_interval_s"):
        assert name in text, name
    limits = Limits()
    for name, field in Limits.model_fields.items():
        assert field.description, f"limits.{name} has no description"
        value = getattr(limits, name)
        assert value > 0, name
    # The table rows state the default next to the key.
    for name in ("max_batch", "max_concurrent_sessions"):
        row = next(line for line in text.splitlines() if f"`limits.{name}`" in line)
        assert re.search(rf"\b{getattr(limits, name)}\b", row), row
