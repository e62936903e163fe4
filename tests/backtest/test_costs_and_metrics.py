"""The pure cost model (tables computed by hand) and the metrics on curves whose figures are known."""
from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from kairos.backtest.engine import Policy, Run
from kairos.backtest.metrics import cagr, compute, daily_returns, drawdown
from kairos.core.costs import CostModel, impact_rate, leg_cost

D = Decimal


@pytest.mark.parametrize("notional, slices, sigma, adv, fee, spread, impact", [
    # no volatility: fee 0.2 % and half-spread 0.05 % only
    ("1000000", 12, "0", "1000000000", "2000", "500", "0"),
    # σ 4 %, one slice of 10,000,000 KRW into 1e9 KRW/day: √0.01 = 0.1 → impact 0.4 % → 40,000 KRW
    ("10000000", 1, "0.04", "1000000000", "20000", "5000", "40000"),
    # the same leg in 4 slices of 2,500,000: √0.0025 = 0.05 → impact 0.2 % → 20,000 KRW (halved by √4)
    ("10000000", 4, "0.04", "1000000000", "20000", "5000", "20000"),
    # 24 slices of 1,000,000 into 1e8 KRW/day, σ 5 %: √0.01 = 0.1 → 0.5 % → 120,000 KRW on 24,000,000
    ("24000000", 24, "0.05", "100000000", "48000", "12000", "120000"),
])
def test_leg_cost_by_hand(notional: str, slices: int, sigma: str, adv: str, fee: str, spread: str, impact: str) -> None:
    cost = leg_cost(SEED, D(notional), slices, D(sigma), D(adv))
    assert (cost.fee_krw, cost.spread_krw, cost.impact_krw) == (D(fee), D(spread), D(impact))
    assert cost.total == D(fee) + D(spread) + D(impact)
    assert cost.slice_krw == D(notional) / slices


SEED = CostModel(permanent_y=D(0), resilience_minutes=D(0))  # the seed's formula: no permanent part, instant refill


def test_a_one_shot_order_pays_no_permanent_impact_of_its_own() -> None:
    one = leg_cost(CostModel(), D(10_000_000), 1, D("0.04"), D(1_000_000_000))
    assert one.permanent_krw == 0 and one.impact_krw == D(40_000)  # √(0.01) × 0.04 = 0.4 %


def test_later_slices_pay_the_shift_left_by_the_earlier_ones() -> None:
    # 4 slices of 2,500,000 into 1e9/day, σ 4 %, P 0.5, no fade (no interval): the shift before slice k is
    # 0.5 × 0.04 × √(k × 2.5e6 / 1e9) = 0.02 × 0.05 × √k = 0.001 × √k → paid on 2,500,000 each:
    # 2,500 × (0 + 1 + √2 + √3) = 2,500 × 4.146264… = 10,365.66 KRW
    cost = leg_cost(CostModel(resilience_minutes=D(0)), D(10_000_000), 4, D("0.04"), D(1_000_000_000))
    assert float(cost.permanent_krw) == pytest.approx(2500 * (1 + 2 ** 0.5 + 3 ** 0.5), rel=1e-12)
    assert float(cost.impact_krw) == pytest.approx(20_000 + 2500 * (1 + 2 ** 0.5 + 3 ** 0.5), rel=1e-12)


def test_a_book_that_has_not_refilled_costs_more() -> None:
    # 2 slices of 5,000,000, 10 minutes apart, half-life 10 minutes: the second slice meets 2,500,000 missing.
    # transient = 0.04/√1e9 × [5e6^1.5 + ((7.5e6)^1.5 − (2.5e6)^1.5)]
    model = CostModel(permanent_y=D(0), resilience_minutes=D(10))
    cost = leg_cost(model, D(10_000_000), 2, D("0.04"), D(1_000_000_000), interval_minutes=10)
    by_hand = 0.04 / 1e9 ** 0.5 * (5e6 ** 1.5 + (7.5e6 ** 1.5 - 2.5e6 ** 1.5))
    assert float(cost.impact_krw) == pytest.approx(by_hand, rel=1e-12)
    fresh = leg_cost(model, D(10_000_000), 2, D("0.04"), D(1_000_000_000), interval_minutes=600)
    assert cost.impact_krw > fresh.impact_krw  # ten hours apart: the book is back (2^-60 left)


def test_configurable_parameters_change_the_cost() -> None:
    model = CostModel(fee=D("0.001"), half_spread=D("0.0002"), impact_y=D("0.5"))
    cost = leg_cost(model, D(10_000_000), 1, D("0.04"), D(1_000_000_000))
    assert cost.total == D(10_000) + D(2_000) + D(20_000)  # impact 0.5 × 0.04 × 0.1 = 0.2 %
    assert impact_rate(model, D(0), D("0.04"), D(1)) == 0


@pytest.mark.parametrize("bad", [
    lambda: CostModel(fee=D("-0.001")), lambda: CostModel(fee=D("0.6"), half_spread=D("0.5")),
    lambda: leg_cost(CostModel(), D(1), 0, D(0), D(1)), lambda: leg_cost(CostModel(), D(1), 1, D("0.1"), D(0)),
])
def test_bad_cost_inputs_are_refused(bad) -> None:  # noqa: ANN001 - a lambda
    with pytest.raises(ValueError):
        bad()


def run_of(equity: list[float], capital: float = 100.0) -> Run:
    return Run(Policy("static", {"BTC": D(1)}), 0, len(equity) - 1, D(repr(capital)), np.array(equity))


def test_metrics_of_a_known_curve() -> None:
    # 100 → 110 → 99 → 121: returns +10 %, −10 %, +22.22 %; peak 110 then 99 → drawdown −10 %.
    m = compute(run_of([110.0, 99.0, 121.0]))
    assert m.total_return == pytest.approx(0.21)
    assert m.max_drawdown == pytest.approx(-0.10)
    assert m.cagr == pytest.approx(1.21 ** (365 / 3) - 1)
    returns = [0.1, -0.1, 121 / 99 - 1]
    mean, sd = float(np.mean(returns)), float(np.std(returns, ddof=1))
    assert m.volatility == pytest.approx(sd * math.sqrt(365))
    assert m.sharpe == pytest.approx(mean * 365 / (sd * math.sqrt(365)))
    downside = math.sqrt(0.01 / 3) * math.sqrt(365)
    assert m.sortino == pytest.approx(mean * 365 / downside)
    assert m.calmar == pytest.approx(m.cagr / 0.10)
    assert (m.trades, m.costs_krw, m.flips, m.risk_on_share) == (0, 0.0, None, None)


def test_flat_curve_has_no_ratios_and_no_drawdown() -> None:
    m = compute(run_of([100.0] * 30))
    assert (m.cagr, m.max_drawdown, m.volatility) == (0.0, 0.0, 0.0)
    assert m.sharpe is None and m.sortino is None and m.calmar is None


def test_helpers() -> None:
    assert daily_returns(np.array([110.0, 121.0]), 100.0) == pytest.approx([0.1, 0.1])
    assert drawdown(np.array([90.0, 120.0, 60.0]), 100.0) == pytest.approx([-0.1, 0.0, -0.5])
    assert cagr(200.0, 100.0, 730) == pytest.approx(math.sqrt(2) - 1)
    assert cagr(0.0, 100.0, 10) == -1.0
