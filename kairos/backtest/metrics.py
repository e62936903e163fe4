"""Performance figures of a run, from its daily equity curve (floats: analysis, not orders).

Crypto trades every day, so annualisation uses 365 days. Returns are daily close-to-close, the first
one measured from the initial capital. Risk-free rate 0.

- CAGR = (final / capital) ^ (365 / days) − 1
- max drawdown = min over days of equity / running peak − 1 (the capital is the first peak)
- volatility = sample std of daily returns × √365
- Sharpe = mean daily return × 365 / volatility
- Sortino = mean daily return × 365 / (√(mean of min(r, 0)²) × √365)
- Calmar = CAGR / |max drawdown|
- turnover = KRW traded (buys + sells) / average equity / years (times per year)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from kairos.backtest.book import total_costs
from kairos.backtest.engine import Run

YEAR_DAYS = 365


@dataclass(frozen=True)
class Metrics:
    """The report's figures for one run; ratios as fractions (0.12 = 12 %)."""

    days: int
    final_equity: float
    total_return: float
    cagr: float
    max_drawdown: float
    volatility: float
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    turnover: float
    traded_krw: float
    trades: int
    costs_krw: float
    costs_pct_capital: float
    fee_krw: float
    spread_krw: float
    impact_krw: float
    flips: int | None  # strategy only
    risk_on_share: float | None  # strategy only

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def daily_returns(equity: np.ndarray, capital: float) -> np.ndarray:
    """Close-to-close returns, the first from the initial capital."""
    previous = np.concatenate(([capital], equity[:-1]))
    return equity / previous - 1.0


def drawdown(equity: np.ndarray, capital: float) -> np.ndarray:
    """Equity / running peak − 1 per day (≤ 0), the capital counting as the first peak."""
    peaks = np.maximum.accumulate(np.concatenate(([capital], equity)))[1:]
    return equity / peaks - 1.0


def cagr(final: float, capital: float, days: int) -> float:
    """Compound annual growth rate over `days` calendar days."""
    if final <= 0:
        return -1.0
    return (final / capital) ** (YEAR_DAYS / days) - 1.0


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 or not math.isfinite(denominator) else numerator / denominator


def compute(run: Run) -> Metrics:
    """All figures of one run."""
    capital = float(run.capital)
    equity = run.equity
    days = len(equity)
    returns = daily_returns(equity, capital)
    growth = cagr(float(equity[-1]), capital, days)
    mdd = float(drawdown(equity, capital).min())
    vol = float(np.std(returns, ddof=1)) * math.sqrt(YEAR_DAYS) if days > 1 else 0.0
    mean_year = float(np.mean(returns)) * YEAR_DAYS
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2))) * math.sqrt(YEAR_DAYS)
    traded = float(sum(t.notional for t in run.trades))
    costs = {k: float(v) for k, v in total_costs(run.trades).items()}
    return Metrics(
        days=days, final_equity=float(equity[-1]), total_return=float(equity[-1]) / capital - 1.0,
        cagr=growth, max_drawdown=mdd, volatility=vol, sharpe=_ratio(mean_year, vol),
        sortino=_ratio(mean_year, downside), calmar=_ratio(growth, abs(mdd)),
        turnover=traded / float(np.mean(equity)) / (days / YEAR_DAYS), traded_krw=traded,
        trades=len(run.trades), costs_krw=costs["total"], costs_pct_capital=costs["total"] / capital,
        fee_krw=costs["fee"], spread_krw=costs["spread"], impact_krw=costs["impact"],
        flips=len(run.flips) if run.policy.season else None,
        risk_on_share=float(np.mean(run.risk_on)) if run.risk_on is not None else None,
    )
