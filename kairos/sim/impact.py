"""The simulated book's memory of our own trades: transient depletion with resilience, and a permanent shift.

`MarketModel.book` is the market without us. `ImpactedMarket` wraps it and shows the market after the
account's taker trades, with the parameters of the backtest's `CostModel` (`kairos.core.costs`):

- **Depletion.** A buy removes the KRW it took from the ask side, starting at the touch; a sell from the
  bids. What was taken refills with a half-life of `resilience_minutes` (Obizhaeva–Wang): a slice sent
  30 minutes after the last meets a book that has mostly refilled; an order right after another walks
  from where the first stopped.
- **Permanent shift.** Every price of the book (and the last price) moves by P·σ·√(|M|/V) in the direction
  of M, the KRW bought minus sold, which fades with a half-life of `permanent_half_life_hours`.

The state is one small JSON row per coin in the exchange's store (`impact:<COIN>` in its meta table), so
it survives between the CLI's processes; it depends only on our orders and the seeded model: the same
orders on the same seed give the same fills.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from kairos.coinone.models import KRW_TICKS
from kairos.core.costs import CostModel, decay
from kairos.money import ZERO

Level = tuple[Decimal, Decimal]
MINUTE_MS = 60_000


@dataclass(frozen=True)
class ImpactState:
    """What our trades left on one coin's book, as of `at_ms`."""

    ask_used: Decimal = ZERO  # KRW taken from the asks and not yet refilled
    bid_used: Decimal = ZERO
    traded: Decimal = ZERO  # KRW bought minus sold, fading: what the permanent shift is made of
    at_ms: int = 0

    def at(self, now_ms: int, costs: CostModel) -> "ImpactState":
        """The state aged to `now_ms` (refill and fade)."""
        minutes = Decimal(max(now_ms - self.at_ms, 0)) / MINUTE_MS
        refill = decay(minutes, costs.resilience_minutes)
        fade = decay(minutes / 60, costs.permanent_half_life_hours)
        return ImpactState(_settled(self.ask_used * refill), _settled(self.bid_used * refill),
                           _settled(self.traded * fade), max(now_ms, self.at_ms))

    def after(self, side: str, krw: Decimal) -> "ImpactState":
        """The state after a taker fill of `krw` on `side` (BUY takes asks)."""
        if side == "BUY":
            return ImpactState(self.ask_used + krw, self.bid_used, self.traded + krw, self.at_ms)
        return ImpactState(self.ask_used, self.bid_used + krw, self.traded - krw, self.at_ms)

    def to_json(self) -> str:
        return json.dumps({"ask_used": str(self.ask_used), "bid_used": str(self.bid_used),
                           "traded": str(self.traded), "at_ms": self.at_ms})

    @classmethod
    def from_json(cls, text: str | None) -> "ImpactState":
        if not text:
            return cls()
        raw = json.loads(text)
        return cls(Decimal(raw["ask_used"]), Decimal(raw["bid_used"]), Decimal(raw["traded"]), int(raw["at_ms"]))


def _settled(krw: Decimal) -> Decimal:
    """Below one KRW a trace is gone (the book is whole again, and back to its plain shape)."""
    return krw if abs(krw) >= 1 else ZERO


def shift_of(state: ImpactState, costs: CostModel, sigma: Decimal, adv: Decimal) -> Decimal:
    """The permanent shift as a signed fraction of the price."""
    if state.traded == 0 or costs.permanent_y == 0:
        return ZERO
    size = abs(state.traded)
    move = costs.permanent_y * sigma * (size / adv).sqrt()
    return move if state.traded > 0 else -move


def shifted(levels: list[Level], factor: Decimal, *, up: bool) -> list[Level]:
    """Prices × factor, back on the KRW grid (asks rounded up, bids down)."""
    if factor == 1:
        return levels
    fit = KRW_TICKS.round_up if up else KRW_TICKS.round_down
    out: list[Level] = []
    for price, qty in levels:
        moved = fit(price * factor)
        if out and (moved <= out[-1][0] if up else moved >= out[-1][0]):
            out[-1] = (out[-1][0], out[-1][1] + qty)  # two levels rounded onto one tick: one level holds both
            continue
        if moved > 0:
            out.append((moved, qty))
    return out


def deplete(levels: list[Level], used_krw: Decimal, unit: Decimal) -> list[Level]:
    """The side without the first `used_krw` KRW, taken from the touch outwards (a partly taken level keeps
    its remainder, rounded down to the quantity unit)."""
    out: list[Level] = []
    left = used_krw
    for price, qty in levels:
        if left <= 0:
            out.append((price, qty))
            continue
        krw = price * qty
        if krw <= left:
            left -= krw
            continue
        rest = qty - (left / price // unit) * unit
        left = ZERO
        if rest > 0:
            out.append((price, rest))
    return out


class ImpactedMarket:
    """A MarketModel as seen after our own trades (everything else is the wrapped model's)."""

    def __init__(self, model: Any, read: Callable[[str], str | None], costs: CostModel) -> None:
        self.model, self.read, self.costs = model, read, costs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def state(self, coin: str, now_ms: int, read: Callable[[str], str | None] | None = None) -> ImpactState:
        return ImpactState.from_json((read or self.read)(f"impact:{coin.upper()}")).at(now_ms, self.costs)

    def price(self, symbol: str, now_ms: int) -> Decimal:
        last = self.model.price(symbol, now_ms)
        move = self._shift(symbol, now_ms, self.state(symbol, now_ms))
        return KRW_TICKS.round_down(last * (1 + move)) if move else last

    def book(self, symbol: str, now_ms: int, levels: int = 15,
             read: Callable[[str], str | None] | None = None) -> tuple[list[Level], list[Level]]:
        state = self.state(symbol, now_ms, read)
        depth = levels if not (state.ask_used or state.bid_used) else max(levels, 50)  # room for what was taken
        bids, asks = self.model.book(symbol, now_ms, levels=depth)
        factor = 1 + self._shift(symbol, now_ms, state)
        unit = self.model.spec(symbol).qty_unit
        asks = deplete(shifted(asks, factor, up=True), state.ask_used, unit)[:levels]
        bids = deplete(shifted(bids, factor, up=False), state.bid_used, unit)[:levels]
        return bids, asks

    def record(self, tx: Any, coin: str, side: str, krw: Decimal, now_ms: int) -> None:
        """Remember a taker fill (inside the exchange's transaction)."""
        key = f"impact:{coin.upper()}"
        state = ImpactState.from_json(tx.meta(key)).at(now_ms, self.costs).after(side, krw)
        tx.set_meta(key, state.to_json())

    def _shift(self, symbol: str, now_ms: int, state: ImpactState) -> Decimal:
        if state.traded == 0:
            return ZERO
        sigma, adv = self.model.liquidity(symbol, now_ms)
        return shift_of(state, self.costs, sigma, adv)
