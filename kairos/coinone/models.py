"""Typed values parsed from Coinone responses. Every number is a Decimal.

Parsers are tolerant where the fact sheet marks a conflict: numbers may arrive as strings or
JSON numbers, currency codes in either case, `fee_rate` or `average_fee_rate`, timestamps in
seconds or milliseconds. Anything missing or malformed raises `ProtocolError`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from kairos.errors import ProtocolError
from kairos.money import ZERO, round_down, to_decimal

OPEN_STATUSES = frozenset({"LIVE", "PARTIALLY_FILLED", "NOT_TRIGGERED", "TRIGGERED"})
TERMINAL_STATUSES = frozenset({
    "FILLED", "CANCELED", "PARTIALLY_CANCELED", "NOT_TRIGGERED_PARTIALLY_CANCELED",
    "NOT_TRIGGERED_CANCELED", "CANCELED_NO_ORDER", "CANCELED_LIMIT_PRICE_EXCEED",
    "CANCELED_UNDER_PRODUCT_UNIT",
})


def dec(obj: Mapping[str, Any], key: str, *, where: str, default: Decimal | None = None) -> Decimal:
    """Read a Decimal field that may be a string or a JSON number."""
    value = obj.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        raise ProtocolError(f"{where}: field {key!r} is missing")
    try:
        return to_decimal(value, what=f"{where}.{key}")
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


def opt_dec(obj: Mapping[str, Any], key: str, *, where: str) -> Decimal | None:
    """Read an optional Decimal field (absent or null → None)."""
    if obj.get(key) in (None, ""):
        return None
    return dec(obj, key, where=where)


def integer(obj: Mapping[str, Any], key: str, *, where: str, default: int | None = None) -> int:
    """Read an integer field that may be a JSON number or a numeric string."""
    value = obj.get(key)
    if value is None:
        if default is not None:
            return default
        raise ProtocolError(f"{where}: field {key!r} is missing")
    if isinstance(value, bool):
        raise ProtocolError(f"{where}.{key}: expected an integer, got {value!r}")
    try:
        return int(Decimal(str(value)))
    except (ArithmeticError, ValueError):  # int(Decimal("NaN")) raises ValueError
        raise ProtocolError(f"{where}.{key}: expected an integer, got {value!r}") from None


def flag(obj: Mapping[str, Any], key: str, *, where: str) -> bool:
    """Read a boolean that may arrive as a JSON bool or as the text "true"/"false"."""
    value = obj.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ProtocolError(f"{where}.{key}: expected true or false, got {value!r}")


def text(obj: Mapping[str, Any], key: str, *, where: str, upper: bool = False) -> str:
    """Read a required string field."""
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{where}: field {key!r} is missing or not a string")
    return value.upper() if upper else value


def millis(obj: Mapping[str, Any], key: str, *, where: str) -> int | None:
    """Read a timestamp; 10-digit (seconds) values are converted to milliseconds."""
    if obj.get(key) is None:
        return None
    value = integer(obj, key, where=where)
    return value * 1000 if 0 < value < 100_000_000_000 else value


@dataclass(frozen=True)
class RangeUnit:
    range_min: Decimal
    next_range_min: Decimal | None
    price_unit: Decimal


@dataclass(frozen=True)
class TickTable:
    """Price tick by price range, from `/public/v2/range_units`."""

    units: tuple[RangeUnit, ...]

    def tick_for(self, price: Decimal) -> Decimal:
        for unit in self.units:
            upper_ok = unit.next_range_min is None or price < unit.next_range_min
            if unit.range_min <= price and upper_ok:
                return unit.price_unit
        if self.units and price >= self.units[-1].range_min:
            return self.units[-1].price_unit
        raise ProtocolError(f"no tick size covers price {price}")

    def round_down(self, price: Decimal) -> Decimal:
        """Largest price on the tick grid that is ≤ `price`."""
        return round_down(price, self.tick_for(price))

    def round_up(self, price: Decimal) -> Decimal:
        """Smallest price on the tick grid that is ≥ `price`."""
        tick = self.tick_for(price)
        down = round_down(price, tick)
        return down if down == price else down + tick

    def is_on_grid(self, price: Decimal) -> bool:
        return price % self.tick_for(price) == 0


# The documented KRW table (fact sheet §5); used as a fallback and by the simulator.
KRW_TICKS = TickTable(tuple(
    RangeUnit(Decimal(lo), Decimal(hi) if hi else None, Decimal(tick)) for lo, hi, tick in [
        ("0", "1", "0.0001"), ("1", "10", "0.001"), ("10", "100", "0.01"), ("100", "1000", "0.1"),
        ("1000", "5000", "1"), ("5000", "10000", "5"), ("10000", "50000", "10"),
        ("50000", "100000", "50"), ("100000", "500000", "100"), ("500000", "1000000", "500"),
        ("1000000", "10000000000", "1000"),
    ]
))


@dataclass(frozen=True)
class Market:
    quote: str
    target: str
    qty_unit: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_price: Decimal
    max_price: Decimal
    min_order_amount: Decimal
    max_order_amount: Decimal
    maintenance_status: int
    trade_status: int
    order_types: frozenset[str]

    @property
    def can_buy(self) -> bool:
        return self.maintenance_status == 0 and self.trade_status in (1, 3)

    @property
    def can_sell(self) -> bool:
        return self.maintenance_status == 0 and self.trade_status in (1, 2)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Market":
        w = "market"
        return cls(
            quote=text(raw, "quote_currency", where=w, upper=True),
            target=text(raw, "target_currency", where=w, upper=True),
            qty_unit=dec(raw, "qty_unit", where=w),
            min_qty=dec(raw, "min_qty", where=w, default=ZERO),
            max_qty=dec(raw, "max_qty", where=w, default=Decimal("1e12")),
            min_price=dec(raw, "min_price", where=w, default=ZERO),
            max_price=dec(raw, "max_price", where=w, default=Decimal("1e15")),
            min_order_amount=dec(raw, "min_order_amount", where=w, default=ZERO),
            max_order_amount=dec(raw, "max_order_amount", where=w, default=Decimal("1e12")),
            maintenance_status=integer(raw, "maintenance_status", where=w, default=0),
            trade_status=integer(raw, "trade_status", where=w, default=1),
            order_types=_order_types(raw.get("order_types"), where=w),
        )


def _order_types(value: Any, *, where: str) -> frozenset[str]:
    """The market's order types: a list of strings (absent or null → none known)."""
    if value is None or value == "":
        return frozenset()
    if not isinstance(value, list):
        raise ProtocolError(f"{where}.order_types: expected a list, got {value!r}")
    return frozenset(str(t).upper() for t in value)


