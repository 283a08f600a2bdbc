"""Fixtures for the streaming tests (helpers live in ws_helpers.py, importable because this folder is on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ws_helpers import write_band_model


@pytest.fixture(scope="session")
def band_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The band model saved once per test session."""
    return write_band_model(tmp_path_factory.mktemp("band-model") / "model.onnx")
