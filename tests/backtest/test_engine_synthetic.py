"""The engine on a series small enough to check by hand: a flat warm-up, a ramp up, a crash, a recovery.

Universe: BTC only (weight 1), MA period 10 weeks, band ±5 %, risk-on 70 % / risk-off 30 % crypto,
capital 10,000,000 KRW, fee 0.2 %, half-spread 0.05 %, Y = 1, every day 1,000,000,000 KRW traded.
Each week the price is flat; it jumps at Monday 00:00 UTC, so Monday's open is the new price.

    week     0..9   10    11    12    13    14    15    16    17
    Monday   05-04  07-13 07-20 07-27 08-03 08-10 08-17 08-24 08-31   (2020)
    price    100    100   120   150   60    60    110   100   97

No first Monday of Jan/Apr/Jul/Oct falls in weeks 10..17, so every trade after the start is flip-driven.
"""
from __future__ import annotations

import math
import statistics
from datetime import date
from decimal import Decimal

import pytest

from backtest import D, settings_for, weekly_steps
from kairos.backtest.data import History, from_date, iso
from kairos.backtest.engine import Backtest
from kairos.backtest.metrics import compute
from kairos.core.costs import CostModel
from kairos.core.season import Zone
from kairos.core.types import Regime

W0 = date(2020, 5, 4)
PRICES = [100] * 10 + [100, 120, 150, 60, 60, 110, 100, 97]
CAPITAL = D(10_000_000)
V = D(1_000_000_000)
FEE_AND_SPREAD = D("0.002") + D("0.0005")


def monday(week: int) -> int:
    return from_date(W0) + 7 * week


def make(on_flip: bool = True) -> Backtest:
    history = History("test", {"BTC": weekly_steps(W0, PRICES, V)})
    return Backtest(history, settings_for({"BTC": "1"}, ma_weeks=10, on_flip=on_flip), capital=CAPITAL,
                    costs=CostModel(permanent_y=D(0), resilience_minutes=D(0)))  # the seed formula, by hand


def sigma(log_returns: list[float]) -> Decimal:
    """Sample standard deviation, computed independently of the engine (statistics, not numpy)."""
    return Decimal(repr(statistics.stdev(log_returns)))


def test_decisions_flip_on_the_crash_and_recovery_weeks_only() -> None:
    bt = make()
    assert iso(bt.earliest_start) == "2020-07-13"  # week 10: the first Monday with 10 completed weeks
    weeks = bt.decisions(bt.resolve_start(None))
    assert [iso(w.day) for w in weeks] == [iso(monday(w)) for w in range(10, 18)]
    # MA by hand = mean of the 10 completed weekly closes before each Monday:
    #   w10: 10×100/10 = 100        w11: (9×100+100)/10 = 100     w12: (8×100+100+120)/10 = 102
    #   w13: (7×100+100+120+150)/10 = 107   w14: (6×100+100+120+150+60)/10 = 103
    #   w15: (5×100+100+120+150+60+60)/10 = 99   w16: (4×100+…+110)/10 = 100   w17: (3×100+…+100)/10 = 100
    assert [w.inputs.ma for w in weeks] == [D(x) for x in (100, 100, 102, 107, 103, 99, 100, 100)]
    assert [w.inputs.price for w in weeks] == [D(p) for p in PRICES[10:]]
    on, off = Regime.RISK_ON, Regime.RISK_OFF
    # w10: 100 inside [95, 105], first run, price ≥ MA → on;  w13: 60 < 107×0.95 → off;
    # w15: 110 > 99×1.05 = 103.95 → on;  w16: 100 and w17: 97 are inside [95, 105] → on stands (hysteresis;
    # a first run would say off for 97 < 100).
    assert [w.decision.regime for w in weeks] == [on, on, on, off, off, on, on, on]
    assert [w.decision.zone for w in weeks][-2:] == [Zone.INSIDE, Zone.INSIDE]
    assert [iso(w.day) for w in weeks if w.decision.changed] == [iso(monday(13)), iso(monday(15))]


