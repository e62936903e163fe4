"""Order intake: the market list and its rules, and the checks a new order passes (fact sheet §4).

`Markets` knows which KRW markets the model lists and their status (with runtime overrides).
`parse_order` / `OrderChecks` reject a bad order with the documented code, in the §4 order:
fields 161–166 → pair 108/109 → market status (405, configurable) → tick 310 → ranges 308/309 →
notional 306/307 → balance 103 → user_order_id 314/312. Matching lives in `kairos.sim.matching`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping

from kairos.coinone.models import KRW_TICKS
from kairos.money import ZERO, round_down, to_decimal
from kairos.sim.accounts import KRW, KRW_STEP, krw
from kairos.sim.auth import ApiError
from kairos.sim.store import Tx

if TYPE_CHECKING:
    from kairos.sim.config import SimConfig

ORDER_TYPES = ("LIMIT", "MARKET", "STOP_LIMIT")
SIDES = ("BUY", "SELL")
MIN_PRICE = Decimal("0.0001")
MAX_PRICE = Decimal("1000000000000")
MAX_QTY = Decimal("100000000")
_USER_ORDER_ID = re.compile(r"^[a-z0-9._-]{1,150}$")


class Markets:
    """The KRW markets of the model, their rules, and maintenance / trade-status overrides."""

    def __init__(self, model: Any, config: "SimConfig") -> None:
        self.model = model
        self.config = config
        self.maintenance: dict[str, int] = {k.upper(): int(v) for k, v in config.maintenance_status.items()}
        self.trade: dict[str, int] = {k.upper(): int(v) for k, v in config.trade_status.items()}

    def listed(self, now_ms: int) -> list[str]:
        """Coins with a KRW market at `now_ms`, in the model's order."""
        return [c for c in self.model.coins if self.model.listed_ms(c) <= now_ms]

    def coin(self, currency: Any) -> str:
        """An uppercase coin symbol the model knows; else 108."""
        if not isinstance(currency, str) or currency.upper() not in self.model.coins:
            raise ApiError("108")
        return currency.upper()

    def pair(self, quote: Any, target: Any, now_ms: int) -> str:
        """The target of a listed KRW pair; 108 for an unknown coin, 109 for an unknown pair."""
        if quote in (None, "") or target in (None, ""):
            raise ApiError("107")
        coin = self.coin(target)
        if not isinstance(quote, str) or quote.upper() != KRW or coin not in self.listed(now_ms):
            raise ApiError("109")
        return coin

    def status(self, coin: str) -> tuple[int, int]:
        """(maintenance_status, trade_status) of a market."""
        return self.maintenance.get(coin, 0), self.trade.get(coin, 1)

    def check_open(self, coin: str, side: str) -> None:
        """Refuse a side the market does not trade now (code configurable, default 405)."""
        maintenance, trade = self.status(coin)
        blocked = {0: SIDES, 1: (), 2: ("BUY",), 3: ("SELL",)}.get(trade, SIDES)
        if maintenance == 1 or side in blocked:
            raise ApiError(self.config.maintenance_error_code)

    def qty_unit(self, coin: str) -> Decimal:
        return Decimal(str(self.model.spec(coin).qty_unit))

    def ticks(self, coin: str) -> Any:
        """The price grid of a market: the model's own when it has one (paper: the real range_units)."""
        own = getattr(self.model, "ticks", None)
        return own(coin) if own is not None else KRW_TICKS

    def best(self, coin: str, now_ms: int) -> tuple[Decimal | None, Decimal | None]:
        """(best bid, best ask) of the model's book now."""
        bids, asks = self.model.book(coin, now_ms, levels=5)
        return (bids[0][0] if bids else None), (asks[0][0] if asks else None)


@dataclass(frozen=True)
class OrderIntent:
    """A place-order request after the field checks; numbers already truncated to their units."""

    type: str
    side: str
    target: str
    price: Decimal | None = None
    qty: Decimal | None = None
    amount: Decimal | None = None
    post_only: bool | None = None
    limit_price: Decimal | None = None
    trigger_price: Decimal | None = None
    user_order_id: str | None = None

    @property
    def is_buy(self) -> bool:
        return self.side == "BUY"


def _number(params: Mapping[str, Any], key: str) -> Decimal | None:
    """An optional numeric parameter (string or JSON number); 107 when it is not a number."""
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ApiError("107", f"{key} is not a number")
    try:
        return to_decimal(value, what=key)
    except ValueError:
        raise ApiError("107", f"{key} is not a number") from None


