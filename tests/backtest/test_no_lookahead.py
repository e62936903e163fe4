"""No look-ahead: cutting the history after day X changes nothing the engine did up to day X."""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from backtest import D, settings_for
from kairos.backtest.data import History, from_date, iso
from kairos.backtest.engine import Backtest
from kairos.coinone.models import Candle
from kairos.core.costs import CostModel

FIRST = from_date(date(2018, 1, 1))


def random_walk(seed: int, days: int, level: float) -> list[Candle]:
    """A seeded daily walk with a boom and a bust, so the filter flips a few times."""
    rng = np.random.default_rng(seed)
    trend = np.concatenate([np.full(days // 3, 0.004), np.full(days // 3, -0.004), np.full(days - 2 * (days // 3), 0.003)])
    closes = level * np.exp(np.cumsum(trend + rng.normal(0, 0.03, days)))
    out, previous = [], level
    for i, close in enumerate(closes):
        o, c = D(f"{previous:.2f}"), D(f"{close:.2f}")
        out.append(Candle((FIRST + i) * 86_400_000, o, max(o, c) * D("1.01"), min(o, c) * D("0.99"), c,
                          D(1), D(f"{1e9 * math.exp(rng.normal()):.0f}")))
        previous = close
    return out


def test_truncating_the_future_changes_nothing_before_the_cut() -> None:
    full = {"BTC": random_walk(1, 1500, 10_000_000.0), "ETH": random_walk(2, 1500, 500_000.0)}
    settings = settings_for({"BTC": "0.6", "ETH": "0.4"}, ma_weeks=30)
    whole = Backtest(History("t", full), settings, capital=D(10_000_000), costs=CostModel())
    start = whole.resolve_start(None)
    long_run = whole.run(whole.policies()[0], start)
    cut = FIRST + 1100
    assert len(long_run.flips) >= 2 and any(t.day > cut for t in long_run.trades)  # the test has teeth
    short = {coin: [c for c in rows if c.timestamp // 86_400_000 <= cut] for coin, rows in full.items()}
    part = Backtest(History("t", short), settings, capital=D(10_000_000), costs=CostModel())
    short_run = part.run(part.policies()[0], start)
    assert part.end_day == cut
    assert short_run.trades == [t for t in long_run.trades if t.day <= cut]
    assert [w.decision for w in short_run.decisions] == [w.decision for w in long_run.decisions if w.day <= cut]
    assert short_run.equity == pytest.approx(long_run.equity[:len(short_run.equity)], rel=1e-15)
    assert iso(start) == iso(whole.earliest_start)