@dataclass(frozen=True)
class MarketRules:
    """What the planner needs to size an order on one market (pure value)."""

    target: str
    qty_unit: Decimal
    min_order_krw: Decimal
    max_order_krw: Decimal
    ticks: TickTable = KRW_TICKS
    min_qty: Decimal = ZERO
    can_buy: bool = True
    can_sell: bool = True


@dataclass(frozen=True)
class Level:
    price: Decimal
    qty: Decimal


@dataclass(frozen=True)
class Ticker:
    quote: str
    target: str
    timestamp: int
    last: Decimal
    first: Decimal
    high: Decimal
    low: Decimal
    quote_volume: Decimal
    target_volume: Decimal
    best_ask: Level | None
    best_bid: Level | None
    id: str

    @property
    def mid(self) -> Decimal:
        if self.best_ask and self.best_bid:
            return (self.best_ask.price + self.best_bid.price) / 2
        return self.last

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Ticker":
        w = "ticker"
        return cls(
            quote=text(raw, "quote_currency", where=w, upper=True),
            target=text(raw, "target_currency", where=w, upper=True),
            timestamp=integer(raw, "timestamp", where=w, default=0),
            last=dec(raw, "last", where=w),
            first=dec(raw, "first", where=w, default=ZERO),
            high=dec(raw, "high", where=w, default=ZERO),
            low=dec(raw, "low", where=w, default=ZERO),
            quote_volume=dec(raw, "quote_volume", where=w, default=ZERO),
            target_volume=dec(raw, "target_volume", where=w, default=ZERO),
            best_ask=_first_level(raw.get("best_asks"), where="ticker.best_asks"),
            best_bid=_first_level(raw.get("best_bids"), where="ticker.best_bids"),
            id=str(raw.get("id", "")),
        )


def _first_level(levels: Any, *, where: str) -> Level | None:
    if not levels:
        return None
    if not isinstance(levels, list) or not isinstance(levels[0], Mapping):
        raise ProtocolError(f"{where}: expected a list of price levels")
    return Level(dec(levels[0], "price", where=where), dec(levels[0], "qty", where=where))


def parse_levels(levels: Any, *, where: str) -> tuple[Level, ...]:
    if not isinstance(levels, list):
        raise ProtocolError(f"{where}: expected a list of price levels")
    out = []
    for item in levels:
        if not isinstance(item, Mapping):
            raise ProtocolError(f"{where}: expected a price level object")
        out.append(Level(dec(item, "price", where=where), dec(item, "qty", where=where)))
    return tuple(out)


@dataclass(frozen=True)
class OrderBook:
    target: str
    timestamp: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if self.bids and self.asks:
            return (self.bids[0].price + self.asks[0].price) / 2
        return None


@dataclass(frozen=True)
class Candle:
    timestamp: int  # open time, epoch ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    target_volume: Decimal
    quote_volume: Decimal

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Candle":
        w = "candle"
        return cls(
            timestamp=integer(raw, "timestamp", where=w),
            open=dec(raw, "open", where=w), high=dec(raw, "high", where=w),
            low=dec(raw, "low", where=w), close=dec(raw, "close", where=w),
            target_volume=dec(raw, "target_volume", where=w, default=ZERO),
            quote_volume=dec(raw, "quote_volume", where=w, default=ZERO),
        )


@dataclass(frozen=True)
class Balance:
    currency: str
    available: Decimal
    limit: Decimal
    average_price: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.available + self.limit

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Balance":
        w = "balance"
        return cls(
            currency=text(raw, "currency", where=w, upper=True),
            available=dec(raw, "available", where=w),
            limit=dec(raw, "limit", where=w, default=ZERO),
            average_price=dec(raw, "average_price", where=w, default=ZERO),
        )


@dataclass(frozen=True)
class FeeRate:
    target: str
    maker: Decimal
    taker: Decimal

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "FeeRate":
        w = "fee_rate"
        return cls(text(raw, "target_currency", where=w, upper=True),
                   dec(raw, "maker", where=w), dec(raw, "taker", where=w))


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

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "Trade":
        w = "completed_order"
        return cls(str(raw.get("trade_id", "")), text(raw, "order_id", where=w),
                   text(raw, "target_currency", where=w, upper=True), flag(raw, "is_ask", where=w),
                   dec(raw, "price", where=w), dec(raw, "qty", where=w),
                   dec(raw, "fee", where=w, default=ZERO), integer(raw, "timestamp", where=w))


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
