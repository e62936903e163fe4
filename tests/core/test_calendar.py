"""The rebalancing calendar: first Monday of the quarter at 09:00 KST, and when a missed one is caught up."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kairos.core.calendar import KST, catch_up_due, first_monday_0900, quarter_due

UTC = timezone.utc


@pytest.mark.parametrize("year, month, day", [(2026, 1, 5), (2026, 4, 6), (2026, 6, 1), (2026, 7, 6), (2026, 10, 5),
                                              (2027, 1, 4), (2024, 4, 1), (2025, 9, 1)])
def test_first_monday(year: int, month: int, day: int) -> None:
    assert first_monday_0900(year, month) == datetime(year, month, day, 9, 0, tzinfo=KST)


@pytest.mark.parametrize("now, due", [
    (datetime(2026, 11, 23, 0, 0, tzinfo=UTC), datetime(2026, 10, 5, 9, 0, tzinfo=KST)),
    (datetime(2026, 12, 31, 15, 30, tzinfo=UTC), datetime(2027, 1, 4, 9, 0, tzinfo=KST)),  # already Jan 1 in Korea
    (datetime(2026, 4, 1, 0, 0, tzinfo=UTC), datetime(2026, 4, 6, 9, 0, tzinfo=KST)),
])
def test_quarter_due(now: datetime, due: datetime) -> None:
    assert quarter_due(now) == due


DUE = datetime(2026, 10, 5, 9, 0, tzinfo=KST)
OLD = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("now, done, since, expected", [
    (DUE + timedelta(minutes=59), None, OLD, False),  # the cron job may still be running
    (DUE + timedelta(hours=1), None, OLD, True),
    (DUE + timedelta(days=20), "2026q3", OLD, True),  # last quarter's run does not count
    (DUE + timedelta(days=20), "2026q4", OLD, False),
    (DUE + timedelta(days=20), None, DUE + timedelta(days=3), False),  # installed after it was due: nothing missed
    (DUE + timedelta(days=20), None, None, False),
])
def test_catch_up_due(now: datetime, done: str | None, since: datetime | None, expected: bool) -> None:
    assert catch_up_due(now, done, "2026q4", since) is expected
