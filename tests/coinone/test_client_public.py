"""CoinoneClient, public v2: parsing of every endpoint, chart paging, envelopes, retries, non-JSON answers.

The client gets a plain `requests.Session`; `responses` answers on the wire. Sleeps are injected and recorded.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses

from kairos.coinone.client import CoinoneClient
from kairos.errors import (
    AuthError, ExchangeError, ExchangeUnavailable, OrderRejected, ProtocolError, RateLimited, RequestRejected,
    TransportError,
)

D = Decimal
BASE = "https://api.coinone.test"
P = BASE + "/public/v2"


@pytest.fixture
def client(sleeps: list[float]) -> CoinoneClient:
    return CoinoneClient(requests.Session(), BASE + "/", read_retries=3, backoff=0.5, sleep=sleeps.append,
                         timeout=7.5)


def ok(**fields: Any) -> dict[str, Any]:
    return {"result": "success", "error_code": "0", **fields}


MARKET_ROW = {"quote_currency": "KRW", "target_currency": "BTC", "price_unit": "100.0", "qty_unit": "0.0001",
              "max_order_amount": "1000000000.0", "max_price": "1000000000000.0", "max_qty": "100000000.0",
              "min_order_amount": "5000", "min_price": "0.0001", "min_qty": "0.00000001",
              "order_book_units": ["0.0", "10000.0", "100000.0"], "maintenance_status": 0, "trade_status": 1,
              "order_types": ["limit", "market"]}


def ticker_row(target: str, last: str, case: str = "lower") -> dict[str, Any]:
    quote = "krw" if case == "lower" else "KRW"
    return {"quote_currency": quote, "target_currency": target, "timestamp": 1701073357818, "high": last,
            "low": last, "first": last, "last": last, "quote_volume": "11349804285.3859",
            "target_volume": "226.07268994", "best_asks": [{"price": last, "qty": "0.18471358"}],
            "best_bids": [{"price": last, "qty": "0.04213455"}], "id": "1701073357818001"}


# ---- markets ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("server_time", [1416895635000, "1747504992748"])
def test_markets_keyed_by_target(rsps, client, server_time) -> None:
    eth = {**MARKET_ROW, "target_currency": "eth", "qty_unit": 0.001, "maintenance_status": "1"}
    rsps.get(P + "/markets/KRW", json=ok(server_time=server_time, markets=[MARKET_ROW, eth]))
    markets = client.markets()
    assert sorted(markets) == ["BTC", "ETH"]
    assert markets["BTC"].min_order_amount == D(5000) and markets["BTC"].qty_unit == D("0.0001")
    assert markets["ETH"].qty_unit == D("0.001") and markets["ETH"].maintenance_status == 1
    assert not markets["ETH"].can_buy
    request = rsps.calls[0].request
    assert request.method == "GET" and request.headers["accept"] == "application/json"
    assert request.req_kwargs["timeout"] == 7.5
    assert request.body is None


def test_market_single(rsps, client) -> None:
    rsps.get(P + "/markets/KRW/BTC", json=ok(server_time="1747504992748", markets=[MARKET_ROW]))
    assert client.market("btc").target == "BTC"


@pytest.mark.parametrize("rows", [[], [MARKET_ROW, MARKET_ROW]])
def test_market_single_needs_exactly_one_row(rsps, client, rows) -> None:
    rsps.get(P + "/markets/KRW/BTC", json=ok(markets=rows))
    with pytest.raises(ProtocolError, match="expected one item"):
        client.market("BTC")


def test_markets_field_of_the_wrong_shape(rsps, client) -> None:
    rsps.get(P + "/markets/KRW", json=ok(markets={"BTC": MARKET_ROW}))
    with pytest.raises(ProtocolError, match="markets"):
        client.markets()


# ---- range units -----------------------------------------------------------------------------------

RANGE_NUMBERS = ('{"result":"success","error_code":"0","range_price_units":['
                 '{"range_min":1,"next_range_min":10,"price_unit":0.001},'
                 '{"range_min":0,"next_range_min":1,"price_unit":0.0001},'
                 '{"range_min":1000000,"price_unit":1000.0}]}')
RANGE_STRINGS = json.dumps(ok(range_price_units=[
    {"range_min": "0", "next_range_min": "1", "price_unit": "0.0001"},
    {"range_min": "1", "next_range_min": "10", "price_unit": "0.001"},
    {"range_min": "1000000", "next_range_min": None, "price_unit": "1000"},
]))


@pytest.mark.parametrize("body", [RANGE_NUMBERS, RANGE_STRINGS], ids=["numbers", "strings"])
def test_range_units_numbers_or_strings(rsps, client, body) -> None:
    rsps.get(P + "/range_units/KRW/XRP", body=body, content_type="application/json")
    table = client.range_units("xrp")
    assert [u.range_min for u in table.units] == [D(0), D(1), D(1000000)]  # sorted
    assert table.units[0].price_unit == D("0.0001") and str(table.units[0].price_unit) == "0.0001"  # exact
    assert table.units[-1].next_range_min is None
    assert table.tick_for(D("5.5")) == D("0.001")
    assert table.round_down(D("5.5555")) == D("5.555")
    assert table.tick_for(D(2_000_000)) == D(1000)


def test_range_units_empty_table_is_refused(rsps, client) -> None:
    rsps.get(P + "/range_units/KRW/BTC", json=ok(range_price_units=[]))
    with pytest.raises(ProtocolError, match="empty"):
        client.range_units("BTC")


# ---- tickers ---------------------------------------------------------------------------------------

def test_tickers_all_with_lowercase_codes(rsps, client) -> None:
    rsps.get(P + "/ticker_new/KRW", json=ok(server_time=1701073358487, tickers=[
        ticker_row("btc", "50062000.0"), ticker_row("eth", "3000000"), ticker_row("XRP", "700.5", case="upper")]))
    tickers = client.tickers()
    assert sorted(tickers) == ["BTC", "ETH", "XRP"]
    assert tickers["BTC"].last == D("50062000.0") and tickers["BTC"].quote == "KRW"
    assert tickers["XRP"].last == D("700.5")
    assert len(rsps.calls) == 1


def test_ticker_one(rsps, client) -> None:
    rsps.get(P + "/ticker_new/KRW/BTC", json=ok(server_time="1701073358487", tickers=[ticker_row("btc", "5e7")]))
    t = client.ticker("btc")
    assert t.target == "BTC" and t.last == D(50_000_000)
    assert rsps.calls[0].request.url == P + "/ticker_new/KRW/BTC"


# ---- orderbook -------------------------------------------------------------------------------------

def test_orderbook(rsps, client) -> None:
    rsps.get(P + "/orderbook/KRW/BTC", json=ok(
        timestamp="1644488410702", id="1644488410702001", quote_currency="KRW", target_currency="BTC",
        order_book_unit="0.0",
        bids=[{"price": "75862000", "qty": "0.5"}, {"price": "75860000", "qty": "0.5"}],
        asks=[{"price": "75863000", "qty": "22.5"}, {"price": 75865000, "qty": 22}]))
    book = client.orderbook("btc", size=5)
    assert book.target == "BTC" and book.timestamp == 1644488410702
    assert book.best_bid == D(75862000) and book.best_ask == D(75863000)
    assert book.mid == D("75862500")
    assert book.asks[1].qty == D(22)
    assert rsps.calls[0].request.params == {"size": "5"}


def test_orderbook_with_a_bad_timestamp_is_a_protocol_error(rsps, client) -> None:
    rsps.get(P + "/orderbook/KRW/BTC", json=ok(timestamp="n/a", bids=[], asks=[]))
    with pytest.raises(ProtocolError, match="orderbook.timestamp"):
        client.orderbook("BTC")


def test_orderbook_without_sides_is_refused(rsps, client) -> None:
    rsps.get(P + "/orderbook/KRW/BTC", json=ok(timestamp=1, bids=[]))
    with pytest.raises(ProtocolError):
        client.orderbook("BTC")


# ---- chart paging ----------------------------------------------------------------------------------

STEP = 900_000  # 15m
NEWEST = 1_582_253_100_000


class ChartServer:
    """A fake chart endpoint over candles NEWEST, NEWEST-STEP, … (`total` of them), newest first.

    mode "exclusive": candles strictly older than `timestamp`; "inclusive": at or older than it;
    "duplicate": the anchor is rounded up to the candle grid, so the candle at `timestamp + 1` comes back again;
    "ignore": the anchor is ignored (always the newest page).
    """

    def __init__(self, total: int, mode: str) -> None:
        self.all = [NEWEST - i * STEP for i in range(total)]
        self.mode = mode
        self.requests: list[dict[str, str]] = []

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        params = dict(request.params)  # type: ignore[attr-defined]
        self.requests.append(params)
        size = int(params.get("size", 200))
        anchor = int(params["timestamp"]) if "timestamp" in params else None
        if anchor is None or self.mode == "ignore":
            chosen = self.all
        elif self.mode == "exclusive":
            chosen = [t for t in self.all if t < anchor]
        elif self.mode == "inclusive":
            chosen = [t for t in self.all if t <= anchor]
        else:  # duplicate
            ceiling = -(-(anchor - NEWEST) // STEP) * STEP + NEWEST
            chosen = [t for t in self.all if t <= ceiling]
        page = chosen[:size]
        rows = [{"timestamp": t, "open": "1", "high": "2", "low": "0.5", "close": str(t % 1000 + 1),
                 "target_volume": "0.0", "quote_volume": "0.0"} for t in page]
        return 200, {}, json.dumps(ok(is_last=page[-1:] == self.all[-1:], chart=rows))


@pytest.mark.parametrize("mode", ["exclusive", "inclusive", "duplicate"])
@pytest.mark.parametrize("count", [1, 10, 500, 501, 502, 1200])
def test_chart_pages_backwards_until_count(rsps, client, mode, count) -> None:
    server = ChartServer(2000, mode)
    rsps.add_callback(responses.GET, P + "/chart/KRW/BTC", callback=server)
    candles = client.chart("btc", "15m", count)
    stamps = [c.timestamp for c in candles]
    assert stamps == sorted(server.all[:count]), mode  # oldest first, the newest `count`, no gap, no duplicate
    assert len(set(stamps)) == count
    assert all(int(r["size"]) <= 500 for r in server.requests)
    assert server.requests[0]["interval"] == "15m" and "timestamp" not in server.requests[0]
    anchors = [int(r["timestamp"]) for r in server.requests[1:]]
    assert anchors == sorted(anchors, reverse=True) and len(set(anchors)) == len(anchors)  # always further back
    assert len(server.requests) <= -(-count // 500) + 2


@pytest.mark.parametrize("mode", ["exclusive", "inclusive", "duplicate"])
def test_chart_stops_at_is_last(rsps, client, mode) -> None:
    server = ChartServer(730, mode)
    rsps.add_callback(responses.GET, P + "/chart/KRW/BTC", callback=server)
    candles = client.chart("BTC", "15m", 5000)
    assert [c.timestamp for c in candles] == sorted(server.all)
    assert len(server.requests) == 2


def test_chart_end_ms_is_the_first_anchor(rsps, client) -> None:
    server = ChartServer(100, "inclusive")
    rsps.add_callback(responses.GET, P + "/chart/KRW/BTC", callback=server)
    end = NEWEST - 10 * STEP
    candles = client.chart("BTC", "15m", 3, end_ms=end)
    assert server.requests[0]["timestamp"] == str(end)
    assert [c.timestamp for c in candles] == [end - 2 * STEP, end - STEP, end]


def test_chart_server_ignoring_the_anchor_ends_without_looping(rsps, client) -> None:
    server = ChartServer(1000, "ignore")
    rsps.add_callback(responses.GET, P + "/chart/KRW/BTC", callback=server)
    candles = client.chart("BTC", "1d", 700)
    assert len(server.requests) == 2  # the second page brought nothing new
    assert [c.timestamp for c in candles] == sorted(server.all[:500])


def test_chart_parses_decimal_fields(rsps, client) -> None:
    rsps.get(P + "/chart/KRW/ETH", json=ok(is_last=True, chart=[
        {"timestamp": "1582253100000", "open": "15133000.0", "high": 15134000, "low": "15132000.5",
         "close": "15133500", "target_volume": "1.5", "quote_volume": "22699500.0"}]))
    (candle,) = client.chart("eth", "1w", 200)
    assert candle.timestamp == 1582253100000 and candle.low == D("15132000.5") and candle.high == D(15134000)


# ---- currencies ------------------------------------------------------------------------------------

def test_currencies(rsps, client) -> None:
    rsps.get(P + "/currencies", json=ok(server_time="1644541746590", currencies=[
        {"name": "Bitcoin", "symbol": "BTC", "deposit_status": "normal", "withdraw_status": "normal",
         "deposit_confirm_count": "2", "max_precision": 8, "deposit_fee": "0.0",
         "withdrawal_min_amount": "0.0001", "withdrawal_fee": "0.0015"}]))
    (btc,) = client.currencies()
    assert btc["symbol"] == "BTC" and btc["withdraw_status"] == "normal"


# ---- error envelopes -------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 429, 500])
@pytest.mark.parametrize("spelling", ["snake", "camel"])
@pytest.mark.parametrize("code, cls", [("107", RequestRejected), ("12", AuthError), ("306", OrderRejected),
                                       ("999", ExchangeError)])
def test_error_envelopes_any_status(rsps, client, sleeps, status, spelling, code, cls) -> None:
    body = ({"result": "error", "error_code": code, "error_msg": "msg"} if spelling == "snake"
            else {"result": "error", "errorCode": code, "errorMsg": "msg"})
    rsps.get(P + "/markets/KRW", json=body, status=status)
    with pytest.raises(ExchangeError) as info:
        client.markets()
    assert type(info.value) is cls and info.value.code == code
    assert info.value.endpoint == "/public/v2/markets/KRW"
    assert len(rsps.calls) == 1 and sleeps == []  # permanent errors are not retried


# ---- retries of reads ------------------------------------------------------------------------------

FAILURES = {
    "http-500-html": dict(status=500, body="<html><body>Internal Server Error</body></html>"),
    "http-502-empty": dict(status=502, body=""),
    "http-503-json-garbage": dict(status=503, body="{not json"),
    "timeout": dict(body=requests.exceptions.ReadTimeout("read timed out")),
    "connect-timeout": dict(body=requests.exceptions.ConnectTimeout("connect timed out")),
    "connection-error": dict(body=requests.exceptions.ConnectionError("connection reset")),
    "code-405": dict(json={"result": "error", "error_code": "405", "error_msg": "Server error"}),
    "code-4": dict(json={"result": "error", "error_code": "4", "error_msg": "Blocked user access"}),
    "code-4-camel-429": dict(status=429, json={"result": "error", "errorCode": "4", "errorMsg": "Blocked"}),
    "http-429-text": dict(status=429, body="Too Many Requests"),
}
EXPECTED_CLASS = {"timeout": TransportError, "connect-timeout": TransportError, "connection-error": TransportError,
                  "code-4": RateLimited, "code-4-camel-429": RateLimited, "http-429-text": RateLimited}
RATE_LIMITED = {"code-4", "code-4-camel-429", "http-429-text"}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_reads_are_retried_exactly_read_retries_times(rsps, client, sleeps, failure) -> None:
    rsps.get(P + "/ticker_new/KRW", **FAILURES[failure])
    with pytest.raises(EXPECTED_CLASS.get(failure, ExchangeUnavailable)):
        client.tickers()
    assert len(rsps.calls) == 4  # 1 + read_retries
    factor = 4 if failure in RATE_LIMITED else 1
    assert sleeps == [0.5 * factor, 1.0 * factor, 2.0 * factor]
    assert client.calls["/public/v2/ticker_new/KRW"] == 4


@pytest.mark.parametrize("failure", list(FAILURES))
def test_read_recovers_after_transient_failures(rsps, client, sleeps, failure) -> None:
    rsps.get(P + "/ticker_new/KRW", **FAILURES[failure])
    rsps.get(P + "/ticker_new/KRW", **FAILURES[failure])
    rsps.get(P + "/ticker_new/KRW", json=ok(tickers=[ticker_row("btc", "100")]))
    assert client.tickers()["BTC"].last == D(100)
    assert len(rsps.calls) == 3 and len(sleeps) == 2


@pytest.mark.parametrize("retries, calls", [(0, 1), (1, 2), (5, 6)])
def test_retry_budget_follows_read_retries(rsps, retries, calls) -> None:
    recorded: list[float] = []
    c = CoinoneClient(requests.Session(), BASE, read_retries=retries, backoff=1.0, sleep=recorded.append)
    rsps.get(P + "/currencies", status=503, body="")
    with pytest.raises(ExchangeUnavailable):
        c.currencies()
    assert len(rsps.calls) == calls
    assert recorded == [2.0 ** i for i in range(retries)]


def test_timeout_is_a_transport_error_chained_from_requests(rsps, client) -> None:
    rsps.get(P + "/currencies", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(TransportError, match="timeout") as info:
        client.currencies()
    assert isinstance(info.value.__cause__, requests.exceptions.Timeout)
    assert info.value.endpoint == "/public/v2/currencies"


# ---- answers that are not Coinone's JSON -----------------------------------------------------------

@pytest.mark.parametrize("status, kw, cls, calls", [
    (200, dict(body="<html><h1>Maintenance</h1></html>", content_type="text/html"), ProtocolError, 1),
    (200, dict(body=""), ProtocolError, 1),
    (200, dict(body='{"result": "success", "markets": ['), ProtocolError, 1),
    (200, dict(json=[1, 2, 3]), ProtocolError, 1),
    (200, dict(json={"markets": []}), ProtocolError, 1),  # JSON, but no envelope
    (404, dict(body="<html>Not Found</html>", content_type="text/html"), ProtocolError, 1),
    (403, dict(body=""), ProtocolError, 1),
    (502, dict(body="<html>Bad Gateway</html>", content_type="text/html"), ExchangeUnavailable, 4),
    (504, dict(body=""), ExchangeUnavailable, 4),
])
def test_non_json_answers(rsps, client, status, kw, cls, calls) -> None:
    rsps.get(P + "/markets/KRW", status=status, **kw)
    with pytest.raises(cls) as info:
        client.markets()
    assert type(info.value) is cls
    assert str(status) in str(info.value)
    assert len(rsps.calls) == calls


# ---- rate-limit headers ----------------------------------------------------------------------------

@pytest.mark.parametrize("header, value, pauses", [
    ("Public-Ratelimit-Remaining", "0", [2.0]),
    ("Public-Ratelimit-Remaining", "1", [2.0]),
    ("Public-Ratelimit-Remaining", "2", []),
    ("Public-Ratelimit-Remaining", "1199", []),
    ("Private-Ratelimit-Remaining", "1", [1.0]),
    ("Private-Order-Ratelimit-Remaining", "0", [1.0]),
    ("Public-Ratelimit-Remaining", "abc", []),
])
def test_quota_header_nearly_spent_triggers_the_injected_sleep(rsps, client, sleeps, header, value, pauses) -> None:
    rsps.get(P + "/currencies", json=ok(currencies=[]), headers={header: value})
    assert client.currencies() == []
    assert sleeps == pauses
