"""Builders shared by the backtest tests: synthetic daily candles, settings, CSV files, in-process CLI runs."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from io import StringIO
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Sequence

from kairos.backtest.data import DAY_MS, from_date, iso
from kairos.clock import Clock
from kairos.coinone.models import Candle
from kairos.env import Env
from kairos.settings import PortfolioSettings, RebalanceSettings, SeasonSettings, Settings, StrategySettings

D = Decimal
TURNOVER = D(1_000_000_000)  # KRW traded every synthetic day: V in the impact term


def flat_day(day: int, price: Decimal | str | int, turnover: Decimal = TURNOVER) -> Candle:
    """A daily candle with open = high = low = close = price and `turnover` KRW traded."""
    p = D(price)
    return Candle(timestamp=day * DAY_MS, open=p, high=p, low=p, close=p, target_volume=turnover / p,
                  quote_volume=turnover)


def weekly_steps(first_monday: date, prices: Sequence[Decimal | str | int], turnover: Decimal = TURNOVER) -> list[Candle]:
    """Seven flat daily candles per weekly price: the price jumps only at Monday 00:00 UTC."""
    start = from_date(first_monday)
    return [flat_day(start + 7 * w + i, p, turnover) for w, p in enumerate(prices) for i in range(7)]


def settings_for(weights: dict[str, str], *, ma_weeks: int = 200, quarter_months: tuple[int, ...] = (1, 4, 7, 10),
                 on_flip: bool = True) -> Settings:
    """Default settings with another universe (all core), MA period and rebalance calendar."""
    base = Settings()
    portfolio = PortfolioSettings(core=MappingProxyType({k: D(v) for k, v in weights.items()}),
                                  satellite=MappingProxyType({}))
    strategy = StrategySettings(season_filter=replace(SeasonSettings(), ma_weeks=ma_weeks), portfolio=portfolio,
                                rebalance=replace(RebalanceSettings(), quarter_months=quarter_months,
                                                  rebalance_on_season_change=on_flip))
    return replace(base, strategy=strategy)


def write_csv(path: Path, candles: Iterable[Candle], extra_rows: Iterable[str] = ()) -> Path:
    """A user CSV in the documented format, with optional raw lines appended."""
    lines = ["date,open,high,low,close,volume"]
    lines += [f"{iso(c.timestamp // DAY_MS)},{c.open},{c.high},{c.low},{c.close},{c.target_volume}" for c in candles]
    path.write_text("\n".join([*lines, *extra_rows]) + "\n", encoding="utf-8")
    return path


def run_cli(home: Path, *args: str, clock: Clock | None = None, sim_app: Any = None) -> tuple[int, str, str]:
    """kairos.cli.main in-process with StringIO streams, an empty environment and `home`."""
    from kairos.cli import main

    env = Env(stdout=StringIO(), stderr=StringIO(), environ={}, home=home, clock=clock, sim_app=sim_app)
    code = main(list(args), env=env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=timezone.utc)
