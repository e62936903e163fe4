"""The simulated account: KRW and coin quantities in Decimal, and the fills of each order leg with its costs.

Fill rule: a leg fills entirely on its day at the day's price, and its cost (fee + half-spread + impact,
`kairos.core.costs`) is taken from what it delivers: a BUY of A KRW spends A and receives
(A − cost) / price coins; a SELL of q coins receives q × price − cost KRW.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping

from kairos.coinone.models import Balance
from kairos.core.costs import LegCost
from kairos.core.types import OrderIntent, Side
from kairos.money import ONE, ZERO, round_down


@dataclass(frozen=True)
class Trade:
    """One executed leg (all its TWAP slices) on one day."""

    day: int
    coin: str
    side: str  # "BUY" | "SELL"
    price: Decimal
    qty: Decimal  # coins bought (after costs) or sold
    notional: Decimal  # KRW at the day's price: BUY amount spent, SELL qty × price
    cost: LegCost
    reason: str  # start, quarterly, flip, listing


class Book:
    """KRW and coin holdings of one simulated portfolio."""

    def __init__(self, capital: Decimal) -> None:
        if capital <= 0:
            raise ValueError(f"capital must be positive, got {capital}")
        self.krw = capital
        self.qty: dict[str, Decimal] = {}
        self.trades: list[Trade] = []

    def balances(self) -> dict[str, Balance]:
        """Holdings as the planner's Balance values (nothing is ever locked here)."""
        rows = {"KRW": Balance("KRW", self.krw, ZERO)}
        rows.update({coin: Balance(coin, qty, ZERO) for coin, qty in self.qty.items()})
        return rows

    def quantities(self, coins: tuple[str, ...]) -> list[float]:
        """Coin quantities in `coins` order, as floats for the equity curve."""
        return [float(self.qty.get(coin, ZERO)) for coin in coins]

    def fill(self, day: int, intent: OrderIntent, cost: LegCost, reason: str) -> Trade:
        """Apply one planned leg at `intent.price` with its cost; returns the trade."""
        if intent.side is Side.SELL:
            trade = self._sell(day, intent, cost, reason)
        else:
            trade = self._buy(day, intent, cost, reason)
        self.trades.append(trade)
        return trade

    def _sell(self, day: int, intent: OrderIntent, cost: LegCost, reason: str) -> Trade:
        qty = intent.qty or ZERO
        held = self.qty.get(intent.target, ZERO)
        if qty > held:
            raise ValueError(f"{intent.target}: cannot sell {qty}, only {held} held")
        self.qty[intent.target] = held - qty
        self.krw += qty * intent.price - cost.total
        return Trade(day, intent.target, "SELL", intent.price, qty, qty * intent.price, cost, reason)

    def _buy(self, day: int, intent: OrderIntent, cost: LegCost, reason: str) -> Trade:
        amount = intent.amount_krw or ZERO
        if amount > self.krw:
            raise ValueError(f"{intent.target}: cannot spend {amount} KRW, only {self.krw} available")
        received = (amount - cost.total) / intent.price
        self.krw -= amount
        self.qty[intent.target] = self.qty.get(intent.target, ZERO) + received
        return Trade(day, intent.target, "BUY", intent.price, received, amount, cost, reason)


def affordable(intent: OrderIntent, krw: Decimal) -> OrderIntent | None:
    """The BUY shrunk to the KRW really there (sells may have cost more than the planner's fee buffer)."""
    if intent.side is Side.SELL or (intent.amount_krw or ZERO) <= krw:
        return intent
    amount = round_down(max(krw, ZERO), ONE)
    if amount <= 0:
        return None
    return OrderIntent(target=intent.target, side=Side.BUY, amount_krw=amount, qty=None,
                       price=intent.price, est_krw=amount)


def total_costs(trades: list[Trade]) -> Mapping[str, Decimal]:
    """Fee, spread, impact and total cost over trades, in KRW."""
    fee = sum((t.cost.fee_krw for t in trades), ZERO)
    spread = sum((t.cost.spread_krw for t in trades), ZERO)
    impact = sum((t.cost.impact_krw for t in trades), ZERO)
    return {"fee": fee, "spread": spread, "impact": impact, "total": fee + spread + impact}
