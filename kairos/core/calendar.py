"""The rebalancing calendar: when a quarter's rebalance is due (pure; the caller passes `now`).

The quarterly rebalance is due on the first Monday of January, April, July and October at 09:00
Korean time. A run that finds it not done an hour after that (`CATCH_UP_AFTER`) catches it up.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")
CATCH_UP_AFTER = timedelta(hours=1)
QUARTER_MONTHS = (1, 4, 7, 10)


def first_monday_0900(year: int, month: int) -> datetime:
    """The first Monday of the month, 09:00 KST."""
    first = datetime(year, month, 1, 9, 0, tzinfo=KST)
    return first + timedelta(days=(7 - first.weekday()) % 7)


def quarter_due(now: datetime, months: tuple[int, ...] = QUARTER_MONTHS) -> datetime:
    """When the rebalance of the calendar quarter containing `now` (in KST) is due: the first Monday of
    the quarter's month listed in `months` (`strategy.rebalance.quarter_months`), else of its first month."""
    local = now.astimezone(KST)
    quarter = (local.month - 1) // 3
    month = next((m for m in months if (m - 1) // 3 == quarter), quarter * 3 + 1)
    return first_monday_0900(local.year, month)


def catch_up_due(now: datetime, done_quarter: str | None, quarter: str, since: datetime | None,
                 months: tuple[int, ...] = QUARTER_MONTHS) -> bool:
    """True when this quarter's rebalance was due (+1 h) and has not run, and the installation existed then.

    `done_quarter` is the last quarter whose rebalance ran; `since` is when the installation was created
    (a new installation mid-quarter has missed nothing: it starts with the next quarter or a manual run).
    """
    due = quarter_due(now, months) + CATCH_UP_AFTER
    if now < due or done_quarter == quarter:
        return False
    return since is not None and since <= due