def test_trades_and_costs_equal_the_hand_computed_values() -> None:
    run = make().run(make().policies()[0], monday(10))
    start, crash, recovery = run.trades
    assert [(iso(t.day), t.side, t.reason) for t in run.trades] == [
        (iso(monday(10)), "BUY", "start"), (iso(monday(13)), "SELL", "flip"), (iso(monday(15)), "BUY", "flip")]

    # Start, week 10 at 100: target 70 % of 10,000,000 = 7,000,000 KRW of BTC. The 20 daily returns before
    # are all 0, so σ = 0 and the cost is fee + half-spread only: 7,000,000 × 0.0025 = 17,500 KRW.
    # 14-day ATR = 0 ≤ 5 % → 12 slices. BTC received = (7,000,000 − 17,500) / 100 = 69,825.
    assert (start.notional, start.cost.slices, start.cost.total, start.qty) == (D(7_000_000), 12, D(17_500), D(69_825))

    # Crash, week 13 at 60: BTC worth 69,825 × 60 = 4,189,500; total 4,189,500 + 3,000,000 = 7,189,500;
    # target 30 % = 2,156,850 → sell 2,032,650 KRW = 33,877.5 BTC. ATR over the 15 days before: true ranges
    # 20 (100→120) and 30 (120→150) → ATR 50/14 = 3.57, 2.4 % of 150 → calm: 12 slices of 169,387.5 KRW.
    # σ: 21 closes before (w10..w12) give 18 zero returns, ln(1.2) and ln(1.25).
    assert (crash.qty, crash.notional, crash.cost.slices) == (D("33877.5"), D(2_032_650), 12)
    s = sigma([0.0] * 18 + [math.log(1.2), math.log(1.25)])
    rate = FEE_AND_SPREAD + s * (D("169387.5") / V).sqrt()
    assert crash.cost.total == pytest.approx(D(2_032_650) * rate, rel=D("1e-12"))
    # By hand: mean return = ln(1.5)/20 = 0.0202733; Σr² = 0.0332412 + 0.0497929 = 0.0830341;
    # σ² = (0.0830341 − 20 × 0.0202733²) / 19 = 0.0039375 → σ = 0.0627495; √(169,387.5 / 1e9) = 0.0130149;
    # impact = 0.0627495 × 0.0130149 = 0.00081668 → 1,660.04 KRW; fee + spread = 2,032,650 × 0.0025 = 5,081.63;
    # cost ≈ 6,741.66 KRW.
    assert float(crash.cost.total) == pytest.approx(6741.66, abs=0.01)
    assert float(crash.cost.fee_krw + crash.cost.spread_krw) == 5081.625
    krw_after_crash = D(3_000_000) + D(2_032_650) - crash.cost.total

    # Recovery, week 15 at 110: BTC 35,947.5 × 110 = 3,954,225; target 70 % of the total → buy the rest.
    # ATR: the 90 KRW drop (150→60) over 14 days = 6.43, 10.7 % of 60 > 5 % → volatile: 24 slices.
    # σ: 21 closes before (w12..w14): 19 zero returns and ln(0.4).
    total = krw_after_crash + D("35947.5") * 110
    amount = (total * D("0.7") - D("35947.5") * 110).to_integral_value(rounding="ROUND_DOWN")
    assert (recovery.notional, recovery.cost.slices) == (amount, 24)
    s = sigma([0.0] * 19 + [math.log(0.4)])
    rate = FEE_AND_SPREAD + s * (amount / 24 / V).sqrt()
    assert recovery.cost.total == pytest.approx(amount * rate, rel=D("1e-12"))
    assert recovery.qty == pytest.approx((amount - recovery.cost.total) / 110, rel=D("1e-20"))

    # Final equity on the last close (97): KRW left + BTC × 97; costs add up to the three legs.
    btc = D("35947.5") + recovery.qty
    assert run.equity[-1] == pytest.approx(float(krw_after_crash - amount + btc * 97), rel=1e-12)
    assert compute(run).costs_krw == pytest.approx(float(start.cost.total + crash.cost.total + recovery.cost.total))
    assert compute(run).flips == 2


def test_without_rebalance_on_season_change_only_the_start_trades() -> None:
    bt = make(on_flip=False)
    run = bt.run(bt.policies()[0], monday(10))
    assert [t.reason for t in run.trades] == ["start"]
    assert len(run.flips) == 2  # the regime still flips; the portfolio waits for the quarter


def test_equity_curve_is_daily_and_marked_at_the_close() -> None:
    bt = make()
    run = bt.run(bt.policies()[0], monday(10))
    assert len(run.equity) == 8 * 7  # weeks 10..17, every day
    # Day one closes at 100: 3,000,000 KRW + 69,825 BTC × 100 = 9,982,500 (the start cost is the only loss).
    assert run.equity[0] == pytest.approx(9_982_500)
    # Week 11 (price 120): 3,000,000 + 69,825 × 120.
    assert run.equity[7] == pytest.approx(3_000_000 + 69_825 * 120)
    flags = run.risk_on
    assert flags is not None and flags[:21].all() and not flags[21:35].any() and flags[35:].all()
