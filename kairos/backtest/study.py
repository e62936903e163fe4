"""One backtest study: the strategy and its three benchmarks over the chosen period, plus a robustness
table over several start dates (every 1 January with enough history, 1 July too when that gives
fewer than three starts), each run to the same end day.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from kairos.backtest.data import History, from_date, iso, next_monday, to_date
from kairos.backtest.engine import Backtest, Run
from kairos.backtest.metrics import YEAR_DAYS, Metrics, compute
from kairos.core.costs import CostModel
from kairos.settings import Settings

MIN_ROBUST_DAYS = YEAR_DAYS  # a start needs a year of data after it to enter the table


@dataclass(frozen=True)
class RobustRow:
    """The four portfolios from one start day to the common end day."""

    start_day: int
    metrics: dict[str, Metrics]


@dataclass
class Study:
    """Everything the report, the JSON and the chart need."""

    source: str
    settings: Settings
    capital: Decimal
    costs: CostModel
    backtest: Backtest
    start_day: int
    end_day: int
    runs: dict[str, Run]
    metrics: dict[str, Metrics]
    robustness: list[RobustRow] = field(default_factory=list)
    notes: tuple[str, ...] = ()

    @property
    def strategy(self) -> Run:
        return self.runs["strategy"]


def run_study(history: History, settings: Settings, *, capital: Decimal, costs: CostModel,
              start_day: int | None = None, end_day: int | None = None, robustness: bool = True) -> Study:
    """Run the strategy and the benchmarks from the start (default: earliest possible) to the end."""
    bt = Backtest(history, settings, capital=capital, costs=costs, end_day=end_day)
    start = bt.resolve_start(start_day)
    runs = bt.compare(start)
    study = Study(source=history.source, settings=settings, capital=capital, costs=costs, backtest=bt,
                  start_day=start, end_day=bt.end_day, runs=runs,
                  metrics={key: compute(run) for key, run in runs.items()},
                  notes=history.notes + stale_notes(history, settings, bt.end_day))
    if robustness:
        study.robustness = robustness_table(bt, robustness_starts(bt.earliest_start, bt.end_day))
    return study


def stale_notes(history: History, settings: Settings, end_day: int) -> tuple[str, ...]:
    """A line for each universe coin whose data stops before the end (valued at its last close after)."""
    notes = []
    for coin in settings.strategy.portfolio.weights:
        last = history.last_day(coin)
        if last is not None and last < end_day:
            notes.append(f"{coin}: data ends {iso(last)}; valued at its last close after that")
        if last is None:
            notes.append(f"{coin}: no data at all; its weight stays in KRW")
    return tuple(notes)


def robustness_starts(earliest: int, end_day: int) -> list[int]:
    """The earliest start, then the first Monday of every year (and half-year if few) with a year left."""
    last = end_day - MIN_ROBUST_DAYS
    years = range(to_date(earliest).year, to_date(end_day).year + 1)
    yearly = _mondays(years, (1,), earliest, last)
    chosen = yearly if len(yearly) >= 3 else _mondays(years, (1, 7), earliest, last)
    return sorted({earliest, *chosen}) if earliest <= last else [earliest]


def _mondays(years: range, months: tuple[int, ...], first: int, last: int) -> list[int]:
    days = (next_monday(from_date(date(y, m, 1))) for y in years for m in months)
    return [d for d in days if first <= d <= last]


def robustness_table(bt: Backtest, starts: list[int]) -> list[RobustRow]:
    """Metrics of the four portfolios from each start day."""
    return [RobustRow(start, {k: compute(run) for k, run in bt.compare(start).items()}) for start in starts]
