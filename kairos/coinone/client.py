"""CoinoneClient: public v2 and private v2.1 over an injected `requests.Session`.

Reads are retried with backoff (a fresh nonce each attempt, so retries happen here and not in
urllib3: a transport-level retry would resend the same nonce and earn error 132). Order placement
and cancellation are never retried: after a timeout the caller reconciles by `user_order_id`.
There is no withdrawal method, and private paths outside `PRIVATE_ALLOW` are refused.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping

import requests

from kairos import crashpoints
from kairos.coinone.auth import Credentials, sign_request
from kairos.coinone.errors import error_for, is_error
from kairos.coinone.models import (
    Balance, CancelResult, Candle, FeeRate, KrwTransaction, Market, Order, OrderBook, OrderRequest, RangeUnit,
    Ticker, TickTable, Trade, dec, integer, parse_levels,
)
from kairos.errors import (
    AuthError, ExchangeUnavailable, KairosError, ProtocolError, RateLimited, RequestRejected, TemporaryExchangeError,
    TransportError,
)
from kairos.money import plain

log = logging.getLogger("kairos.coinone")

PRIVATE_ALLOW = (
    r"/v2\.1/account/balance/all", r"/v2\.1/account/balance", r"/v2\.1/account/trade_fee(/[A-Z0-9]+/[A-Z0-9]+)?",
    r"/v2\.1/order", r"/v2\.1/order/detail", r"/v2\.1/order/cancel", r"/v2\.1/order/cancel/all",
    r"/v2\.1/order/active_orders", r"/v2\.1/order/completed_orders(/all)?", r"/v2\.1/transaction/krw/history",
)
_ALLOW = re.compile("|".join(f"(?:{p})" for p in PRIVATE_ALLOW))
CHART_PAGE = 500
HISTORY_AHEAD_MS = 30_000


class PathNotAllowed(KairosError):
    """A private path outside the allow-list was requested (there is no withdrawal, ever)."""


class CoinoneClient:
    """The one object that talks to Coinone (or to the simulator behind the same wire protocol)."""

    def __init__(self, session: requests.Session, base_url: str, *, credentials: Credentials | None = None,
                 timeout: float = 10.0, read_retries: int = 3, backoff: float = 0.5,
                 sleep: Callable[[float], None] | None = None, nonce: Callable[[], str] | None = None,
                 body_format: str = "json", quote: str = "KRW") -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.read_retries = read_retries
        self.backoff = backoff
        self.sleep = sleep or (lambda s: None)
        self.nonce = nonce or (lambda: str(uuid.uuid4()))
        self.body_format = body_format
        self.quote = quote
        self.calls: dict[str, int] = {}
        self.skipped: dict[str, dict[str, str]] = {}  # list → coin → why its row could not be read

    # ---- public v2 -------------------------------------------------------------------------
    def markets(self) -> dict[str, Market]:
        """All markets of the quote currency, keyed by target symbol; unreadable rows are skipped (see `skipped`)."""
        body = self._public(f"/public/v2/markets/{self.quote}")
        return self._tolerant(body, "markets", Market.parse)

    def market(self, target: str) -> Market:
        body = self._public(f"/public/v2/markets/{self.quote}/{target.upper()}")
        return Market.parse(_one(body, "markets"))

    def range_units(self, target: str) -> TickTable:
        body = self._public(f"/public/v2/range_units/{self.quote}/{target.upper()}")
        units = []
        for row in _rows(body, "range_price_units"):
            nxt = row.get("next_range_min")
            units.append(RangeUnit(dec(row, "range_min", where="range_unit"),
                                   dec(row, "next_range_min", where="range_unit") if nxt not in (None, "") else None,
                                   dec(row, "price_unit", where="range_unit")))
        if not units:
            raise ProtocolError("range_units: empty table")
        return TickTable(tuple(sorted(units, key=lambda u: u.range_min)))

    def tickers(self) -> dict[str, Ticker]:
        """Every ticker of the quote market in one request; unreadable rows are skipped (see `skipped`)."""
        body = self._public(f"/public/v2/ticker_new/{self.quote}")
        return self._tolerant(body, "tickers", Ticker.parse)

    def _tolerant(self, body: Mapping[str, Any], key: str, parse: Callable[[Mapping[str, Any]], Any]) -> dict[str, Any]:
        """Parse a list of ~200 listings row by row: one odd row (a delisted coin's `last: null`) is
        skipped with one log line and remembered in `self.skipped[key]`, instead of failing every coin."""
        rows = body.get(key)
        if rows is None:
            rows = []
        if not isinstance(rows, list):
            raise ProtocolError(f"response field {key!r} is not a list")
        found: dict[str, Any] = {}
        skipped: dict[str, str] = {}
        for raw in rows:
            name = str(raw.get("target_currency") or "?").upper() if isinstance(raw, Mapping) else "?"
            try:
                if not isinstance(raw, Mapping):
                    raise ProtocolError("not an object")
                item = parse(raw)
            except ProtocolError as exc:
                skipped[name] = str(exc)
                continue
            found[item.target] = item
        self.skipped[key] = skipped
        if skipped:
            log.info("%s: %d unreadable row(s) skipped: %s", key, len(skipped),
                     "; ".join(f"{k}: {v}" for k, v in sorted(skipped.items()))[:600])
        return found

    def ticker(self, target: str) -> Ticker:
        body = self._public(f"/public/v2/ticker_new/{self.quote}/{target.upper()}")
        return Ticker.parse(_one(body, "tickers"))

    def orderbook(self, target: str, size: int = 15) -> OrderBook:
        body = self._public(f"/public/v2/orderbook/{self.quote}/{target.upper()}", {"size": size})
        where = "orderbook"
        return OrderBook(target.upper(), integer(body, "timestamp", where=where, default=0),
                         parse_levels(body.get("bids"), where=where), parse_levels(body.get("asks"), where=where))

    def chart(self, target: str, interval: str, count: int, end_ms: int | None = None) -> list[Candle]:
        """Up to `count` candles, oldest first, paging backwards with `timestamp` until `is_last`."""
        by_ts: dict[int, Candle] = {}
        anchor = end_ms
        while len(by_ts) < count:
            # one spare row after the first page: a server that re-sends the anchor candle must not end us short
            wanted = count - len(by_ts) + (1 if by_ts else 0)
            params: dict[str, Any] = {"interval": interval, "size": min(CHART_PAGE, max(wanted, 1))}
            if anchor is not None:
                params["timestamp"] = anchor
            body = self._public(f"/public/v2/chart/{self.quote}/{target.upper()}", params)
            page = [Candle.parse(r) for r in _rows(body, "chart")]
            fresh = [c for c in page if c.timestamp not in by_ts]
            by_ts.update((c.timestamp, c) for c in fresh)
            if not fresh or body.get("is_last") is True:
                break
            anchor = min(c.timestamp for c in page) - 1  # tolerant of inclusive or exclusive anchors
        candles = sorted(by_ts.values(), key=lambda c: c.timestamp)
        return candles[-count:]

    def currencies(self) -> list[dict[str, Any]]:
        return list(_rows(self._public("/public/v2/currencies"), "currencies"))

    # ---- private v2.1 ----------------------------------------------------------------------
    def balances(self) -> dict[str, Balance]:
        body = self._private("/v2.1/account/balance/all", {}, retry=True)
        return {b.currency: b for b in (Balance.parse(r) for r in _rows(body, "balances"))}

    def trade_fees(self) -> dict[str, FeeRate]:
        body = self._private("/v2.1/account/trade_fee", {}, retry=True)
        return {f.target: f for f in (FeeRate.parse(r) for r in _rows(body, "fee_rates"))}

    def place_order(self, order: OrderRequest) -> str:
        """Place one order and return its order_id. Never retried."""
        body = self._private("/v2.1/order", order_params(order, self.quote), retry=False)
        order_id = body.get("order_id")
        if not isinstance(order_id, str) or not order_id:
            raise ProtocolError("order: response has no order_id", endpoint="/v2.1/order")
        return order_id

    def order_detail(self, target: str, *, order_id: str | None = None, user_order_id: str | None = None) -> Order:
        params = self._order_key(target, order_id, user_order_id)
        body = self._private("/v2.1/order/detail", params, retry=True)
        raw = body.get("order")
        if not isinstance(raw, Mapping):
            raise ProtocolError("order/detail: response has no order object", endpoint="/v2.1/order/detail")
        return Order.parse(raw)

    def cancel_order(self, target: str, *, order_id: str | None = None, user_order_id: str | None = None) -> CancelResult:
        params = self._order_key(target, order_id, user_order_id)
        return CancelResult.parse(self._private("/v2.1/order/cancel", params, retry=False))

    def cancel_all(self, target: str) -> int:
        body = self._private("/v2.1/order/cancel/all", self._pair(target), retry=False)
        return integer(body, "canceled_count", where="cancel/all", default=0)

    def active_orders(self, target: str | None = None) -> list[Order]:
        params = self._pair(target) if target else {}
        body = self._private("/v2.1/order/active_orders", params, retry=True)
        # active rows carry no `status` field (fact sheet §3.8): by definition they are open
        return [Order.parse({**r, "status": r.get("status") or "LIVE"}) for r in _rows(body, "active_orders")]

    def completed_orders(self, from_ms: int, to_ms: int, target: str | None = None, size: int = 100,
                         to_trade_id: str | None = None) -> list[Trade]:
        """Fills of the window, newest first; `to_trade_id` pages to older rows."""
        params: dict[str, Any] = {"size": size, "from_ts": from_ms, "to_ts": to_ms}
        if to_trade_id:
            params["to_trade_id"] = to_trade_id
        path = "/v2.1/order/completed_orders/all"
        if target:
            params.update(self._pair(target))
            path = "/v2.1/order/completed_orders"
        return [Trade.parse(r) for r in _rows(self._private(path, params, retry=True), "completed_orders")]

    def completed_orders_since(self, from_ms: int, now_ms: int, target: str | None = None,
                               to_trade_id: str | None = None) -> list[Trade]:
        """Fills from `from_ms` up to now, tolerant of a clock a little behind the exchange's.

        `to_ts` asks up to HISTORY_AHEAD_MS past our clock (a fill stamped by a clock a second ahead of ours
        must not be missed); if the exchange refuses a window that reaches into its future (316/107), it
        is asked again up to our own clock. The window is capped at 89 days (the limit is 90).
        """
        start = max(from_ms, now_ms - 89 * 86_400_000)
        try:
            return self.completed_orders(start, now_ms + HISTORY_AHEAD_MS, target, to_trade_id=to_trade_id)
        except RequestRejected:
            return self.completed_orders(start, now_ms, target, to_trade_id=to_trade_id)

    def krw_history(self, from_ms: int, to_ms: int, size: int = 100) -> list[KrwTransaction]:
        params = {"size": size, "from_ts": from_ms, "to_ts": to_ms}
        body = self._private("/v2.1/transaction/krw/history", params, retry=True)
        return [KrwTransaction.parse(r) for r in _rows(body, "transactions")]

    # ---- plumbing ----------------------------------------------------------------------------
    def _pair(self, target: str | None) -> dict[str, str]:
        return {"quote_currency": self.quote, "target_currency": (target or "").upper()}

    def _order_key(self, target: str, order_id: str | None, user_order_id: str | None) -> dict[str, str]:
        if bool(order_id) == bool(user_order_id):
            raise ValueError("give exactly one of order_id or user_order_id")
        key = {"order_id": order_id} if order_id else {"user_order_id": user_order_id}
        return {**self._pair(target), **key}  # type: ignore[dict-item]

    def _public(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        def send() -> requests.Response:
            return self.session.get(self.base_url + path, params=params, timeout=self.timeout,
                                    headers={"accept": "application/json"})
        return self._with_retries(path, send, retry=True)

    def _private(self, path: str, params: Mapping[str, Any], *, retry: bool) -> dict[str, Any]:
        if not _ALLOW.fullmatch(path):
            raise PathNotAllowed(f"refusing private path {path}: not on the client's allow-list")
        if self.credentials is None:
            raise AuthError(f"no API keys configured for {path}", endpoint=path)
        credentials = self.credentials

        def send() -> requests.Response:
            signed = sign_request(params, credentials, self.nonce())
            body = {"json": signed.body_json, "base64": signed.payload.encode("ascii"), "empty": b""}[self.body_format]
            headers = {"Content-Type": "application/json", "X-COINONE-PAYLOAD": signed.payload,
                       "X-COINONE-SIGNATURE": signed.signature}
            return self.session.post(self.base_url + path, data=body, headers=headers, timeout=self.timeout)
        return self._with_retries(path, send, retry=retry)

    def _with_retries(self, path: str, send: Callable[[], requests.Response], *, retry: bool) -> dict[str, Any]:
        attempts = 1 + (self.read_retries if retry else 0)
        for attempt in range(1, attempts + 1):
            try:
                return self._once(path, send)
            except TemporaryExchangeError as exc:
                if attempt == attempts:
                    raise
                delay = self.backoff * (2 ** (attempt - 1)) * (4 if isinstance(exc, RateLimited) else 1)
                log.info("%s failed (%s); retry %d/%d in %.2fs", path, exc, attempt, attempts - 1, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _once(self, path: str, send: Callable[[], requests.Response]) -> dict[str, Any]:
        self.calls[path] = self.calls.get(path, 0) + 1
        crashpoints.hit(f"http.send:{path}")
        try:
            response = send()
        except requests.Timeout as exc:
            raise TransportError(f"timeout talking to Coinone on {path}", endpoint=path) from exc
        except requests.RequestException as exc:
            raise TransportError(f"connection to Coinone failed on {path} ({type(exc).__name__})", endpoint=path) from exc
        crashpoints.hit(f"http.received:{path}")
        log.debug("%s → HTTP %s", path, response.status_code)
        body = decode(response, path)
        if is_error(body):
            raise error_for(body, path)
        self._respect_quota(response)
        return body

    def _respect_quota(self, response: requests.Response) -> None:
        """Slow down when a remaining-quota header says the budget is nearly spent."""
        for header, pause in (("Private-Order-Ratelimit-Remaining", 1.0), ("Private-Ratelimit-Remaining", 1.0),
                              ("Public-Ratelimit-Remaining", 2.0)):
            value = response.headers.get(header)
            if value is not None and value.strip().isdigit() and int(value) <= 1:
                log.info("rate-limit quota nearly spent (%s=%s); pausing %.1fs", header, value, pause)
                self.sleep(pause)


def decode(response: requests.Response, path: str) -> dict[str, Any]:
    """Parse a Coinone JSON envelope whatever the HTTP status; map non-JSON answers."""
    try:
        body = json.loads(response.content or b"", parse_float=Decimal)
    except ValueError:
        body = None
    if isinstance(body, dict) and ("result" in body or "error_code" in body or "errorCode" in body):
        return body
    if response.status_code >= 500 or response.status_code == 429:
        cls = RateLimited if response.status_code == 429 else ExchangeUnavailable
        raise cls(f"Coinone answered HTTP {response.status_code} on {path}", endpoint=path)
    shape = "an empty body" if not response.content else ("non-JSON text" if body is None else "unexpected JSON")
    raise ProtocolError(f"Coinone answered HTTP {response.status_code} with {shape} on {path}", endpoint=path)


def order_params(order: OrderRequest, quote: str) -> dict[str, Any]:
    """Wire parameters for /v2.1/order; Decimals go out as plain strings."""
    params: dict[str, Any] = {"quote_currency": quote, "target_currency": order.target.upper(),
                              "side": order.side, "type": order.type, "user_order_id": order.user_order_id}
    for key in ("amount", "qty", "price", "limit_price"):
        value = getattr(order, key)
        if value is not None:
            params[key] = plain(value)
    if order.post_only is not None:
        params["post_only"] = order.post_only
    return params


def _rows(body: Mapping[str, Any], key: str) -> Iterable[Mapping[str, Any]]:
    rows = body.get(key)
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise ProtocolError(f"response field {key!r} is not a list of objects")
    return rows


def _one(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    rows = list(_rows(body, key))
    if len(rows) != 1:
        raise ProtocolError(f"expected one item in {key!r}, got {len(rows)}")
    return rows[0]
