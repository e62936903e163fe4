"""Order matching against the model's book, and lazy fills of resting orders.

Taker fills walk the model's book at the current minute, level by level (the fill price moves as
it walks). Resting LIMIT orders (and triggered STOP_LIMIT orders) are not in the model's book;
on every private request `sync` checks whether the market traded through them since the last
check (complete candles since then, and the current price) and fills them whole at their own
price as maker. STOP_LIMIT orders trigger the same way on their trigger price.

Fees are KRW on both sides: notional × rate, truncated to 0.0001 KRW. A buy's fee is charged from
the free KRW balance, not from the locked amount (the docs' market-buy example charges 1,999.9999
KRW of fee on a 1,000,000 KRW order that traded 999,999.963 KRW); `OrderChecks.check_funds` keeps
that headroom free when the order is accepted.
"""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kairos.money import ZERO, round_down
from kairos.sim.accounts import KRW, KRW_STEP, Ledger
from kairos.sim.auth import ApiError
from kairos.sim.orders import Markets, OrderChecks, OrderIntent
from kairos.sim.store import Fill, Order, Tx

if TYPE_CHECKING:
    from kairos.sim.config import SimConfig

Level = tuple[Decimal, Decimal]
# Candle intervals used to look back over the time since an order was last checked, finest first.
_LOOKBACK = (("1m", 60_000), ("5m", 300_000), ("15m", 900_000), ("1h", 3_600_000), ("4h", 14_400_000),
             ("1d", 86_400_000))
_MAX_CANDLES = 500


def walk_buy_amount(asks: list[Level], amount: Decimal, unit: Decimal, ceiling: Decimal | None) -> tuple[list[Level], str]:
    """Spend a KRW `amount` up the asks; return the fills and the final status of a market buy."""
    fills: list[Level] = []
    remaining = amount
    for price, level_qty in asks:
        if remaining <= 0:
            return fills, "FILLED"
        affordable = round_down(remaining / price, unit)
        if affordable <= 0:
            return fills, "CANCELED_UNDER_PRODUCT_UNIT"
        if ceiling is not None and price > ceiling:
            return fills, "CANCELED_LIMIT_PRICE_EXCEED"
        qty = min(round_down(level_qty, unit), affordable)
        if qty > 0:
            fills.append((price, qty))
            remaining -= price * qty
    return fills, "FILLED" if remaining <= 0 else "CANCELED_NO_ORDER"


def walk_sell_qty(bids: list[Level], qty: Decimal, unit: Decimal, floor: Decimal | None) -> tuple[list[Level], str]:
    """Sell `qty` down the bids; return the fills and the final status of a market sell."""
    fills: list[Level] = []
    remaining = qty
    for price, level_qty in bids:
        if remaining <= 0:
            return fills, "FILLED"
        if floor is not None and price < floor:
            return fills, "CANCELED_LIMIT_PRICE_EXCEED"
        take = min(round_down(level_qty, unit), remaining)
        if take > 0:
            fills.append((price, take))
            remaining -= take
    return fills, "FILLED" if remaining <= 0 else "CANCELED_NO_ORDER"


def walk_limit(levels: list[Level], qty: Decimal, unit: Decimal, price: Decimal, is_buy: bool) -> list[Level]:
    """The part of a LIMIT order that crosses the book now, at the book's prices."""
    fills: list[Level] = []
    remaining = qty
    for level_price, level_qty in levels:
        crosses = level_price <= price if is_buy else level_price >= price
        if remaining <= 0 or not crosses:
            break
        take = min(round_down(level_qty, unit), remaining)
        if take > 0:
            fills.append((level_price, take))
            remaining -= take
    return fills


