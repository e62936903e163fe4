"""Execution cost model, pure: fee + half-spread + market impact, per TWAP slice — the one the backtest
charges and the simulated exchange's book reproduces (`kairos.sim.impact`), with the same parameters.

σ is the coin's daily volatility (std of daily log returns), V its average daily KRW turnover.

- **Transient impact (the book).** The book beyond the touch holds, within a price distance δ of it,
  D(δ) = V·(2δ / (3·Y·σ))² KRW, so walking q KRW on a fresh book costs on average Y·σ·√(q/V) (the
  square-root law). A trade consumes the book; the consumed part refills with a half-life of
  `resilience_minutes` (Obizhaeva–Wang). A slice that meets `d` KRW still missing walks from there:
  Y·σ·((d+q)^1.5 − d^1.5) / (q·√V).
- **Permanent impact.** The mid moves with the KRW already traded in the same direction, M, by
  P·σ·√(M/V) (the square-root law of metaorders, measured on Bitcoin by Donier & Bonart, 2015), and
  relaxes with a half-life of `permanent_half_life_hours`. A later slice pays the shift left by the
  earlier ones; a one-shot order pays none of its own.

With P = 0 and full recovery between slices (no interval given) a leg of N KRW in n slices costs
N × (fee + half_spread + Y·σ·√(N/(n·V))), the seed's formula. All values are Decimals.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kairos.money import ZERO

DEFAULT_FEE = Decimal("0.002")  # Coinone's standard taker fee, 0.20 %
DEFAULT_HALF_SPREAD = Decimal("0.0005")  # 5 bps: half of a typical KRW-market bid/ask spread
DEFAULT_IMPACT_Y = Decimal("1.0")  # square-root law coefficient (order of 1 in the literature)
DEFAULT_PERMANENT_Y = Decimal("0.5")  # the part of the sqrt law that stays in the mid (our assumption: about half)
DEFAULT_RESILIENCE_MINUTES = Decimal("10")  # half-life of the book's refill (an assumption for Coinone's KRW books)
DEFAULT_PERMANENT_HALF_LIFE_HOURS = Decimal("24")  # the "permanent" shift fades over days, not within a plan


@dataclass(frozen=True)
class CostModel:
    """The three cost parameters, as fractions of the traded KRW (Y is dimensionless)."""

    fee: Decimal = DEFAULT_FEE
    half_spread: Decimal = DEFAULT_HALF_SPREAD
    impact_y: Decimal = DEFAULT_IMPACT_Y
    permanent_y: Decimal = DEFAULT_PERMANENT_Y
    resilience_minutes: Decimal = DEFAULT_RESILIENCE_MINUTES
    permanent_half_life_hours: Decimal = DEFAULT_PERMANENT_HALF_LIFE_HOURS

    def __post_init__(self) -> None:
        for name in ("fee", "half_spread", "impact_y", "permanent_y", "resilience_minutes", "permanent_half_life_hours"):
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
    impact_rate: Decimal  # impact as a fraction of the notional (transient + permanent, averaged over the slices)
    fee_krw: Decimal
    spread_krw: Decimal
    impact_krw: Decimal
    permanent_krw: Decimal = ZERO  # the part of impact_krw paid to the shift left by the leg's earlier slices

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


def walk_rate(model: CostModel, depleted: Decimal, q: Decimal, sigma: Decimal, adv_krw: Decimal) -> Decimal:
    """Average transient impact of walking `q` KRW on a book still missing `depleted` KRW, as a fraction of q."""
    if q <= 0 or sigma == 0 or model.impact_y == 0:
        return ZERO
    if depleted <= 0:
        return impact_rate(model, q, sigma, adv_krw)  # a fresh book: exactly Y·σ·√(q/V)
    return model.impact_y * sigma * (_pow15(depleted + q) - _pow15(depleted)) / (q * adv_krw.sqrt())


def permanent_rate(model: CostModel, traded: Decimal, sigma: Decimal, adv_krw: Decimal) -> Decimal:
    """The mid's shift after `traded` KRW in one direction: P·σ·√(traded/V), as a fraction of the mid."""
    if traded <= 0 or sigma == 0 or model.permanent_y == 0:
        return ZERO
    return model.permanent_y * sigma * (traded / adv_krw).sqrt()


def decay(elapsed: Decimal, half_life: Decimal) -> Decimal:
    """2^(−elapsed/half_life): what is left of a disturbance after `elapsed` (same unit as `half_life`)."""
    if half_life <= 0:
        return ZERO
    if elapsed <= 0:
        return Decimal(1)
    return Decimal(2) ** (-(elapsed / half_life))


def leg_cost(model: CostModel, notional: Decimal, slices: int, sigma: Decimal, adv_krw: Decimal,
             interval_minutes: Decimal | int | None = None) -> LegCost:
    """Cost of `notional` KRW traded in `slices` equal TWAP slices `interval_minutes` apart.

    Without an interval the book recovers fully between slices and the permanent shift does not fade (the
    upper bound of the permanent part). Slice k pays the fee, the half-spread, the walk over the book left
    by the earlier slices, and the mid shift they left."""
    if isinstance(slices, bool) or not isinstance(slices, int) or slices < 1:
        raise ValueError(f"slices must be a positive integer, got {slices!r}")
    if notional < 0:
        raise ValueError(f"notional must be non-negative, got {notional}")
    if sigma < 0:
        raise ValueError(f"sigma must be non-negative, got {sigma}")
    if adv_krw <= 0:
        raise ValueError(f"average daily volume must be positive, got {adv_krw}")
    q = notional / slices
    if interval_minutes is None:
        refill, fade = ZERO, Decimal(1)
    else:
        minutes = Decimal(interval_minutes)
        refill = decay(minutes, model.resilience_minutes)
        fade = decay(minutes / 60, model.permanent_half_life_hours)
    depleted = traded = transient = permanent = ZERO
    for _ in range(slices):
        transient += q * walk_rate(model, depleted, q, sigma, adv_krw)
        permanent += q * permanent_rate(model, traded, sigma, adv_krw)
        depleted, traded = (depleted + q) * refill, (traded + q) * fade
    impact = transient + permanent
    return LegCost(notional=notional, slices=slices, slice_krw=q, impact_rate=impact / notional if notional else ZERO,
                   fee_krw=notional * model.fee, spread_krw=notional * model.half_spread,
                   impact_krw=impact, permanent_krw=permanent)


def _pow15(x: Decimal) -> Decimal:
    return x * x.sqrt() if x > 0 else ZERO