def parse_fields(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check type, side and the per-type required fields (161–166)."""
    order_type, side = params.get("type"), params.get("side")
    if order_type not in ORDER_TYPES:
        raise ApiError("166")
    if side not in SIDES:
        raise ApiError("107", "side must be BUY or SELL")
    values = {k: _number(params, k) for k in ("price", "qty", "amount", "limit_price", "trigger_price")}
    if order_type != "MARKET" and values["price"] is None:
        raise ApiError("161")
    if (order_type != "MARKET" or side == "SELL") and values["qty"] is None:
        raise ApiError("162")
    post_only = params.get("post_only")
    if order_type == "LIMIT" and post_only is None:
        raise ApiError("163")
    if post_only is not None and not isinstance(post_only, bool):
        raise ApiError("107", "post_only must be a boolean")
    if order_type == "STOP_LIMIT" and values["trigger_price"] is None:
        raise ApiError("164")
    if order_type == "MARKET" and side == "BUY" and values["amount"] is None:
        raise ApiError("165")
    return {"type": order_type, "side": side, "post_only": bool(post_only), **values}


class OrderChecks:
    """The market rules, balance and user_order_id checks of a new order."""

    def __init__(self, markets: Markets, config: "SimConfig") -> None:
        self.markets = markets
        self.config = config

    def intent(self, params: Mapping[str, Any], now_ms: int) -> OrderIntent:
        """Run the field, pair, status and market-rule checks; return the order to place."""
        fields = parse_fields(params)
        coin = self.markets.pair(params.get("quote_currency"), params.get("target_currency"), now_ms)
        self.markets.check_open(coin, fields["side"])
        unit = self.markets.qty_unit(coin)
        intent = OrderIntent(
            type=fields["type"], side=fields["side"], target=coin, price=fields["price"],
            qty=None if fields["qty"] is None else round_down(fields["qty"], unit),
            amount=None if fields["amount"] is None else round_down(fields["amount"], KRW_STEP),
            post_only=fields["post_only"] if fields["type"] == "LIMIT" else None,
            limit_price=fields["limit_price"] if fields["type"] == "MARKET" else None,
            trigger_price=fields["trigger_price"] if fields["type"] == "STOP_LIMIT" else None,
            user_order_id=params.get("user_order_id"))
        self._check_prices(intent, self.markets.ticks(coin))
        self._check_qty(intent, unit)
        self._check_trigger(intent, now_ms)
        self._check_notional(intent, now_ms)
        return intent

    @staticmethod
    def _check_prices(intent: OrderIntent, ticks: Any = KRW_TICKS) -> None:
        for price in (intent.price, intent.trigger_price, intent.limit_price):
            if price is None:
                continue
            if price <= 0 or price > MAX_PRICE:
                raise ApiError("308")
            if not ticks.is_on_grid(price):
                raise ApiError("310")
            if price < MIN_PRICE:
                raise ApiError("308")

    @staticmethod
    def _check_qty(intent: OrderIntent, unit: Decimal) -> None:
        if intent.qty is not None and not unit <= intent.qty <= MAX_QTY:
            raise ApiError("309")

    def _check_trigger(self, intent: OrderIntent, now_ms: int) -> None:
        if intent.trigger_price is not None:
            if intent.trigger_price == self.markets.model.price(intent.target, now_ms):
                raise ApiError("167")

    def _check_notional(self, intent: OrderIntent, now_ms: int) -> None:
        if intent.amount is not None:
            notional = intent.amount
        elif intent.price is not None:
            notional = intent.price * intent.qty
        else:
            bid, _ = self.markets.best(intent.target, now_ms)
            notional = (bid or ZERO) * intent.qty
        if notional < self.config.min_order_amount:
            raise ApiError("306")
        if notional > self.config.max_order_amount:
            raise ApiError("307")

    def lock_of(self, intent: OrderIntent) -> tuple[str, Decimal]:
        """(currency, amount) the order locks while it lives."""
        if not intent.is_buy:
            return intent.target, intent.qty
        if intent.type == "MARKET":
            return KRW, intent.amount
        return KRW, intent.price * intent.qty

    def fee_reserve(self, intent: OrderIntent) -> Decimal:
        """KRW that must stay free for the fee of a buy (fees are charged from KRW, not locked)."""
        if not intent.is_buy:
            return ZERO
        rate = self.config.taker_fee if intent.type == "MARKET" else max(self.config.maker_fee, self.config.taker_fee)
        return krw(self.lock_of(intent)[1] * rate)

    def open_fee_reserve(self, tx: Tx) -> Decimal:
        """Fee headroom already promised to the open buy orders."""
        rate = max(self.config.maker_fee, self.config.taker_fee)
        return sum((krw(o.remain_qty * o.price * rate) if o.price is not None else krw(o.locked * rate)
                    for o in tx.open_orders() if o.side == "BUY"), ZERO)

    def check_funds(self, tx: Tx, intent: OrderIntent) -> None:
        """103 unless the free balance covers the lock (and, for buys, the fee headroom)."""
        currency, amount = self.lock_of(intent)
        free = tx.balance(currency).available
        if intent.is_buy:
            free -= self.open_fee_reserve(tx)
        if free < amount + self.fee_reserve(intent):
            raise ApiError("103")

    @staticmethod
    def check_user_order_id(tx: Tx, user_order_id: Any) -> None:
        """314 for a malformed id, 312 for one used before (on any pair, forever)."""
        if user_order_id is None:
            return
        if not isinstance(user_order_id, str) or not _USER_ORDER_ID.match(user_order_id):
            raise ApiError("314")
        if tx.user_order_id_used(user_order_id):
            raise ApiError("312")


def order_key(params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(order_id, user_order_id) of a detail / cancel request: exactly one, else 313."""
    order_id = params.get("order_id") or None
    user_order_id = params.get("user_order_id") or None
    if (order_id is None) == (user_order_id is None):
        raise ApiError("313")
    return order_id, user_order_id
