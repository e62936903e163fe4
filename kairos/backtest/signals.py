"""The weekly season decisions on history, through the live code: `two_hundred_week_ma` and `classify`.

Every Monday 00:00 UTC (09:00 KST, when cron runs `--weekly-analysis`) the reference coin's weekly
candles, built from daily ones, go through `kairos.core.season.two_hundred_week_ma` with that Monday
as "now" (so only completed weeks count), and its price is that Monday's open. `classify` then applies
the band and the hysteresis, carrying the previous regime from week to week like the state file does.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Sequence

from kairos.backtest.data import day_ms, day_of, iso, next_monday, weekly_from_daily
from kairos.backtest.market import CoinSeries
from kairos.core.season import SeasonDecision, classify, two_hundred_week_ma
from kairos.core.types import Regime
from kairos.errors import DataError


@dataclass(frozen=True)
class WeekInput:
    """What the weekly analysis would see on one Monday."""

    day: int  # the Monday, epoch day
    price: Decimal  # that day's open
    ma: Decimal
    weeks: int  # weekly candles the MA used (the live SeasonInputs.weeks)


@dataclass(frozen=True)
class WeekDecision:
    """One Monday's inputs and the regime decided from them."""

    inputs: WeekInput
    decision: SeasonDecision

    @property
    def day(self) -> int:
        return self.inputs.day


def week_inputs(series: CoinSeries, ma_weeks: int, end_day: int, market: str) -> list[WeekInput]:
    """Inputs for every Monday up to `end_day` that has `ma_weeks` completed weeks behind it."""
    if not series.candles:
        raise DataError(f"no daily candles of {market}; the season filter cannot run")
    weekly = weekly_from_daily(series.candles)
    starts = [day_of(w.timestamp) for w in weekly]
    out = []
    for monday in range(next_monday(starts[0]), end_day + 1, 7):
        completed = bisect_right(starts, monday - 7)  # a week is complete when start + 7 days <= now
        if completed < ma_weeks:
            continue
        # Pass the still-open week too, as the live chart call does; the shared filter drops it.
        ma, used = two_hundred_week_ma(weekly[:completed + 1], day_ms(monday), ma_weeks, market=market)
        out.append(WeekInput(day=monday, price=series.price(monday), ma=ma, weeks=len(used)))
    return out


def completed_weeks(series: CoinSeries, day: int) -> int:
    """How many complete Monday-to-Sunday weeks of data the coin has before `day`."""
    if not series.candles:
        return 0
    starts = [day_of(w.timestamp) for w in weekly_from_daily(series.candles)]
    return bisect_right(starts, day - 7)


def too_little_history(series: CoinSeries, ma_weeks: int, end_day: int, market: str) -> DataError:
    """The error for a history too short for the moving average: says how much there is."""
    weeks = completed_weeks(series, end_day + 1)
    span = f"{iso(int(series.days[0]))} .. {iso(int(series.days[-1]))}" if series.candles else "none"
    return DataError(f"need {ma_weeks} completed weekly candles of {market} for the {ma_weeks}-week MA, "
                     f"the data has {weeks} (daily candles {span}); no backtest")


def decide(inputs: Iterable[WeekInput], band: Decimal, previous: Regime | None = None) -> list[WeekDecision]:
    """Classify each Monday in order, carrying the regime forward (hysteresis) from `previous`."""
    out = []
    for week in inputs:
        decision = classify(week.price, week.ma, band, previous)
        previous = decision.regime
        out.append(WeekDecision(week, decision))
    return out


def from_day(inputs: Sequence[WeekInput], start_day: int) -> list[WeekInput]:
    """The inputs on or after `start_day`."""
    days = [w.day for w in inputs]
    return list(inputs[bisect_right(days, start_day - 1):])
