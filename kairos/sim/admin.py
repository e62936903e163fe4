"""The simulator's own control API under `/__sim__/` — not Coinone's; guarded by `X-SIM-ADMIN: <access token>`.

    POST /__sim__/deposit  {"currency": "KRW", "amount": "1000000"[, "average_price": "…"]}
    GET  /__sim__/clock    → {"now_ms", "now", "offset_ms"}
    POST /__sim__/clock    {"advance_seconds": 900} | {"offset_ms": …} | {"now_ms": …}
    GET  /__sim__/faults   → {"faults": [...]};  POST {"clear": true} | {"kind": "drop", "path": "/v2.1/order", ...}
    POST /__sim__/markets  {"target_currency": "BTC", "maintenance_status": 1, "trade_status": 1}
    GET  /__sim__/orders   → every order ever placed, oldest first, with user_order_id
    GET  /__sim__/fills    → every fill, oldest first
    GET  /__sim__/balances → every balance

Bodies are plain JSON (numbers as strings or JSON numbers). Errors use Coinone's error envelope.
"""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

from kairos.clock import OffsetClock, from_ms
from kairos.money import to_decimal
from kairos.sim.accounts import KRW, Ledger, balance_view, fill_view, order_view, transfer_view
from kairos.sim.auth import ApiError
from kairos.sim.faults import Fault, SimRequest, SimResponse, json_response

if TYPE_CHECKING:
    from kairos.sim.exchange import SimExchange


def _body(request: SimRequest) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        value = json.loads(request.body.decode("utf-8"), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise ApiError("101", "admin body must be JSON", http_status=400) from None
    if not isinstance(value, dict):
        raise ApiError("101", "admin body must be a JSON object", http_status=400)
    return value


def _number(body: dict[str, Any], key: str) -> Decimal:
    try:
        return to_decimal(body.get(key), what=key)
    except ValueError as exc:
        raise ApiError("107", str(exc), http_status=400) from None


class AdminApi:
    """Handles `/__sim__/...` for one SimExchange."""

    def __init__(self, exchange: "SimExchange") -> None:
        self.ex = exchange
        self.routes: dict[tuple[str, str], Callable[[SimRequest], dict[str, Any]]] = {
            ("POST", "/__sim__/deposit"): self.deposit, ("GET", "/__sim__/clock"): self.get_clock,
            ("POST", "/__sim__/clock"): self.set_clock, ("GET", "/__sim__/faults"): self.get_faults,
            ("POST", "/__sim__/faults"): self.set_faults, ("POST", "/__sim__/markets"): self.set_market,
            ("GET", "/__sim__/orders"): self.orders, ("GET", "/__sim__/fills"): self.fills,
            ("GET", "/__sim__/balances"): self.balances,
        }

    def handle(self, request: SimRequest) -> SimResponse:
        route = self.routes.get((request.method, request.path))
        if route is None:
            return self.ex.not_found()
        if not self.ex.auth.is_admin(request.headers):
            return json_response(403, ApiError("12").envelope())
        try:
            body = route(request)
        except ApiError as exc:
            return json_response(exc.http_status or 400, exc.envelope())
        return json_response(200, {"result": "success", "error_code": "0", **body})

    def deposit(self, request: SimRequest) -> dict[str, Any]:
        body = _body(request)
        currency = str(body.get("currency", KRW)).upper()
        if currency != KRW:
            currency = self.ex.markets.coin(currency)
        amount = _number(body, "amount")
        now = self.ex.now_ms()
        price = _number(body, "average_price") if body.get("average_price") is not None else None
        if currency != KRW and price is None:
            price = self.ex.model.price(currency, now)
        with self.ex.store.transaction() as tx:
            transfer = Ledger(tx).deposit(currency, amount, now, price)
            balance = balance_view(tx.balance(currency))
        return {"transaction": {**transfer_view(transfer), "currency": currency}, "balance": balance}

    def get_clock(self, request: SimRequest) -> dict[str, Any]:
        now = self.ex.now_ms()
        offset = self.ex.clock.offset if isinstance(self.ex.clock, OffsetClock) else None
        return {"now_ms": now, "now": from_ms(now).isoformat(),
                "offset_ms": None if offset is None else int(offset / timedelta(milliseconds=1))}

    def set_clock(self, request: SimRequest) -> dict[str, Any]:
        body = _body(request)
        now = self.ex.now_ms()
        if "advance_seconds" in body:
            delta_ms = int(_number(body, "advance_seconds") * 1000)
        elif "now_ms" in body:
            delta_ms = int(_number(body, "now_ms")) - now
        elif "offset_ms" in body and isinstance(self.ex.clock, OffsetClock):
            delta_ms = int(_number(body, "offset_ms")) - int(self.ex.clock.offset / timedelta(milliseconds=1))
        else:
            raise ApiError("107", "give advance_seconds, now_ms or offset_ms", http_status=400)
        self._move_clock(delta_ms)
        return self.get_clock(request)

    def _move_clock(self, delta_ms: int) -> None:
        clock = self.ex.clock
        if isinstance(clock, OffsetClock):
            clock.offset += timedelta(milliseconds=delta_ms)
            with self.ex.store.transaction() as tx:
                tx.set_meta("clock_offset_ms", str(int(clock.offset / timedelta(milliseconds=1))))
        elif hasattr(clock, "advance"):
            clock.advance(milliseconds=delta_ms)
        else:
            raise ApiError("107", "this clock cannot be moved", http_status=400)

    def get_faults(self, request: SimRequest) -> dict[str, Any]:
        return {"faults": [f.to_json() for f in self.ex.faults.list()]}

    def set_faults(self, request: SimRequest) -> dict[str, Any]:
        body = _body(request)
        if body.get("clear"):
            self.ex.faults.clear()
        else:
            try:
                self.ex.faults.add(Fault.from_json(body))
            except (TypeError, ValueError) as exc:
                raise ApiError("107", str(exc), http_status=400) from None
        return self.get_faults(request)

    def set_market(self, request: SimRequest) -> dict[str, Any]:
        body = _body(request)
        coin = self.ex.markets.coin(body.get("target_currency"))
        for key, table in (("maintenance_status", self.ex.markets.maintenance), ("trade_status", self.ex.markets.trade)):
            if body.get(key) is not None:
                table[coin] = int(body[key])
        maintenance, trade = self.ex.markets.status(coin)
        return {"target_currency": coin, "maintenance_status": maintenance, "trade_status": trade}

    def orders(self, request: SimRequest) -> dict[str, Any]:
        with self.ex.store.transaction() as tx:
            self.ex.accept_deferred(tx, self.ex.now_ms())
            self.ex.engine.sync(tx, self.ex.now_ms())
            return {"orders": [order_view(o) for o in tx.all_orders()]}

    def fills(self, request: SimRequest) -> dict[str, Any]:
        with self.ex.store.transaction() as tx:
            return {"fills": [fill_view(f) for f in tx.all_fills()]}

    def balances(self, request: SimRequest) -> dict[str, Any]:
        with self.ex.store.transaction() as tx:
            return {"balances": [balance_view(b) for b in tx.balances()]}
