"""Unlisted coins keep their weight in KRW until the next rebalance after they become tradable; benchmarks.

BTC is flat at 100 from Monday 2020-05-04 (so the regime is risk-on from the first decision and never
flips); ETH's first candle is Monday 2020-07-27 (week 12) and it becomes tradable after 21 completed
days, on Monday 2020-08-17 (week 15). The only quarter month is September: its first Monday,
2020-09-07 (week 18), is the first rebalance after ETH's listing.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from backtest import D, settings_for, weekly_steps
from kairos.backtest.data import History, from_date, iso
from kairos.backtest.engine import Backtest
from kairos.core.costs import CostModel

W0 = date(2020, 5, 4)
CAPITAL = D(10_000_000)


def make() -> Backtest:
    btc = weekly_steps(W0, [100] * 21)
    eth = weekly_steps(date(2020, 7, 27), [50] * 9)  # weeks 12..20
    history = History("test", {"BTC": btc, "ETH": eth})
    settings = settings_for({"BTC": "0.5", "ETH": "0.5"}, ma_weeks=10, quarter_months=(9,))
    return Backtest(history, settings, capital=CAPITAL, costs=CostModel(Decimal(0), Decimal(0), Decimal(0)))


def monday(week: int) -> int:
    return from_date(W0) + 7 * week


def test_unlisted_weight_stays_in_krw_until_the_next_rebalance() -> None:
    bt = make()
    assert iso(bt.market.first_tradable("ETH")) == "2020-08-17"
    run = bt.run(bt.policies()[0], monday(10))
    # Start (week 10): risk-on 70 % crypto, BTC 35 % and ETH's 35 % kept in KRW → buy 3,500,000 KRW of BTC only.
    # Week 18 (first Monday of September): the quarterly rebalance buys ETH; nothing happens in between.
    assert [(iso(t.day), t.coin, t.side, t.reason) for t in run.trades] == [
        ("2020-07-13", "BTC", "BUY", "start"), ("2020-09-07", "ETH", "BUY", "quarterly")]
    assert run.trades[0].notional == D(3_500_000)
    # With zero costs the equity stays 10,000,000, and ETH gets 35 % of it: 3,500,000.
    assert run.trades[1].notional == D(3_500_000)
    assert run.equity == pytest.approx([10_000_000.0] * len(run.equity))


def test_hold_benchmarks_buy_a_late_coin_on_its_first_tradable_day() -> None:
    bt = make()
    runs = bt.compare(monday(10))
    ew = runs["equal_weight"]
    # Equal weight, 100 % crypto: BTC 50 % at the start; ETH's 50 % waits in KRW and is bought on 2020-08-17,
    # capped by the planner's fee buffer (0.5 %): 5,000,000 × 0.995 = 4,975,000 KRW.
    assert [(iso(t.day), t.coin, t.notional) for t in ew.trades] == [
        ("2020-07-13", "BTC", D(5_000_000)), ("2020-08-17", "ETH", D(4_975_000))]
    btc = runs["btc_hold"]
    # BTC hold: 100 % target, the buy capped by the fee buffer: 10,000,000 × 0.995.
    assert [(t.coin, t.notional) for t in btc.trades] == [("BTC", D(9_950_000))]
    static = runs["static"]
    # Static 70/30 uses the portfolio weights and the quarterly calendar, never the season filter.
    assert [(iso(t.day), t.coin) for t in static.trades] == [("2020-07-13", "BTC"), ("2020-09-07", "ETH")]
    assert static.decisions == [] and static.risk_on is None
