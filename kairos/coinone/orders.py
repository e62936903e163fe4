"""Orders and fills as Coinone v2.1 reports them, and the request for a new order."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from kairos.coinone.fields import dec, flag, integer, millis, opt_dec, text
from kairos.money import ZERO

OPEN_STATUSES = frozenset({"LIVE", "PARTIALLY_FILLED", "NOT_TRIGGERED", "TRIGGERED"})
TERMINAL_STATUSES = frozenset({
    "FILLED", "CANCELED", "PARTIALLY_CANCELED", "NOT_TRIGGERED_PARTIALLY_CANCELED",
    "NOT_TRIGGERED_CANCELED", "CANCELED_NO_ORDER", "CANCELED_LIMIT_PRICE_EXCEED",
    "CANCELED_UNDER_PRODUCT_UNIT",
})


@dataclass(frozen=True)
class Order:
    """`/v2.1/order/detail` (and active_orders rows); fields that do not apply are None."""

    order_id: str
    type: str
    side: str
    target: str
    status: str
    fee: Decimal
    fee_rate: Decimal
    average_executed_price: Decimal
    executed_qty: Decimal
    ordered_at: int | None
    updated_at: int | None
    price: Decimal | None = None
    original_qty: Decimal | None = None
    canceled_qty: Decimal | None = None
    remain_qty: Decimal | None = None
    limit_price: Decimal | None = None
    traded_amount: Decimal | None = None
    original_amount: Decimal | None = None
    canceled_amount: Decimal | None = None
    user_order_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def executed_krw(self) -> Decimal:
        """KRW value of what filled: traded_amount when given, else qty × average price."""
        if self.traded_amount is not None:
            return self.traded_amount
        return self.executed_qty * self.average_executed_price

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Order":
        w = "order"
        rate_key = "fee_rate" if raw.get("fee_rate") not in (None, "") else "average_fee_rate"
        return cls(
            order_id=text(raw, "order_id", where=w),
            type=text(raw, "type", where=w, upper=True),
            side=text(raw, "side", where=w, upper=True),
            target=text(raw, "target_currency", where=w, upper=True),
            status=text(raw, "status", where=w, upper=True),
            fee=dec(raw, "fee", where=w, default=ZERO),
            fee_rate=dec(raw, rate_key, where=w, default=ZERO),
            average_executed_price=dec(raw, "average_executed_price", where=w, default=ZERO),
            executed_qty=dec(raw, "executed_qty", where=w, default=ZERO),
            ordered_at=millis(raw, "ordered_at", where=w),
            updated_at=millis(raw, "updated_at", where=w),
            price=opt_dec(raw, "price", where=w),
            original_qty=opt_dec(raw, "original_qty", where=w),
            canceled_qty=opt_dec(raw, "canceled_qty", where=w),
            remain_qty=opt_dec(raw, "remain_qty", where=w),
            limit_price=opt_dec(raw, "limit_price", where=w),
            traded_amount=opt_dec(raw, "traded_amount", where=w),
            original_amount=opt_dec(raw, "original_amount", where=w),
            canceled_amount=opt_dec(raw, "canceled_amount", where=w),
            user_order_id=raw.get("user_order_id") if isinstance(raw.get("user_order_id"), str) else None,
        )


@dataclass(frozen=True)
class CancelResult:
    order_id: str
    canceled_qty: Decimal
    executed_qty: Decimal
    canceled_at: int | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "CancelResult":
        w = "cancel"
        return cls(text(raw, "order_id", where=w), dec(raw, "qty", where=w, default=ZERO),
                   dec(raw, "traded_qty", where=w, default=ZERO), millis(raw, "canceled_at", where=w))


@dataclass(frozen=True)
class Trade:
    """One fill from `/v2.1/order/completed_orders`."""

    trade_id: str
    order_id: str
    target: str
    is_ask: bool
    price: Decimal
    qty: Decimal
    fee: Decimal
    timestamp: int
    user_order_id: str | None = None  # not documented for these rows; read when the exchange sends it

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Trade":
        w = "completed_order"
        uoid = raw.get("user_order_id")
        return cls(str(raw.get("trade_id", "")), text(raw, "order_id", where=w),
                   text(raw, "target_currency", where=w, upper=True), flag(raw, "is_ask", where=w),
                   dec(raw, "price", where=w), dec(raw, "qty", where=w),
                   dec(raw, "fee", where=w, default=ZERO), integer(raw, "timestamp", where=w),
                   uoid if isinstance(uoid, str) and uoid else None)


@dataclass(frozen=True)
class KrwTransaction:
    id: str
    type: str
    status: str
    amount: Decimal
    fee: Decimal
    created_at: int

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "KrwTransaction":
        w = "krw_transaction"
        return cls(str(raw.get("id", "")), text(raw, "type", where=w, upper=True),
                   text(raw, "status", where=w, upper=True), dec(raw, "amount", where=w),
                   dec(raw, "fee", where=w, default=ZERO), integer(raw, "created_at", where=w))


@dataclass(frozen=True)
class OrderRequest:
    """A new order, with its units explicit. Build with `market_buy` / `market_sell` / `limit`."""

    side: str  # BUY | SELL
    target: str
    type: str  # MARKET | LIMIT
    user_order_id: str
    amount: Decimal | None = None  # KRW, MARKET BUY only
    qty: Decimal | None = None  # coin, SELL or LIMIT
    price: Decimal | None = None  # LIMIT
    limit_price: Decimal | None = None  # MARKET guard
    post_only: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def market_buy(cls, target: str, amount_krw: Decimal, limit_price: Decimal | None, user_order_id: str) -> "OrderRequest":
        return cls("BUY", target, "MARKET", user_order_id, amount=amount_krw, limit_price=limit_price)

    @classmethod
    def market_sell(cls, target: str, qty: Decimal, limit_price: Decimal | None, user_order_id: str) -> "OrderRequest":
        return cls("SELL", target, "MARKET", user_order_id, qty=qty, limit_price=limit_price)

    @classmethod
    def limit(cls, side: str, target: str, price: Decimal, qty: Decimal, user_order_id: str, post_only: bool = False) -> "OrderRequest":
        return cls(side, target, "LIMIT", user_order_id, qty=qty, price=price, post_only=post_only)
