"""The account's money and what the account sees of it.

`Ledger` moves balances (available / locked), keeps the weighted average buy price and records
deposits. The `*_view` functions render the account's records in Coinone's v2.1 wire shapes:
numbers as strings, timestamps as int ms, fields that do not apply to an order type as null.
"""
from __future__ import annotations

import uuid
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Iterable, Mapping

from kairos.money import ZERO, plain, to_decimal
from kairos.sim.auth import ApiError
from kairos.sim.store import Balance, Fill, Order, Transfer, Tx

KRW = "KRW"
KRW_STEP = Decimal("0.0001")
DAY_MS = 86_400_000


def num(value: Decimal | None) -> str | None:
    """A Decimal as Coinone sends it: a plain decimal string (None stays None)."""
    if value is None:
        return None
    return plain(value + ZERO)  # + ZERO turns -0 into 0


def krw(value: Decimal) -> Decimal:
    """Round a KRW figure to 0.0001, the precision Coinone shows."""
    return value.quantize(KRW_STEP, rounding=ROUND_HALF_EVEN)


class Ledger:
    """Balance movements inside one store transaction."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def get(self, currency: str) -> Balance:
        return self.tx.balance(currency)

    def move(self, currency: str, *, available: Decimal = ZERO, locked: Decimal = ZERO) -> Balance:
        """Add the given deltas to a balance and save it."""
        balance = self.tx.balance(currency)
        balance.available += available
        balance.locked += locked
        self.tx.put_balance(balance)
        return balance

    def lock(self, currency: str, amount: Decimal) -> None:
        self.move(currency, available=-amount, locked=amount)

    def unlock(self, currency: str, amount: Decimal) -> None:
        self.move(currency, available=amount, locked=-amount)

    def add_coin(self, currency: str, qty: Decimal, price: Decimal) -> None:
        """Credit bought (or deposited) coin and update the weighted average buy price."""
        balance = self.tx.balance(currency)
        held = balance.available + balance.locked
        if held + qty > 0:
            cost = held * balance.average_price + qty * price
            balance.average_price = krw(cost / (held + qty))
        balance.available += qty
        self.tx.put_balance(balance)

    def remove_locked_coin(self, currency: str, qty: Decimal) -> None:
        """Debit sold coin from the lock; the average price resets when nothing is left."""
        balance = self.tx.balance(currency)
        balance.locked -= qty
        if balance.available + balance.locked <= 0:
            balance.average_price = ZERO
        self.tx.put_balance(balance)

    def deposit(self, currency: str, amount: Decimal, now_ms: int, average_price: Decimal | None = None) -> Transfer:
        """Credit a completed deposit and record it as a transfer."""
        if amount <= 0:
            raise ApiError("107", "amount must be positive")
        if currency == KRW:
            self.move(KRW, available=amount)
        else:
            self.add_coin(currency, amount, average_price or ZERO)
        transfer = Transfer(id=str(uuid.uuid4()), currency=currency, type="DEPOSIT", status="DEPOSIT_COMPLETE",
                            amount=amount, fee=ZERO, transaction_type="DEFAULT", created_at=now_ms)
        self.tx.add_transfer(transfer)
        return transfer


# -- request parameters of the history endpoints ------------------------------------------

def parse_size(params: Mapping[str, Any], *, low: int = 1, high: int = 100) -> int:
    """The `size` parameter, an int in [low, high]; else 317."""
    value = params.get("size")
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ApiError("317")
    try:
        size = to_decimal(value)
    except ValueError:
        raise ApiError("317") from None
    if size != size.to_integral_value() or not low <= size <= high:
        raise ApiError("317")
    return int(size)


def parse_window(params: Mapping[str, Any], now_ms: int, *, max_days: int, tolerance_ms: int) -> tuple[int, int]:
    """`from_ts` / `to_ts` in ms: both given, from ≤ to, span ≤ max_days, not in the future; else 316."""
    try:
        from_ts = int(to_decimal(params.get("from_ts"), what="from_ts"))
        to_ts = int(to_decimal(params.get("to_ts"), what="to_ts"))
    except ValueError:
        raise ApiError("316") from None
    if from_ts < 0 or from_ts > to_ts or to_ts > now_ms + tolerance_ms:
        raise ApiError("316")
    if to_ts - from_ts > max_days * DAY_MS:
        raise ApiError("316")
    return from_ts, to_ts


# -- views -------------------------------------------------------------------------------

def balance_view(balance: Balance) -> dict[str, Any]:
    return {"available": num(balance.available), "limit": num(balance.locked),
            "average_price": num(balance.average_price), "currency": balance.currency}


def balances_view(tx: Tx, currencies: Iterable[str] | None) -> list[dict[str, Any]]:
    """Every balance ever touched (KRW always), or the requested currencies in request order."""
    if currencies is None:
        rows = {b.currency: b for b in tx.balances()}
        rows.setdefault(KRW, Balance(KRW))
        return [balance_view(rows[c]) for c in sorted(rows, key=lambda c: (c != KRW, c))]
    return [balance_view(tx.balance(c)) for c in currencies]


def average_price(order: Order) -> Decimal:
    if order.executed_qty <= 0:
        return ZERO
    return krw(order.traded_amount / order.executed_qty)


def _applies(order: Order, value: Decimal | None, *types: str) -> str | None:
    return num(value) if order.type in types else None


def order_view(order: Order, *, echo: bool = True) -> dict[str, Any]:
    """`/v2.1/order/detail` → `order`; fields that do not apply to the type are null."""
    market_buy = order.type == "MARKET" and order.side == "BUY"
    qty_typed = order.type != "MARKET" or order.side == "SELL"
    return {
        "order_id": order.order_id, "type": order.type, "quote_currency": order.quote,
        "target_currency": order.target, "status": order.status, "side": order.side,
        "fee": num(order.fee), "fee_rate": num(order.fee_rate),
        "average_executed_price": num(average_price(order)),
        "updated_at": order.updated_at, "ordered_at": order.ordered_at,
        "price": _applies(order, order.price, "LIMIT", "STOP_LIMIT"),
        "original_qty": num(order.original_qty) if qty_typed else None,
        "executed_qty": num(order.executed_qty),
        "canceled_qty": num(order.canceled_qty) if qty_typed else None,
        "remain_qty": _applies(order, order.remain_qty, "LIMIT", "STOP_LIMIT"),
        "limit_price": _applies(order, order.limit_price, "MARKET"),
        "traded_amount": num(order.traded_amount) if market_buy else None,
        "original_amount": num(order.original_amount) if market_buy else None,
        "canceled_amount": num(order.canceled_amount) if market_buy else None,
        "is_triggered": order.is_triggered if order.type == "STOP_LIMIT" else None,
        "trigger_price": _applies(order, order.trigger_price, "STOP_LIMIT"),
        **({"user_order_id": order.user_order_id} if echo else {}),
    }


def active_view(order: Order, *, echo: bool = True) -> dict[str, Any]:
    """One row of `/v2.1/order/active_orders`."""
    stop = order.type == "STOP_LIMIT"
    return {
        "order_id": order.order_id, "type": order.type, "side": order.side,
        "quote_currency": order.quote, "target_currency": order.target, "price": num(order.price),
        "original_qty": num(order.original_qty), "remain_qty": num(order.remain_qty),
        "executed_qty": num(order.executed_qty), "canceled_qty": num(order.canceled_qty),
        "fee": num(order.fee), "fee_rate": num(order.fee_rate),
        "average_executed_price": num(average_price(order)), "ordered_at": order.ordered_at,
        "is_triggered": order.is_triggered if stop else None,
        "trigger_price": num(order.trigger_price) if stop else None,
        "triggered_at": order.triggered_at if stop else None,
        **({"user_order_id": order.user_order_id} if echo else {}),
    }


def cancel_view(order: Order, canceled_qty: Decimal, now_ms: int) -> dict[str, Any]:
    """The body of `/v2.1/order/cancel` (timestamps in ms, as the doc table says)."""
    return {
        "order_id": order.order_id, "price": num(order.price), "qty": num(canceled_qty),
        "remain_qty": num(order.remain_qty), "side": order.side, "original_qty": num(order.original_qty),
        "traded_qty": num(order.executed_qty), "canceled_qty": num(order.canceled_qty),
        "fee": num(order.fee), "fee_rate": num(order.fee_rate), "avg_price": num(average_price(order)),
        "canceled_at": now_ms, "ordered_at": order.ordered_at,
    }


def fill_view(fill: Fill) -> dict[str, Any]:
    """One row of `/v2.1/order/completed_orders`: one fill."""
    return {
        "trade_id": fill.trade_id, "order_id": fill.order_id, "quote_currency": fill.quote,
        "target_currency": fill.target, "order_type": fill.order_type, "is_ask": fill.is_ask,
        "is_maker": fill.is_maker, "price": num(fill.price), "qty": num(fill.qty),
        "timestamp": fill.timestamp, "fee_rate": num(fill.fee_rate), "fee": num(fill.fee),
        "fee_currency": KRW,
    }


def transfer_view(transfer: Transfer) -> dict[str, Any]:
    """One row of `/v2.1/transaction/krw/history`."""
    return {"id": transfer.id, "status": transfer.status, "amount": num(transfer.amount),
            "fee": num(transfer.fee), "type": transfer.type, "transaction_type": transfer.transaction_type,
            "created_at": transfer.created_at}
