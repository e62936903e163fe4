"""Execution cost model for backtests, pure: fee + half-spread + square-root market impact, per TWAP slice.

Each slice of `Q` KRW costs  Q × (fee + half_spread + Y·σ·√(Q/V))  where σ is the coin's daily
volatility (standard deviation of daily log returns) and V its average daily KRW turnover. A leg of
N KRW cut into n equal slices therefore costs N × (fee + half_spread + Y·σ·√(N/(n·V))): slicing
does not change the fee or the spread, it shrinks the impact by √n. All values are Decimals so a
hand-computed cost matches to the last digit.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kairos.money import ZERO

DEFAULT_FEE = Decimal("0.002")  # Coinone's standard taker fee, 0.20 %
DEFAULT_HALF_SPREAD = Decimal("0.0005")  # 5 bps: half of a typical KRW-market bid/ask spread
DEFAULT_IMPACT_Y = Decimal("1.0")  # square-root law coefficient (order of 1 in the literature)


@dataclass(frozen=True)
class CostModel:
    """The three cost parameters, as fractions of the traded KRW (Y is dimensionless)."""

    fee: Decimal = DEFAULT_FEE
    half_spread: Decimal = DEFAULT_HALF_SPREAD
    impact_y: Decimal = DEFAULT_IMPACT_Y

    def __post_init__(self) -> None:
        for name in ("fee", "half_spread", "impact_y"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a non-negative Decimal, got {value!r}")
        if self.fee + self.half_spread >= 1:
            raise ValueError("fee + half_spread must stay below 1")


@dataclass(frozen=True)
class LegCost:
    """What one order leg costs, split by cause; every figure in KRW except `rate`."""

    notional: Decimal  # KRW traded at the reference price
    slices: int
    slice_krw: Decimal  # notional / slices
    impact_rate: Decimal  # Y·σ·√(slice/V), the same for every (equal) slice
    fee_krw: Decimal
    spread_krw: Decimal
    impact_krw: Decimal

    @property
    def total(self) -> Decimal:
        """Fee + spread + impact, in KRW."""
        return self.fee_krw + self.spread_krw + self.impact_krw

    @property
    def rate(self) -> Decimal:
        """Total cost as a fraction of the notional (0 for an empty leg)."""
        return self.total / self.notional if self.notional > 0 else ZERO


def impact_rate(model: CostModel, slice_krw: Decimal, sigma: Decimal, adv_krw: Decimal) -> Decimal:
    """Square-root impact of one slice: Y·σ·√(Q/V), as a fraction of the slice."""
    if slice_krw < 0 or sigma < 0:
        raise ValueError(f"slice and sigma must be non-negative, got {slice_krw} and {sigma}")
    if adv_krw <= 0:
        raise ValueError(f"average daily volume must be positive, got {adv_krw}")
    if slice_krw == 0 or sigma == 0 or model.impact_y == 0:
        return ZERO
    return model.impact_y * sigma * (slice_krw / adv_krw).sqrt()


def leg_cost(model: CostModel, notional: Decimal, slices: int, sigma: Decimal, adv_krw: Decimal) -> LegCost:
    """Cost of `notional` KRW traded in `slices` equal TWAP slices, each charged on its own."""
    if isinstance(slices, bool) or not isinstance(slices, int) or slices < 1:
        raise ValueError(f"slices must be a positive integer, got {slices!r}")
    if notional < 0:
        raise ValueError(f"notional must be non-negative, got {notional}")
    slice_krw = notional / slices
    rate = impact_rate(model, slice_krw, sigma, adv_krw)
    # n equal slices: n × (slice × rate) = notional × rate, for each component.
    return LegCost(notional=notional, slices=slices, slice_krw=slice_krw, impact_rate=rate,
                   fee_krw=notional * model.fee, spread_krw=notional * model.half_spread,
                   impact_krw=notional * rate)
