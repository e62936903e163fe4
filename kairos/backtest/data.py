"""Daily history as the backtest sees it: UTC day numbers, a per-coin candle list, weekly candles from daily.

Days are epoch day numbers (days since 1970-01-01 UTC); a daily candle opens at 00:00 UTC of its day.
Weekly candles are built from daily ones on Monday 00:00 UTC boundaries, exactly like Coinone's
(and the simulator's) `1w` candles: open of the first day, close of the last, high/low extremes,
volumes summed. The live season filter then keeps completed weeks only
(`kairos.core.season.completed_weekly_closes`), and so does the backtest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Mapping, Sequence

from kairos.coinone.models import Candle
from kairos.money import ZERO

DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1)
_MONDAY_DAY = 4  # 1970-01-05, the first Monday after the epoch


def day_of(ms: int) -> int:
    """Epoch day number of a UTC millisecond timestamp."""
    return ms // DAY_MS


def day_ms(day: int) -> int:
    """00:00 UTC of an epoch day, in ms."""
    return day * DAY_MS


def to_date(day: int) -> date:
    """Calendar date of an epoch day."""
    return _EPOCH + timedelta(days=day)


def from_date(value: date) -> int:
    """Epoch day of a calendar date."""
    return (value - _EPOCH).days


def iso(day: int) -> str:
    """YYYY-MM-DD of an epoch day."""
    return to_date(day).isoformat()


def is_monday(day: int) -> bool:
    """True when the epoch day is a Monday."""
    return (day - _MONDAY_DAY) % 7 == 0


def week_start(day: int) -> int:
    """The Monday (epoch day) of the week containing `day`."""
    return day - (day - _MONDAY_DAY) % 7


def next_monday(day: int) -> int:
    """`day` itself when it is a Monday, else the Monday after it."""
    return day + (-(day - _MONDAY_DAY)) % 7


def weekly_from_daily(candles: Sequence[Candle]) -> list[Candle]:
    """Weekly candles (Monday 00:00 UTC opens) aggregated from oldest-first daily candles."""
    weeks: list[Candle] = []
    group: list[Candle] = []
    for candle in candles:
        if group and week_start(day_of(candle.timestamp)) != week_start(day_of(group[0].timestamp)):
            weeks.append(_aggregate(group))
            group = []
        group.append(candle)
    if group:
        weeks.append(_aggregate(group))
    return weeks


def _aggregate(days: Sequence[Candle]) -> Candle:
    start = week_start(day_of(days[0].timestamp))
    return Candle(timestamp=day_ms(start), open=days[0].open, close=days[-1].close,
                  high=max(c.high for c in days), low=min(c.low for c in days),
                  target_volume=sum((c.target_volume for c in days), ZERO),
                  quote_volume=sum((c.quote_volume for c in days), ZERO))


def check_daily(coin: str, candles: Sequence[Candle]) -> None:
    """Refuse what would silently skew a backtest: unaligned, unsorted or repeated days."""
    previous = None
    for candle in candles:
        if candle.timestamp % DAY_MS:
            raise ValueError(f"{coin}: daily candle at {candle.timestamp} ms does not open at 00:00 UTC")
        if previous is not None and candle.timestamp <= previous:
            raise ValueError(f"{coin}: daily candles must be oldest-first without repeats")
        previous = candle.timestamp


@dataclass(frozen=True)
class History:
    """Daily candles per coin (oldest-first) and where they came from."""

    source: str  # e.g. "mock:seed=20240601", "coinone:https://api.coinone.co.kr", "csv:data"
    candles: Mapping[str, Sequence[Candle]]
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for coin, rows in self.candles.items():
            check_daily(coin, rows)

    def first_day(self, coin: str) -> int | None:
        """Day of the coin's first candle, or None when it has none."""
        rows = self.candles.get(coin) or ()
        return day_of(rows[0].timestamp) if rows else None

    def last_day(self, coin: str) -> int | None:
        """Day of the coin's last candle, or None when it has none."""
        rows = self.candles.get(coin) or ()
        return day_of(rows[-1].timestamp) if rows else None
