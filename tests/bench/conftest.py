"""The benchmark suite's tests (root tests/ has no pytest config of its own: register the marker here)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register ``slow`` (run by `make chaos`, skipped by `make test`)."""
    config.addinivalue_line("markers", "slow: long-running tests (make chaos)")