class MatchingEngine:
    """Places, fills and cancels orders inside one store transaction."""

    def __init__(self, markets: Markets, checks: OrderChecks, config: "SimConfig") -> None:
        self.markets = markets
        self.model = markets.model
        self.checks = checks
        self.config = config

    # -- placing -----------------------------------------------------------------------------
    def place(self, tx: Tx, params: dict[str, Any], now_ms: int, *, rest_ms: int = 0) -> Order:
        """Check, lock, match and store a new order (§4); ApiError when it is refused.

        `rest_ms` > 0 holds a MARKET order open (LIVE, unfilled) that long before it executes.
        """
        try:
            intent = self.checks.intent(params, now_ms)
            self.checks.check_funds(tx, intent)
            self.checks.check_user_order_id(tx, intent.user_order_id)
            if intent.post_only and self._crosses_now(intent, now_ms) and self.config.post_only_cross == "error":
                raise ApiError(self.config.post_only_error_code)
        except ApiError:
            self._consume_rejected_id(tx, params.get("user_order_id"))
            raise
        order = self._new_order(intent, now_ms)
        if intent.user_order_id is not None:
            tx.use_user_order_id(intent.user_order_id, order.order_id)
        if rest_ms > 0 and intent.type == "MARKET":
            Ledger(tx).lock(KRW if intent.is_buy else intent.target, order.locked)
            order.rest_until = now_ms + rest_ms
        else:
            self._execute(tx, order, intent, now_ms)
        tx.save_order(order)
        return order

    def _consume_rejected_id(self, tx: Tx, user_order_id: Any) -> None:
        if self.config.rejected_consumes_user_order_id and isinstance(user_order_id, str):
            try:
                self.checks.check_user_order_id(tx, user_order_id)
            except ApiError:
                return
            tx.use_user_order_id(user_order_id, None)

    def _new_order(self, intent: OrderIntent, now_ms: int) -> Order:
        market = intent.type == "MARKET"
        currency, lock = self.checks.lock_of(intent)
        order = Order(
            order_id=str(uuid.uuid4()), type=intent.type, side=intent.side, target=intent.target,
            status="LIVE", ordered_at=now_ms, updated_at=now_ms, checked_ms=now_ms,
            fee_rate=self.config.taker_fee if market else self.config.maker_fee,
            user_order_id=intent.user_order_id, price=intent.price,
            original_qty=intent.qty, original_amount=intent.amount if market and intent.is_buy else None,
            limit_price=intent.limit_price, post_only=intent.post_only, trigger_price=intent.trigger_price,
            locked=lock)
        if market and not intent.is_buy and intent.limit_price is None:
            order.limit_price = Decimal("0.0001")  # what the docs' market-sell example shows without a floor
        return order

    def _execute(self, tx: Tx, order: Order, intent: OrderIntent, now_ms: int) -> None:
        Ledger(tx).lock(KRW if intent.is_buy else intent.target, order.locked)
        if intent.type == "MARKET":
            self._execute_market(tx, order, intent, now_ms)
        elif intent.type == "STOP_LIMIT":
            order.status, order.is_triggered = "NOT_TRIGGERED", False
            order.trigger_above = intent.trigger_price > self.model.price(intent.target, now_ms)
        elif intent.post_only and self._crosses_now(intent, now_ms):
            self._cancel_rest(tx, order, now_ms)
        else:
            self._take(tx, order, now_ms)

    def _book(self, coin: str, now_ms: int, tx: Tx) -> tuple[list[Level], list[Level]]:
        if hasattr(self.model, "record"):  # the impacted market: read our own trades inside this transaction
            return self.model.book(coin, now_ms, levels=self.config.match_levels, read=tx.meta)
        return self.model.book(coin, now_ms, levels=self.config.match_levels)

    def _crosses_now(self, intent: OrderIntent, now_ms: int) -> bool:
        bid, ask = self.markets.best(intent.target, now_ms)
        if intent.is_buy:
            return ask is not None and intent.price >= ask
        return bid is not None and intent.price <= bid

    def _execute_market(self, tx: Tx, order: Order, intent: OrderIntent, now_ms: int) -> None:
        bids, asks = self._book(intent.target, now_ms, tx)
        unit = self.markets.qty_unit(intent.target)
        if intent.is_buy:
            fills, status = walk_buy_amount(asks, intent.amount, unit, intent.limit_price)
        else:
            fills, status = walk_sell_qty(bids, intent.qty, unit, intent.limit_price)
        for price, qty in fills:
            self._fill(tx, order, price, qty, is_maker=False, now_ms=now_ms)
        if intent.is_buy:
            order.canceled_amount = intent.amount - order.traded_amount
        else:
            order.canceled_qty = intent.qty - order.executed_qty
        self._release(tx, order)
        order.status = status

    def _take(self, tx: Tx, order: Order, now_ms: int) -> None:
        """Fill the part of an open LIMIT-like order that crosses the book now, as taker."""
        bids, asks = self._book(order.target, now_ms, tx)
        unit = self.markets.qty_unit(order.target)
        is_buy = order.side == "BUY"
        for price, qty in walk_limit(asks if is_buy else bids, order.remain_qty, unit, order.price, is_buy):
            self._fill(tx, order, price, qty, is_maker=False, now_ms=now_ms)
        self._settle_status(tx, order)

    # -- fills and cancels --------------------------------------------------------------------
    def _fill(self, tx: Tx, order: Order, price: Decimal, qty: Decimal, *, is_maker: bool, now_ms: int) -> None:
        """Execute `qty` at `price`: move balances, charge the KRW fee, record the fill."""
        ledger = Ledger(tx)
        notional = price * qty
        rate = self.config.maker_fee if is_maker else self.config.taker_fee
        fee = round_down(notional * rate, KRW_STEP)
        if order.side == "BUY":
            release = notional if order.type == "MARKET" else order.price * qty
            ledger.move(KRW, available=release - notional - fee, locked=-release)
            ledger.add_coin(order.target, qty, price)
            order.locked -= release
        else:
            ledger.remove_locked_coin(order.target, qty)
            ledger.move(KRW, available=notional - fee)
            order.locked -= qty
        order.executed_qty += qty
        order.traded_amount += notional
        order.fee += fee
        order.updated_at = now_ms
        if not is_maker and hasattr(self.model, "record"):
            self.model.record(tx, order.target, order.side, notional, now_ms)
        tx.add_fill(Fill(trade_id=str(uuid.uuid4()), order_id=order.order_id, target=order.target,
                         order_type=order.type, is_ask=order.side == "SELL", is_maker=is_maker, price=price,
                         qty=qty, fee=fee, fee_rate=rate, timestamp=now_ms))

    def _release(self, tx: Tx, order: Order) -> None:
        """Give back whatever the order still locks."""
        if order.locked:
            Ledger(tx).unlock(KRW if order.side == "BUY" else order.target, order.locked)
            order.locked = ZERO

    def _settle_status(self, tx: Tx, order: Order) -> None:
        """Status of a LIMIT-like order after fills; a fully filled one releases its lock."""
        if order.executed_qty >= order.original_qty:
            order.status = "FILLED"
            self._release(tx, order)
        elif order.executed_qty > 0:
            order.status = "PARTIALLY_FILLED"

    def _cancel_rest(self, tx: Tx, order: Order, now_ms: int) -> Decimal:
        """Cancel what remains of an open order; return the canceled quantity."""
        remain = order.remain_qty
        order.canceled_qty += remain
        if order.type == "MARKET" and order.side == "BUY":
            order.canceled_amount = (order.original_amount or ZERO) - order.traded_amount
        self._release(tx, order)
        if order.status == "NOT_TRIGGERED":
            order.status = "NOT_TRIGGERED_CANCELED"
        else:
            order.status = "PARTIALLY_CANCELED" if order.executed_qty > 0 else "CANCELED"
        order.updated_at = now_ms
        return remain

    def cancel(self, tx: Tx, order: Order, now_ms: int) -> Decimal:
        """Cancel an open order (116 if it filled, 117 if it is already canceled)."""
        if not order.is_open:
            raise ApiError("116" if order.status == "FILLED" else "117")
        remain = self._cancel_rest(tx, order, now_ms)
        tx.save_order(order)
        return remain

    # -- lazy fills ---------------------------------------------------------------------------
    def sync(self, tx: Tx, now_ms: int) -> None:
        """Trigger and fill resting orders the market traded through since they were last checked."""
        for order in tx.open_orders():
            if order.checked_ms >= now_ms:
                continue
            self._sync_order(tx, order, now_ms)
            order.checked_ms = now_ms
            tx.save_order(order)

    def _sync_order(self, tx: Tx, order: Order, now_ms: int) -> None:
        if order.type == "MARKET":  # held open by a `rest` fault: it executes once its time has come
            if order.rest_until is not None and now_ms >= order.rest_until:
                intent = OrderIntent(type="MARKET", side=order.side, target=order.target, qty=order.original_qty,
                                     amount=order.original_amount, limit_price=order.limit_price)
                self._execute_market(tx, order, intent, now_ms)
            return
        low, high = self._range(order.target, order.checked_ms, now_ms)
        if order.status == "NOT_TRIGGERED":
            if not self._touched(order.trigger_price, order.trigger_above, low, high):
                return
            order.status, order.is_triggered, order.triggered_at = "TRIGGERED", True, now_ms
            order.updated_at = now_ms
            self._take(tx, order, now_ms)  # a triggered order is a new limit order: it may cross now
            return
        through = low < order.price if order.side == "BUY" else high > order.price
        if through:
            self._fill(tx, order, order.price, order.remain_qty, is_maker=True, now_ms=now_ms)
            self._settle_status(tx, order)

    @staticmethod
    def _touched(trigger: Decimal, above: bool, low: Decimal, high: Decimal) -> bool:
        return high >= trigger if above else low <= trigger

    def _range(self, coin: str, since_ms: int, now_ms: int) -> tuple[Decimal, Decimal]:
        """Lowest and highest trade from complete candles opened after `since_ms`, and the price now."""
        price = self.model.price(coin, now_ms)
        low = high = price
        interval, step = next(((n, s) for n, s in _LOOKBACK if (now_ms - since_ms) // s <= _MAX_CANDLES),
                              _LOOKBACK[-1])
        count = min(_MAX_CANDLES, (now_ms - since_ms) // step + 2)
        if now_ms - since_ms < step:
            return low, high
        candles, _ = self.model.candles(coin, interval, now_ms, end_ms=now_ms, size=count)
        for candle in candles:
            if candle["timestamp"] >= since_ms and candle["timestamp"] + step <= now_ms:
                low, high = min(low, candle["low"]), max(high, candle["high"])
        return low, high
