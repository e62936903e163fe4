"""kairos.core.performance against hand-computed tables (the arithmetic is in the comments)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from kairos.core import performance as perf
from kairos.core.performance import Fill, Flow

D = Decimal
T0 = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


# ---- time-weighted return ---------------------------------------------------------------------------
def test_deposit_in_the_middle_is_not_return() -> None:
    # day 0: 1,000,000 → day 10: 1,100,000 (no flow)          r1 = 1,100,000 / 1,000,000 − 1 = 0.10
    # day 15: deposit 500,000 → day 20: 1,735,000
    #   w = (20 − 15) / (20 − 10) = 0.5
    #   r2 = (1,735,000 − 1,100,000 − 500,000) / (1,100,000 + 0.5 × 500,000) = 135,000 / 1,350,000 = 0.10
    # TWR = 1.10 × 1.10 − 1 = 0.21   (the naive 1,735,000 / 1,000,000 − 1 = 0.735 would count the deposit)
    times = [day(0), day(10), day(20)]
    values = [D(1_000_000), D(1_100_000), D(1_735_000)]
    index = perf.twr_index(times, values, [Flow(day(15), D(500_000))])
    assert index == [D(1), D("1.10"), D("1.21")]
    assert perf.total_return(index) == D("0.21")


def test_withdrawal_in_the_middle_is_not_a_loss() -> None:
    # day 0: 2,000,000 → day 4: 1,900,000     r1 = −100,000 / 2,000,000 = −0.05
    # day 5: withdraw 1,000,000 → day 8: 950,000
    #   w = (8 − 5) / (8 − 4) = 0.75
    #   r2 = (950,000 − 1,900,000 − (−1,000,000)) / (1,900,000 + 0.75 × (−1,000,000)) = 50,000 / 1,150,000
    # TWR = 0.95 × (1 + 50,000 / 1,150,000) − 1 = 0.95 × 1,200,000 / 1,150,000 − 1 = −0.008695652…
    times, values = [day(0), day(4), day(8)], [D(2_000_000), D(1_900_000), D(950_000)]
    index = perf.twr_index(times, values, [Flow(day(5), D(-1_000_000))])
    assert round(perf.total_return(index), 20) == round(D("0.95") * D(1_200_000) / D(1_150_000) - 1, 20)
    assert round(perf.total_return(index), 6) == D("-0.008696")


def test_flow_at_a_snapshot_belongs_to_the_period_ending_there() -> None:
    # deposit 100 at exactly day 1 (w = 0): r1 = (1,200 − 1,000 − 100) / 1,000 = 0.10
    # a flow at exactly day 0 is before the window (already inside V0) and is ignored
    # r2 = 1,320 / 1,200 − 1 = 0.10 → TWR 0.21
    times, values = [day(0), day(1), day(2)], [D(1000), D(1200), D(1320)]
    flows = [Flow(day(0), D(999)), Flow(day(1), D(100)), Flow(day(3), D(5))]
    assert perf.twr_index(times, values, flows) == [D(1), D("1.1"), D("1.21")]


def test_no_flows_is_the_plain_value_ratio_and_an_empty_start_has_no_return() -> None:
    times = [day(0), day(1), day(2)]
    assert perf.twr_index(times, [D(100), D(50), D(75)]) == [D(1), D("0.5"), D("0.75")]
    # nothing invested in the first sub-period → 0, then 75 / 50 − 1 = 0.5
    assert perf.twr_index(times, [D(0), D(50), D(75)], [Flow(day(1), D(50))]) == [D(1), D(1), D("1.5")]
    assert perf.total_return([D(1)]) is None and perf.twr_index([], []) == []


def test_points_in_the_same_minute_keep_the_later_one() -> None:
    times = [T0, T0 + timedelta(seconds=5), T0 + timedelta(minutes=15), T0 + timedelta(minutes=15), day(1)]
    assert perf.keep_spaced(times) == [1, 3, 4]


# ---- drawdown and volatility -------------------------------------------------------------------------
def test_max_drawdown_hand_table() -> None:
    # index:     1.00  1.20  0.90  1.00  1.30  1.04
    # peak:      1.00  1.20  1.20  1.20  1.30  1.30
    # drawdown:  0     0    −0.25 −1/6   0    −0.20   → deepest −0.25 from point 1 to point 2
    index = [D("1.00"), D("1.20"), D("0.90"), D("1.00"), D("1.30"), D("1.04")]
    series = perf.drawdown_series(index)
    assert series[:3] == [D(0), D(0), D("-0.25")] and series[5] == D("-0.2")
    assert perf.max_drawdown(index) == perf.Drawdown(D("-0.25"), 1, 2)
    assert perf.max_drawdown([D(1), D(2)]) == perf.Drawdown(D(0), 0, 0)
    assert perf.max_drawdown([D(1)]) is None


def test_volatility_of_daily_returns() -> None:
    # index 1.00 → 1.10 → 0.99 → 1.089: returns +0.10, −0.10, +0.10 over one day each
    # mean = 0.1 / 3; deviations +0.0667, −0.1333, +0.0667; Σ squares = 0.026667; / (3 − 1) = 0.013333
    # σ_day = √0.013333 = 0.115470; σ_year = 0.115470 × √365 = 2.206052
    times = [day(0), day(1), day(2), day(3)]
    index = [D("1.00"), D("1.10"), D("0.99"), D("1.089")]
    vol = perf.annualised_volatility(times, index, min_returns=3, min_days=D(1))
    assert round(vol, 6) == D("2.206052")


def test_volatility_with_uneven_spacing() -> None:
    # r1 = +0.01 over 1 day, r2 = 1.0302 / 1.01 − 1 = +0.02 over 4 days
    # drift m = 0.03 / 5 = 0.006 per day
    # z1 = (0.01 − 0.006 × 1) / √1 = 0.004 ; z2 = (0.02 − 0.006 × 4) / √4 = −0.002
    # variance per day = (0.004² + 0.002²) / (2 − 1) = 0.00002 → σ_year = √(0.00002 × 365) = √0.0073 = 0.085440
    times, index = [day(0), day(1), day(5)], [D("1"), D("1.01"), D("1.0302")]
    vol = perf.annualised_volatility(times, index, min_returns=2, min_days=D(1))
    assert round(vol, 6) == D("0.085440")


def test_volatility_refuses_too_little_history() -> None:
    times = [T0 + timedelta(minutes=15 * i) for i in range(6)]
    index = [D("1"), D("1.01"), D("1.0"), D("1.02"), D("1.01"), D("1.0")]
    assert perf.annualised_volatility(times, index) is None  # 5 returns but 75 minutes < 7 days
    assert perf.annualised_volatility(times[:2], index[:2], min_days=D(0)) is None  # one return


# ---- benchmarks -----------------------------------------------------------------------------------------
# BTC and ETH prices at four snapshots; the 3rd is the first one of a new quarter (1 April KST).
BENCH_TIMES = [datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 20, tzinfo=timezone.utc),
               datetime(2026, 4, 1, 0, 0, tzinfo=timezone.utc), datetime(2026, 4, 20, tzinfo=timezone.utc)]
BENCH_PRICES = [{"BTC": D(100), "ETH": D(10)}, {"BTC": D(120), "ETH": D(10)},
                {"BTC": D(150), "ETH": D(5)}, {"BTC": D(150), "ETH": D(10)}]


def test_btc_buy_and_hold() -> None:
    # 100 → 120 → 150 → 150: growth 1, 1.2, 1.5, 1.5
    index = perf.weighted_index(BENCH_TIMES, BENCH_PRICES, {"BTC": D(1)})
    assert index == [D(1), D("1.2"), D("1.5"), D("1.5")]


def test_static_mix_rebalanced_quarterly() -> None:
    # 70/30 crypto/KRW, crypto split BTC 0.5 / ETH 0.5 → BTC 0.35, ETH 0.35, KRW 0.30 of 1
    # units: BTC 0.35/100 = 0.0035, ETH 0.35/10 = 0.035, KRW 0.30
    # 20 Mar: 0.0035×120 + 0.035×10 + 0.30 = 0.42 + 0.35 + 0.30 = 1.07
    # 1 Apr (09:00 KST, new quarter): 0.0035×150 + 0.035×5 + 0.30 = 0.525 + 0.175 + 0.30 = 1.00 → rebalance at 1.00:
    #   BTC 0.35/150, ETH 0.35/5 = 0.07, KRW 0.30
    # 20 Apr: 0.35/150×150 + 0.07×10 + 0.30 = 0.35 + 0.70 + 0.30 = 1.35
    # (without the rebalance: 0.525 + 0.35 + 0.30 = 1.175)
    weights = perf.static_mix_weights({"BTC": D("0.5"), "ETH": D("0.5")}, D("0.70"))
    assert weights == {"BTC": D("0.35"), "ETH": D("0.35"), "KRW": D("0.30")}
    index = perf.weighted_index(BENCH_TIMES, BENCH_PRICES, weights, perf.quarter_of)
    assert [round(v, 10) for v in index] == [D(1), D("1.07"), D("1.00"), D("1.35")]
    held = perf.weighted_index(BENCH_TIMES, BENCH_PRICES, weights)
    assert [round(v, 10) for v in held] == [D(1), D("1.07"), D("1.00"), D("1.175")]


def test_hold_the_starting_weights() -> None:
    # start: BTC 40 %, ETH 20 %, KRW 40 % → units BTC 0.004, ETH 0.02, KRW 0.4
    # 20 Mar: 0.48 + 0.20 + 0.40 = 1.08 ; 1 Apr: 0.60 + 0.10 + 0.40 = 1.10 ; 20 Apr: 0.60 + 0.20 + 0.40 = 1.20
    index = perf.weighted_index(BENCH_TIMES, BENCH_PRICES, {"BTC": D("0.4"), "ETH": D("0.2"), "KRW": D("0.4")})
    assert index == [D(1), D("1.08"), D("1.10"), D("1.20")]


def test_benchmark_needs_a_starting_price_and_prices_are_carried_forward() -> None:
    assert perf.weighted_index(BENCH_TIMES[:2], [{"ETH": D(10)}, {"BTC": D(1), "ETH": D(10)}], {"BTC": D(1)}) is None
    filled = perf.forward_fill([{"BTC": D(100)}, {"ETH": D(10)}, {"BTC": D(90)}])
    assert filled == [{"BTC": D(100)}, {"BTC": D(100), "ETH": D(10)}, {"BTC": D(90), "ETH": D(10)}]


def test_quarter_is_counted_in_korean_time() -> None:
    assert perf.quarter_of(datetime(2026, 3, 31, 14, 59, tzinfo=timezone.utc)) == (2026, 1)  # 23:59 KST
    assert perf.quarter_of(datetime(2026, 3, 31, 15, 0, tzinfo=timezone.utc)) == (2026, 2)  # 1 Apr 00:00 KST


# ---- execution cost ------------------------------------------------------------------------------------
FILLS = [
    # plan p1: BTC buys 2 slices, one ETH sell; an unfilled order is ignored
    Fill("p1", "BTC", "BUY", D("0.01"), D(1_000_000), D(2_000), D("10")),
    Fill("p1", "BTC", "BUY", D("0.01"), D(1_010_000), D(2_020), D("20")),
    Fill("p1", "ETH", "SELL", D("1"), D(500_000), D(1_000), D("-4")),
    Fill("p1", "XRP", "BUY", D(0), D(0), D(0), None),
    Fill(None, "SOL", "BUY", D("2"), D(400_000), D(800), D("5")),
]


def test_plan_costs_hand_table() -> None:
    # p1 executed 1,000,000 + 1,010,000 + 500,000 = 2,510,000 KRW; fees 2,000 + 2,020 + 1,000 = 5,020
    # fee bps = 5,020 / 2,510,000 × 10,000 = 20.00
    # slippage (KRW-weighted) = (10 × 1,000,000 + 20 × 1,010,000 − 4 × 500,000) / 2,510,000
    #                         = (10,000,000 + 20,200,000 − 2,000,000) / 2,510,000 = 11.2351 → 11.24
    # vs arrival (BTC 100,000,000, ETH 505,000):
    #   BTC leg: average 2,010,000 / 0.02 = 100,500,000 → buy +50 bps on 2,010,000 KRW
    #   ETH leg: average 500,000 → sell (505,000 − 500,000) / 505,000 = 99.01 bps on 500,000 KRW
    #   → (50 × 2,010,000 + 99.01 × 500,000) / 2,510,000 = 150,005,000 / 2,510,000 = 59.7629… → 59.76
    [p1, loose] = perf.plan_costs(FILLS, {"p1": {"BTC": D(100_000_000), "ETH": D(505_000)}})
    assert (p1.key, p1.orders, p1.executed_krw, p1.fees) == ("p1", 3, D(2_510_000), D(5_020))
    assert (p1.fee_bps, p1.slippage_bps, p1.arrival_bps) == (D("20.00"), D("11.24"), D("59.76"))
    assert p1.total_bps == D("31.24")
    # the order without a plan: 800 / 400,000 = 20 bps fee, 5 bps slippage, no arrival price
    assert (loose.key, loose.fee_bps, loose.slippage_bps, loose.arrival_bps) == ("-", D("20.00"), D("5.00"), None)


def test_all_fills_and_empty_groups() -> None:
    every = perf.cost_of("all", FILLS)
    # 2,910,000 KRW, fees 5,820 → 20 bps; slippage (28,200,000 + 2,000,000) / 2,910,000 = 10.378 → 10.38
    assert (every.orders, every.executed_krw, every.fees, every.fee_bps, every.slippage_bps) == (
        4, D(2_910_000), D(5_820), D("20.00"), D("10.38"))
    empty = perf.cost_of("none", [])
    assert (empty.fee_bps, empty.slippage_bps, empty.total_bps) == (None, None, None)


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError):
        perf.twr_index([T0], [D(1), D(2)])
