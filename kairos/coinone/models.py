"""Typed values parsed from Coinone responses. Every number is a Decimal.

Parsers are tolerant where the fact sheet marks a conflict: numbers may arrive as strings or
JSON numbers, currency codes in either case, `fee_rate` or `average_fee_rate`, timestamps in
seconds or milliseconds. Anything missing or malformed raises `ProtocolError`.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from kairos.coinone.fields import dec, flag, integer, millis, opt_dec, text
from kairos.errors import ProtocolError
from kairos.money import ZERO, round_down

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
    def bid(self) -> Decimal:
        """Best bid, or the last price when the ticker carries no book."""
        return self.best_bid.price if self.best_bid else self.last

    @property
    def ask(self) -> Decimal:
        """Best ask, or the last price when the ticker carries no book."""
        return self.best_ask.price if self.best_ask else self.last

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


# Orders live in kairos.coinone.orders and field readers in kairos.coinone.fields; this module
# re-exports them so callers have one place to import Coinone's values from.
from kairos.coinone.orders import (  # noqa: E402
    OPEN_STATUSES, TERMINAL_STATUSES, CancelResult, KrwTransaction, Order, OrderRequest, Trade,
)

__all__ = [
    "KRW_TICKS", "OPEN_STATUSES", "TERMINAL_STATUSES", "Balance", "CancelResult", "Candle", "FeeRate", "KrwTransaction",
    "Level", "Market", "MarketRules", "Order", "OrderBook", "OrderRequest", "RangeUnit", "Ticker", "TickTable", "Trade",
    "dec", "flag", "integer", "millis", "opt_dec", "parse_levels", "text",
]
