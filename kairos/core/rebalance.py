"""Rebalance planner: from a valuation and target weights to order intents. Pure.

Per universe coin: target value = total × target weight; skip when |delta| is below
max(min order, drift threshold × total); sells are sized in coin (rounded down to qty_unit,
never more than the available, unlocked quantity), buys in whole KRW. Buys together never
exceed the KRW that will really be there after the sells, less a fee buffer applied to the
sell proceeds and again to the total: when short, every buy shrinks by the same factor.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Mapping

from kairos.coinone.models import MarketRules
from kairos.core.allocation import QUOTE, WEIGHT_TOLERANCE, CoinPosition, Valuation
from kairos.core.types import OrderIntent, Side
from kairos.money import ONE, ZERO, round_down

BUY, SELL, HOLD = "BUY", "SELL", "HOLD"

BELOW_DRIFT = "below_drift"  # |delta| under drift_threshold × total
BELOW_MIN_ORDER = "below_min_order"  # |delta| or the rounded order under the market minimum
MARKET_CLOSED = "market_closed"  # the market refuses this side now (maintenance / trade status)
QTY_LOCKED = "qty_locked"  # the sell would be large enough, but the coins are locked in open orders
CAPPED_BY_KRW = "capped_by_krw"  # the buy, shrunk to fit available KRW, fell under the minimum

KRW_STEP = ONE  # buys are placed in whole KRW


@dataclass(frozen=True)
class PlanRow:
    """One universe coin in the plan: where it is, where it should be, and what to do."""

    target: str
    qty: Decimal  # held, available + locked
    price: Decimal
    value: Decimal
    current_weight: Decimal
    target_weight: Decimal
    target_value: Decimal
    delta_krw: Decimal  # target_value − value; positive means buy
    action: str  # BUY | SELL | HOLD
    skip_reason: str | None = None  # set exactly when the action is HOLD
    order_krw: Decimal = ZERO  # BUY amount, or SELL qty × price; 0 for HOLD
    order_qty: Decimal | None = None  # SELL only
    capped: bool = False  # BUY shrunk to fit the KRW budget


@dataclass(frozen=True)
class RebalancePlan:
    """Rows per universe coin and the orders to place, sells first."""

    total: Decimal
    rows: tuple[PlanRow, ...]
    intents: tuple[OrderIntent, ...]
    krw_after_sells: Decimal  # available KRW + sell proceeds less the fee buffer (estimate)
    buy_budget: Decimal  # krw_after_sells less the fee buffer again: the cap on all buys

    @property
    def sells(self) -> tuple[OrderIntent, ...]:
        """The SELL intents, in universe order."""
        return tuple(i for i in self.intents if i.side is Side.SELL)

    @property
    def buys(self) -> tuple[OrderIntent, ...]:
        """The BUY intents, in universe order."""
        return tuple(i for i in self.intents if i.side is Side.BUY)

    @property
    def has_orders(self) -> bool:
        """True when the plan would place at least one order."""
        return bool(self.intents)

    @property
    def sell_krw(self) -> Decimal:
        """Estimated KRW value of all sells."""
        return sum((i.est_krw for i in self.sells), ZERO)

    @property
    def buy_krw(self) -> Decimal:
        """KRW spent by all buys."""
        return sum((i.est_krw for i in self.buys), ZERO)

    def row(self, target: str) -> PlanRow:
        """The row of one universe coin."""
        for row in self.rows:
            if row.target == target:
                return row
        raise KeyError(f"{target} is not in the plan")


def plan_rebalance(
    valuation: Valuation,
    targets: Mapping[str, Decimal],
    rules: Mapping[str, MarketRules],
    *,
    drift_threshold: Decimal,
    fee_buffer: Decimal,
) -> RebalancePlan:
    """Plan the orders that move `valuation` toward `targets` (total-portfolio weights incl. "KRW")."""
    _check_fraction("drift_threshold", drift_threshold)
    _check_fraction("fee_buffer", fee_buffer)
    _check_targets(valuation, targets, rules)
    drafts = [_draft(valuation, coin, targets[coin], rules[coin], drift_threshold) for coin in valuation.coins]
    proceeds = sum((r.order_krw for r in drafts if r.action == SELL), ZERO)
    keep = ONE - fee_buffer
    krw_after_sells = valuation.krw_available + proceeds * keep
    budget = krw_after_sells * keep
    rows = tuple(_fit_buys(drafts, budget, rules))
    return RebalancePlan(total=valuation.total, rows=rows, intents=_intents(rows),
                         krw_after_sells=krw_after_sells, buy_budget=budget)


def _check_fraction(name: str, value: Decimal) -> None:
    if not ZERO <= value < ONE:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def _check_targets(valuation: Valuation, targets: Mapping[str, Decimal], rules: Mapping[str, MarketRules]) -> None:
    # "KRW" is required so crypto-part weights (which also sum to 1) cannot pass for total weights.
    if QUOTE not in targets:
        raise ValueError(f"targets must include {QUOTE} (weights of the total portfolio)")
    coins = [c for c in targets if c != QUOTE]
    for coin in coins:
        if coin not in valuation.coins:
            raise ValueError(f"target {coin} is not in the valued universe")
        if coin not in rules:
            raise ValueError(f"no market rules for {coin}")
    for coin in valuation.coins:
        if coin not in targets:
            raise ValueError(f"no target weight for universe coin {coin}")
    if any(w < 0 for w in targets.values()):
        raise ValueError(f"target weights must not be negative: {dict(targets)}")
    total = sum(targets.values(), ZERO)
    if abs(total - ONE) > WEIGHT_TOLERANCE:
        raise ValueError(f"target weights must sum to 1 including {QUOTE}, got {total}")


def _draft(valuation: Valuation, coin: str, weight: Decimal, rule: MarketRules, drift: Decimal) -> PlanRow:
    """The row before the KRW budget is applied."""
    pos = valuation.coins[coin]
    target_value = valuation.total * weight
    delta = target_value - pos.value
    row = PlanRow(target=coin, qty=pos.qty_total, price=pos.price, value=pos.value,
                  current_weight=valuation.weight(coin), target_weight=weight,
                  target_value=target_value, delta_krw=delta, action=HOLD)
    drift_krw = drift * valuation.total
    if delta == 0 or abs(delta) < max(rule.min_order_krw, drift_krw):
        return replace(row, skip_reason=BELOW_DRIFT if drift_krw > rule.min_order_krw else BELOW_MIN_ORDER)
    return _sell(row, pos, rule) if delta < 0 else _buy(row, rule)


def _sell(row: PlanRow, pos: CoinPosition, rule: MarketRules) -> PlanRow:
    if not rule.can_sell:
        return replace(row, skip_reason=MARKET_CLOSED)
    wanted = round_down(-row.delta_krw / row.price, rule.qty_unit)
    # Locked coins count in value but cannot be sold until their orders end.
    qty = min(wanted, round_down(pos.qty_available, rule.qty_unit))
    if _sell_too_small(qty, row.price, rule):
        reason = BELOW_MIN_ORDER if _sell_too_small(wanted, row.price, rule) else QTY_LOCKED
        return replace(row, skip_reason=reason)
    return replace(row, action=SELL, order_qty=qty, order_krw=qty * row.price)


def _sell_too_small(qty: Decimal, price: Decimal, rule: MarketRules) -> bool:
    return qty <= 0 or qty < rule.min_qty or qty * price < rule.min_order_krw


def _buy(row: PlanRow, rule: MarketRules) -> PlanRow:
    if not rule.can_buy:
        return replace(row, skip_reason=MARKET_CLOSED)
    amount = round_down(row.delta_krw, KRW_STEP)
    if _buy_too_small(amount, row.price, rule):
        return replace(row, skip_reason=BELOW_MIN_ORDER)
    return replace(row, action=BUY, order_krw=amount)


def _buy_too_small(amount: Decimal, price: Decimal, rule: MarketRules) -> bool:
    return amount <= 0 or amount < rule.min_order_krw or amount / price < rule.min_qty


def _fit_buys(rows: list[PlanRow], budget: Decimal, rules: Mapping[str, MarketRules]) -> list[PlanRow]:
    """Shrink every buy by one factor when together they exceed the budget."""
    wanted = sum((r.order_krw for r in rows if r.action == BUY), ZERO)
    if wanted <= budget:
        return rows
    scale = budget / wanted
    return [_scale_buy(r, scale, rules[r.target]) if r.action == BUY else r for r in rows]


def _scale_buy(row: PlanRow, scale: Decimal, rule: MarketRules) -> PlanRow:
    # Rounding down after scaling keeps the sum of buys within the budget.
    amount = round_down(row.order_krw * scale, KRW_STEP)
    if _buy_too_small(amount, row.price, rule):
        return replace(row, action=HOLD, skip_reason=CAPPED_BY_KRW, order_krw=ZERO)
    return replace(row, order_krw=amount, capped=True)


def _intents(rows: tuple[PlanRow, ...]) -> tuple[OrderIntent, ...]:
    # Sells first: their proceeds fund the buys.
    sells = [OrderIntent(target=r.target, side=Side.SELL, amount_krw=None, qty=r.order_qty,
                         price=r.price, est_krw=r.order_krw) for r in rows if r.action == SELL]
    buys = [OrderIntent(target=r.target, side=Side.BUY, amount_krw=r.order_krw, qty=None,
                        price=r.price, est_krw=r.order_krw) for r in rows if r.action == BUY]
    return tuple(sells + buys)
