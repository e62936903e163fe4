"""The simulated Coinone exchange: a WSGI app speaking Coinone's public v2 and private v2.1 protocol.

    app = SimExchange(MarketModel(seed=1), SqliteStore("paper.db"), OffsetClock(timedelta(0)), config=SimConfig())
    session.mount("https://api.coinone.co.kr", SimAdapter(app))     # in-process, no sockets
    python -m kairos.sim --port 0 --state paper.db                   # or over HTTP

Every private request runs in one store transaction: auth (nonce recorded even when the request
is then refused), rate limit, lazy fills of resting orders, the endpoint. Application errors
commit what was recorded (the nonce, a consumed user_order_id) and answer Coinone's error
envelope with `config.error_http_status`; unexpected errors roll back and answer HTTP 500.
The `/__sim__/...` admin API (see `kairos.sim.admin`) is separate from Coinone's paths.
"""
from __future__ import annotations

import json
import re
import sys
import time
import traceback
from datetime import timedelta
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl

from kairos.clock import Clock, OffsetClock, to_ms
from kairos.sim import accounts
from kairos.sim.accounts import balances_view, fill_view, order_view, transfer_view
from kairos.sim.admin import AdminApi
from kairos.sim.auth import ApiError, Authenticator, RateLimiter
from kairos.sim.config import SimConfig  # noqa: F401 - re-exported: tests and tools import it from here
from kairos.sim.impact import ImpactedMarket
from kairos.sim.faults import EXCHANGE_KINDS, FaultBook, SimRequest, SimResponse, TransportFault, json_response
from kairos.sim.matching import MatchingEngine
from kairos.sim.orders import Markets, OrderChecks, order_key
from kairos.sim.public import NotFound, PublicApi
from kairos.sim.store import Order, SqliteStore, Tx

ORDER_APIS = frozenset({"/v2.1/order", "/v2.1/order/cancel", "/v2.1/order/cancel/all", "/v2.1/order/limit"})
_FEE_PATH = re.compile(r"^/v2\.1/account/trade_fee/(\w+)/(\w+)$")


