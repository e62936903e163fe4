"""Reliability harness fixtures, and the rule that keeps the default run short.

Tests marked `slow` (the full sweeps) run only when asked: `pytest -m slow`, or with
KAIROS_SLOW=1 in the environment. Every category also has a small default-run version.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def slow_requested(config: pytest.Config) -> bool:
    """True when the user selected slow tests (-m … slow …) or set KAIROS_SLOW=1."""
    expression = config.getoption("markexpr", default="") or ""
    return os.environ.get("KAIROS_SLOW") == "1" or ("slow" in expression and "not slow" not in expression)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if slow_requested(config):
        return
    skip = pytest.mark.skip(reason="full reliability sweep: run with -m slow (or KAIROS_SLOW=1)")
    for item in items:
        if item.get_closest_marker("slow") and HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)

