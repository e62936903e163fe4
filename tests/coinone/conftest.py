"""Fixtures for the client tests: a `responses` mock and a recorder standing in for sleep()."""
from __future__ import annotations

from typing import Iterator

import pytest
import responses


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    """Delays the client asked to sleep (the injected sleep records instead of waiting)."""
    return []