def request_from_environ(environ: Mapping[str, Any]) -> SimRequest:
    """The parts of a WSGI request the exchange looks at."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    path = environ.get("PATH_INFO") or "/"
    return SimRequest(method=environ.get("REQUEST_METHOD", "GET").upper(),
                      path=path.rstrip("/") or "/", query=dict(parse_qsl(environ.get("QUERY_STRING", ""))),
                      headers=headers, body=body, remote_addr=environ.get("REMOTE_ADDR", "127.0.0.1"),
                      client_timeout=environ.get("kairos.sim.read_timeout"))


class SimExchange:
    """A WSGI callable: the simulated exchange over one market model, one account store, one clock."""

    def __init__(self, model: Any, store: SqliteStore, clock: Clock, *, config: SimConfig | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.model, self.store, self.clock = model, store, clock
        self.config = config or SimConfig()
        # the market the account trades in: the model after our own trades (when the model can say how deep it is)
        self.market = ImpactedMarket(model, store.read_meta, self.config.costs) \
            if self.config.impact and hasattr(model, "liquidity") else model
        self.markets = Markets(self.market, self.config)
        self.engine = MatchingEngine(self.markets, OrderChecks(self.markets, self.config), self.config)
        self.public = PublicApi(self.markets, self.config.candle_max_size)
        secret = self.config.secret_key.upper() if self.config.secret_key_case == "upper" else self.config.secret_key
        self.auth = Authenticator(self.config.access_token, secret)
        self.limiter = RateLimiter(monotonic)
        self.faults = FaultBook()
        self.admin = AdminApi(self)
        self._sleep = sleep
        self._private: dict[str, Callable[[Tx, dict[str, Any], int], dict[str, Any]]] = {
            "/v2.1/account/balance/all": self._balance_all, "/v2.1/account/balance": self._balance,
            "/v2.1/account/trade_fee": self._fees, "/v2.1/order": self._place, "/v2.1/order/detail": self._detail,
            "/v2.1/order/cancel": self._cancel, "/v2.1/order/cancel/all": self._cancel_all,
            "/v2.1/order/active_orders": self._active, "/v2.1/order/completed_orders": self._completed,
            "/v2.1/order/completed_orders/all": self._completed_all,
            "/v2.1/transaction/krw/history": self._krw_history,
        }
        self._open_account()

    def _open_account(self) -> None:
        """A new account starts with its initial KRW, recorded as a deposit."""
        now = self.now_ms()
        with self.store.transaction() as tx:
            if tx.meta("account_opened_at") is None:
                tx.set_meta("account_opened_at", str(now))
                if self.config.initial_krw > 0:
                    accounts.Ledger(tx).deposit(accounts.KRW, self.config.initial_krw, now)

    def now_ms(self) -> int:
        """The exchange clock now, in ms (an OffsetClock follows the offset persisted in the store)."""
        if isinstance(self.clock, OffsetClock):
            stored = self.store.read_meta("clock_offset_ms")
            if stored is not None:
                self.clock.offset = timedelta(milliseconds=int(stored))
        return to_ms(self.clock.now())

    # -- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: Mapping[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        response = self.handle(request_from_environ(environ))
        reason = "OK" if response.status < 400 else "Error"
        start_response(f"{response.status} {reason}", response.headers)
        return [response.body]

    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request, through the fault that fires for it if any (may raise TransportFault)."""
        fault = None if request.path.startswith("/__sim__") else self.faults.pick(request.path)
        if fault is None:
            return self._respond(request)
        if fault.kind in EXCHANGE_KINDS:
            if request.path != "/v2.1/order":
                return self._respond(request)
            request.fault = fault
            response = self._respond(request)
            if fault.kind == "late" and response.status == 200:
                raise TransportFault("timeout" if fault.as_timeout else "drop")  # the order is queued; no answer
            return response
        return fault.apply(request, lambda: self._respond(request), self._sleep)

    def _respond(self, request: SimRequest) -> SimResponse:
        try:
            return self._route(request)
        except Exception:  # a simulator bug must still look like a server error, not crash the client
            traceback.print_exc(file=sys.stderr)
            return json_response(500, {"result": "error", "error_code": "500", "error_msg": "Internal error"})

    def _route(self, request: SimRequest) -> SimResponse:
        path = request.path
        if path.startswith("/__sim__"):
            return self.admin.handle(request)
        if path.startswith("/public/v2/") and request.method in ("GET", "HEAD"):
            return self._public(request)
        if path in self._private or _FEE_PATH.match(path):
            if request.method == "POST":
                return self._private_call(request)
        return self.not_found()

    def not_found(self) -> SimResponse:
        return json_response(404, ApiError("404").envelope())

    def error(self, exc: ApiError, headers: list[tuple[str, str]] | None = None) -> SimResponse:
        return json_response(exc.http_status or self.config.error_http_status, exc.envelope(), headers or [])

    @staticmethod
    def _quota_header(name: str, remaining: int | None) -> list[tuple[str, str]]:
        """Quota headers are present only while quota remains."""
        return [(name, str(remaining))] if remaining else []

    # -- public ----------------------------------------------------------------------------------
    def _public(self, request: SimRequest) -> SimResponse:
        headers: list[tuple[str, str]] = []
        try:
            left = self.limiter.take(f"public:{request.remote_addr}", self.config.public_rate_per_min, 60.0)
            headers = self._quota_header("Public-Ratelimit-Remaining", left)
            body = self.public.handle(request.path, request.query, self.now_ms())
        except ApiError as exc:
            return self.error(exc, headers)
        except NotFound:
            return self.not_found()
        return json_response(200, body, headers)

    # -- private ---------------------------------------------------------------------------------
    def _private_call(self, request: SimRequest) -> SimResponse:
        now = self.now_ms()
        headers: list[tuple[str, str]] = []
        with self.store.transaction() as tx:
            try:
                params = self.auth.verify(request.headers, tx)
                headers = self._take_private_quota(request.path)
                self.accept_deferred(tx, now)
                self.engine.sync(tx, now)
                if request.fault is not None:
                    body = self._faulted_place(tx, params, now, request.fault)
                else:
                    body = self._dispatch(request.path, tx, params, now)
            except ApiError as exc:
                return self.error(exc, headers)  # the transaction commits: the nonce stays used
        return json_response(200, {"result": "success", "error_code": "0", **body}, headers)

    def _faulted_place(self, tx: Tx, params: dict[str, Any], now: int, fault: Any) -> dict[str, Any]:
        """A place-order under a `late` fault (queued for later) or a `rest` fault (held open)."""
        if fault.kind == "late":
            queued = json.loads(tx.meta("deferred_orders") or "[]")
            order = {k: v for k, v in params.items() if k not in ("access_token", "nonce")}
            queued.append({"accept_at": now + int(fault.seconds * 1000), "params": order})
            tx.set_meta("deferred_orders", json.dumps(queued, default=str))
            return {}
        return {"order_id": self.engine.place(tx, params, now, rest_ms=int(fault.seconds * 1000)).order_id}

    def accept_deferred(self, tx: Tx, now: int) -> None:
        """Place the queued (`late`) orders whose moment has come; a refused one simply never exists."""
        queued = json.loads(tx.meta("deferred_orders") or "[]")
        due = [q for q in queued if q["accept_at"] <= now]
        if not due:
            return
        tx.set_meta("deferred_orders", json.dumps([q for q in queued if q["accept_at"] > now], default=str))
        for item in sorted(due, key=lambda q: q["accept_at"]):
            try:
                self.engine.place(tx, item["params"], item["accept_at"])
            except ApiError:
                pass

    def _take_private_quota(self, path: str) -> list[tuple[str, str]]:
        if path in ORDER_APIS:
            left = self.limiter.take("order", self.config.order_rate_per_sec, 1.0)
            return self._quota_header("Private-Order-Ratelimit-Remaining", left)
        left = self.limiter.take("private", self.config.private_rate_per_sec, 1.0)
        return self._quota_header("Private-Ratelimit-Remaining", left)

    def _dispatch(self, path: str, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        fee_path = _FEE_PATH.match(path)
        if fee_path:
            coin = self.markets.pair(fee_path.group(1), fee_path.group(2), now)
            return {"fee_rates": [self._fee_row(coin)]}
        return self._private[path](tx, params, now)

    def _balance_all(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        return {"balances": balances_view(tx, None)}

    def _balance(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        currencies = params.get("currencies")
        if not isinstance(currencies, list) or not currencies or not all(isinstance(c, str) for c in currencies):
            raise ApiError("107", "currencies must be a non-empty array of strings")
        wanted = [c.upper() if c.upper() == accounts.KRW else self.markets.coin(c) for c in currencies]
        return {"balances": balances_view(tx, wanted)}

    def _fee_row(self, coin: str) -> dict[str, Any]:
        return {"quote_currency": accounts.KRW, "target_currency": coin,
                "maker": accounts.num(self.config.maker_fee), "taker": accounts.num(self.config.taker_fee)}

    def _fees(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        return {"fee_rates": [self._fee_row(c) for c in self.markets.listed(now)]}

    def _place(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        return {"order_id": self.engine.place(tx, params, now).order_id}

    def _find(self, tx: Tx, params: dict[str, Any], now: int) -> Order:
        """The order named by order_id or user_order_id on the given pair; else 313 / 104."""
        coin = self.markets.pair(params.get("quote_currency"), params.get("target_currency"), now)
        order_id, user_order_id = order_key(params)
        order = tx.order(str(order_id)) if order_id is not None else tx.order_by_user_id(str(user_order_id))
        if order is None or order.target != coin:
            raise ApiError("104")
        return order

    def _detail(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        return {"order": order_view(self._find(tx, params, now), echo=self.config.echo_user_order_id)}

    def _cancel(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        order = self._find(tx, params, now)
        canceled = self.engine.cancel(tx, order, now)
        return accounts.cancel_view(order, canceled, now)

    def _cancel_all(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        coin = self.markets.pair(params.get("quote_currency"), params.get("target_currency"), now)
        orders = tx.open_orders(coin)
        for order in orders:
            self.engine.cancel(tx, order, now)
        return {"canceled_count": len(orders), "total_order_count": len(orders)}

    def _active(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        coin = None
        if params.get("quote_currency") or params.get("target_currency"):
            coin = self.markets.pair(params.get("quote_currency"), params.get("target_currency"), now)
        types = params.get("order_type") or []
        if not isinstance(types, list) or any(t not in ("LIMIT", "STOP_LIMIT") for t in types):
            raise ApiError("107", "order_type must be an array of LIMIT / STOP_LIMIT")
        echo = self.config.echo_user_order_id
        rows = [accounts.active_view(o, echo=echo) for o in tx.open_orders(coin) if not types or o.type in types]
        return {"active_orders": rows}

    def _window(self, params: dict[str, Any], now: int) -> tuple[int, int, int]:
        size = accounts.parse_size(params)
        start, end = accounts.parse_window(params, now, max_days=self.config.history_max_days,
                                           tolerance_ms=self.config.future_tolerance_ms)
        return size, start, end

    def _completed(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        coin = self.markets.pair(params.get("quote_currency"), params.get("target_currency"), now)
        return self._fills(tx, params, now, coin)

    def _completed_all(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        return self._fills(tx, params, now, None)

    def _fills(self, tx: Tx, params: dict[str, Any], now: int, coin: str | None) -> dict[str, Any]:
        size, start, end = self._window(params, now)
        before = params.get("to_trade_id") or None
        fills = tx.fills(target=coin, from_ts=start, to_ts=end, before_id=before, limit=size)
        return {"completed_orders": [fill_view(f) for f in fills]}

    def _krw_history(self, tx: Tx, params: dict[str, Any], now: int) -> dict[str, Any]:
        size, start, end = self._window(params, now)
        deposit = params.get("is_deposit")
        kind = None if deposit is None else ("DEPOSIT" if deposit else "WITHDRAWAL")
        rows = tx.transfers(currency=accounts.KRW, from_ts=start, to_ts=end, before_id=params.get("to_id") or None,
                            kind=kind, limit=size)
        return {"transactions": [transfer_view(t) for t in rows]}
