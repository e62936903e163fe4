"""Fixtures shared across test folders (keep this file small; local fixtures live near their tests)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Mapping

import pytest

from kairos.env import Env


@pytest.fixture
def make_env(tmp_path: Path) -> Callable[..., Env]:
    """Build an Env with StringIO streams, an empty (or given) environ and tmp_path as home."""
    def factory(environ: Mapping[str, str] | None = None, home: Path | None = None) -> Env:
        return Env(stdout=io.StringIO(), stderr=io.StringIO(), environ=dict(environ or {}), home=home or tmp_path)
    return factory
