"""CoinoneClient, private v2.1: request parameters, parsing, no-retry of orders, the allow-list."""
from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
import requests

from kairos.coinone.auth import Credentials
from kairos.coinone.client import CoinoneClient, PathNotAllowed
from kairos.coinone.models import OrderRequest
from kairos.errors import (
    AuthError, DuplicateOrderId, ExchangeUnavailable, InsufficientBalance, KairosError, OrderNotFound, OrderRejected,
    ProtocolError, RateLimited, TransportError,
)
from kairos.schema import Secret

D = Decimal
BASE = "https://api.coinone.test"
V = BASE + "/v2.1"
TOKEN, SECRET = "access-token-for-tests-0001", "secret-key-for-tests-0001"


@pytest.fixture
def client(sleeps: list[float]) -> CoinoneClient:
    return CoinoneClient(requests.Session(), BASE, credentials=Credentials(Secret(TOKEN), Secret(SECRET)),
                         read_retries=3, backoff=0.5, sleep=sleeps.append)


def ok(**fields: Any) -> dict[str, Any]:
    return {"result": "success", "error_code": "0", **fields}


def sent(call: Any) -> dict[str, Any]:
    """The parameters of a signed call, as the server reads them (from the payload header)."""
    document = json.loads(base64.b64decode(call.request.headers["X-COINONE-PAYLOAD"]))
    assert document.pop("access_token") == TOKEN
    document.pop("nonce")
    return document


# ---- balances and fees -----------------------------------------------------------------------------

def test_balances(rsps, client) -> None:
    rsps.post(V + "/account/balance/all", json=ok(balances=[
        {"available": "0.5", "limit": "0.25", "average_price": "100000000", "currency": "btc"},
        {"available": 232706745677, "limit": "0", "average_price": "0", "currency": "KRW"}]))
    balances = client.balances()
    assert balances["BTC"].total == D("0.75") and balances["BTC"].average_price == D(100000000)
    assert balances["KRW"].available == D(232706745677)
    assert sent(rsps.calls[0]) == {}


def test_trade_fees(rsps, client) -> None:
    rsps.post(V + "/account/trade_fee", json=ok(fee_rates=[
        {"quote_currency": "KRW", "target_currency": "BTC", "maker": "0.002", "taker": "0.002"},
        {"quote_currency": "krw", "target_currency": "eth", "maker": 0.001, "taker": "0.0015"}]))
    fees = client.trade_fees()
    assert fees["BTC"].taker == D("0.002") and fees["ETH"].maker == D("0.001") and fees["ETH"].taker == D("0.0015")


# ---- place order -----------------------------------------------------------------------------------

@pytest.mark.parametrize("order, params", [
    (OrderRequest.market_buy("btc", D("10000.00"), D("50500000"), "plan-1-btc-0-a0"),
     {"quote_currency": "KRW", "target_currency": "BTC", "side": "BUY", "type": "MARKET",
      "user_order_id": "plan-1-btc-0-a0", "amount": "10000", "limit_price": "50500000"}),
    (OrderRequest.market_sell("XRP", D("12.3400"), None, "plan-1-xrp-0-a0"),
     {"quote_currency": "KRW", "target_currency": "XRP", "side": "SELL", "type": "MARKET",
      "user_order_id": "plan-1-xrp-0-a0", "qty": "12.34"}),
    (OrderRequest.limit("BUY", "ETH", D("3.0E+6"), D("0.00000001"), "u", post_only=True),
     {"quote_currency": "KRW", "target_currency": "ETH", "side": "BUY", "type": "LIMIT", "user_order_id": "u",
      "qty": "0.00000001", "price": "3000000", "post_only": True}),
])
def test_place_order_sends_plain_decimal_strings(rsps, client, order, params) -> None:
    rsps.post(V + "/order", json=ok(order_id="0f512287-1e4d-11e9-9ec7-00e04c3600d7"))
    assert client.place_order(order) == "0f512287-1e4d-11e9-9ec7-00e04c3600d7"
    assert sent(rsps.calls[0]) == params


@pytest.mark.parametrize("body", [ok(), ok(order_id=""), ok(order_id=123)])
def test_place_order_without_order_id_is_a_protocol_error(rsps, client, body) -> None:
    rsps.post(V + "/order", json=body)
    with pytest.raises(ProtocolError, match="order_id"):
        client.place_order(OrderRequest.market_buy("BTC", D(10000), None, "u"))
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("code, cls", [("103", InsufficientBalance), ("312", DuplicateOrderId),
                                       ("306", OrderRejected), ("123", AuthError)])
@pytest.mark.parametrize("status", [200, 400])
def test_place_order_rejections(rsps, client, code, cls, status) -> None:
    rsps.post(V + "/order", json={"result": "error", "error_code": code, "error_msg": "no"}, status=status)
    with pytest.raises(cls):
        client.place_order(OrderRequest.market_buy("BTC", D(10000), None, "u"))
    assert len(rsps.calls) == 1


# ---- orders are never retried ----------------------------------------------------------------------

NOT_RETRIED = {
    "timeout": (dict(body=requests.exceptions.ReadTimeout("slow")), TransportError),
    "connection": (dict(body=requests.exceptions.ConnectionError("reset")), TransportError),
    "http-502": (dict(status=502, body="<html>Bad Gateway</html>"), ExchangeUnavailable),
    "code-4": (dict(json={"result": "error", "error_code": "4"}), RateLimited),
    "code-405": (dict(json={"result": "error", "errorCode": "405"}), ExchangeUnavailable),
}
WRITES = {
    "place": ("/order", lambda c: c.place_order(OrderRequest.market_sell("BTC", D("0.001"), None, "u"))),
    "cancel": ("/order/cancel", lambda c: c.cancel_order("BTC", order_id="abc")),
    "cancel-by-user-id": ("/order/cancel", lambda c: c.cancel_order("BTC", user_order_id="u")),
    "cancel-all": ("/order/cancel/all", lambda c: c.cancel_all("BTC")),
}


@pytest.mark.parametrize("failure", list(NOT_RETRIED))
@pytest.mark.parametrize("write", list(WRITES))
def test_placement_and_cancel_are_never_retried(rsps, client, sleeps, failure, write) -> None:
    path, call = WRITES[write]
    kw, cls = NOT_RETRIED[failure]
    rsps.post(V + path, **kw)
    rsps.post(V + path, json=ok(order_id="should-not-be-reached", canceled_count=1))
    with pytest.raises(cls):
        call(client)
    assert len(rsps.calls) == 1
    assert sleeps == []


# ---- order detail ----------------------------------------------------------------------------------

LIMIT_DETAIL = {"order_id": "0f1c26d0-aaaa", "type": "LIMIT", "quote_currency": "KRW", "target_currency": "BTC",
                "status": "PARTIALLY_FILLED", "side": "SELL", "fee": "100", "fee_rate": "0.002",
                "average_executed_price": "100000000", "updated_at": 1680055490000, "ordered_at": 1680051059000,
                "price": "100000000", "original_qty": "1", "executed_qty": "0.0005", "canceled_qty": "0",
                "remain_qty": "0.9995", "limit_price": None, "traded_amount": None, "original_amount": None,
                "canceled_amount": None, "is_triggered": None, "trigger_price": None}
MARKET_BUY_DETAIL = {"order_id": "mb-1", "type": "MARKET", "quote_currency": "KRW", "target_currency": "BTC",
                     "status": "CANCELED_UNDER_PRODUCT_UNIT", "side": "BUY", "fee": "1999.9999",
                     "average_fee_rate": "0.002", "average_executed_price": "29959999.9",
                     "updated_at": 1680055490, "ordered_at": 1680051059, "price": None, "original_qty": None,
                     "executed_qty": "0.03337895", "canceled_qty": None, "remain_qty": None,
                     "limit_price": "0.0001", "traded_amount": "999999.963", "original_amount": "1000000",
                     "canceled_amount": "0.0369"}


def test_order_detail_by_order_id(rsps, client) -> None:
    rsps.post(V + "/order/detail", json=ok(order=LIMIT_DETAIL))
    order = client.order_detail("btc", order_id="0f1c26d0-aaaa")
    assert sent(rsps.calls[0]) == {"quote_currency": "KRW", "target_currency": "BTC", "order_id": "0f1c26d0-aaaa"}
    assert order.is_open and order.remain_qty == D("0.9995") and order.fee_rate == D("0.002")
    assert order.ordered_at == 1680051059000


def test_order_detail_by_user_order_id_market_buy(rsps, client) -> None:
    rsps.post(V + "/order/detail", json=ok(order=MARKET_BUY_DETAIL))
    order = client.order_detail("BTC", user_order_id="plan-7-btc-3-a0")
    params = sent(rsps.calls[0])
    assert params == {"quote_currency": "KRW", "target_currency": "BTC", "user_order_id": "plan-7-btc-3-a0"}
    assert "order_id" not in params
    assert order.fee_rate == D("0.002")  # from average_fee_rate
    assert order.ordered_at == 1680051059000 and order.updated_at == 1680055490000  # seconds → ms
    assert order.executed_krw == D("999999.963") and not order.is_open


@pytest.mark.parametrize("kw", [{}, {"order_id": "a", "user_order_id": "b"}])
def test_order_key_needs_exactly_one_id(rsps, client, kw) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        client.order_detail("BTC", **kw)
    with pytest.raises(ValueError, match="exactly one"):
        client.cancel_order("BTC", **kw)
    assert len(rsps.calls) == 0


def test_order_detail_unknown_order(rsps, client) -> None:
    rsps.post(V + "/order/detail", json={"result": "error", "error_code": "104", "error_msg": "Order id is not exist"})
    with pytest.raises(OrderNotFound):
        client.order_detail("BTC", order_id="nope")
    assert len(rsps.calls) == 1  # a permanent answer: not retried


def test_order_detail_without_order_object(rsps, client) -> None:
    rsps.post(V + "/order/detail", json=ok(order=None))
    with pytest.raises(ProtocolError, match="no order object"):
        client.order_detail("BTC", order_id="x")


@pytest.mark.parametrize("failure", ["timeout", "connection", "http-502", "code-4"])
def test_private_reads_are_retried(rsps, client, sleeps, failure) -> None:
    kw, cls = NOT_RETRIED[failure]
    rsps.post(V + "/order/detail", **kw)
    with pytest.raises(cls):
        client.order_detail("BTC", user_order_id="u")
    assert len(rsps.calls) == 4
    factor = 4 if failure == "code-4" else 1
    assert sleeps == [0.5 * factor, 1.0 * factor, 2.0 * factor]


# ---- cancel ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("canceled_at, expected", [(1650525935, 1650525935000), (1650525935000, 1650525935000)])
def test_cancel_order(rsps, client, canceled_at, expected) -> None:
    rsps.post(V + "/order/cancel", json=ok(
        order_id="d85cc6af", price="26231000.0", qty="0.002", remain_qty="0.0", side="BUY", original_qty="0.005",
        traded_qty="0.003", canceled_qty="0.002", fee="26231.0", fee_rate="0.001", avg_price="26231000.0",
        canceled_at=canceled_at, ordered_at=1650125935))
    result = client.cancel_order("btc", order_id="d85cc6af")
    assert sent(rsps.calls[0]) == {"quote_currency": "KRW", "target_currency": "BTC", "order_id": "d85cc6af"}
    assert result.order_id == "d85cc6af" and result.canceled_qty == D("0.002") and result.executed_qty == D("0.003")
    assert result.canceled_at == expected


def test_cancel_by_user_order_id(rsps, client) -> None:
    rsps.post(V + "/order/cancel", json=ok(order_id="d85cc6af", qty="1", traded_qty="0", canceled_at=None))
    result = client.cancel_order("XRP", user_order_id="plan-1-xrp-0-a0")
    assert sent(rsps.calls[0]) == {"quote_currency": "KRW", "target_currency": "XRP", "user_order_id": "plan-1-xrp-0-a0"}
    assert result.canceled_at is None and result.canceled_qty == D(1)


@pytest.mark.parametrize("code, cls", [("116", OrderRejected), ("117", OrderRejected), ("104", OrderNotFound)])
def test_cancel_refusals(rsps, client, code, cls) -> None:
    rsps.post(V + "/order/cancel", json={"result": "error", "errorCode": code, "errorMsg": "x"}, status=400)
    with pytest.raises(cls):
        client.cancel_order("BTC", order_id="x")


@pytest.mark.parametrize("body, count", [(ok(canceled_count=3, total_order_count=3), 3),
                                         (ok(canceled_count="2"), 2), (ok(), 0)])
def test_cancel_all(rsps, client, body, count) -> None:
    rsps.post(V + "/order/cancel/all", json=body)
    assert client.cancel_all("eth") == count
    assert sent(rsps.calls[0]) == {"quote_currency": "KRW", "target_currency": "ETH"}


def test_cancel_all_with_a_malformed_count_is_a_protocol_error(rsps, client) -> None:
    rsps.post(V + "/order/cancel/all", json=ok(canceled_count="three"))
    with pytest.raises(ProtocolError, match="canceled_count"):
        client.cancel_all("BTC")
    assert len(rsps.calls) == 1


# ---- lists -----------------------------------------------------------------------------------------

ACTIVE_ROW = {"order_id": "a-1", "type": "LIMIT", "side": "BUY", "quote_currency": "KRW", "target_currency": "BTC",
              "price": "50000000", "original_qty": "0.01", "remain_qty": "0.01", "executed_qty": "0",
              "canceled_qty": "0", "fee": "0", "fee_rate": "0.002", "average_executed_price": "0",
              "ordered_at": 1701073357818, "is_triggered": None, "trigger_price": None, "triggered_at": None,
              "status": "LIVE"}


@pytest.mark.parametrize("target, params", [(None, {}), ("btc", {"quote_currency": "KRW", "target_currency": "BTC"})])
def test_active_orders(rsps, client, target, params) -> None:
    rsps.post(V + "/order/active_orders", json=ok(active_orders=[ACTIVE_ROW, {**ACTIVE_ROW, "order_id": "a-2",
                                                                            "target_currency": "eth"}]))
    orders = client.active_orders(target)
    assert [o.order_id for o in orders] == ["a-1", "a-2"] and orders[1].target == "ETH"
    assert all(o.is_open for o in orders) and orders[0].price == D(50000000)
    assert sent(rsps.calls[0]) == params


FILL = {"trade_id": "t-1", "order_id": "o-1", "quote_currency": "KRW", "target_currency": "BTC", "order_type": "LIMIT",
        "is_ask": False, "is_maker": True, "price": "50000000", "qty": "0.001", "timestamp": 1701073357818,
        "fee_rate": "0.002", "fee": "100", "fee_currency": "KRW"}


@pytest.mark.parametrize("target, path, extra", [
    (None, "/order/completed_orders/all", {}),
    ("btc", "/order/completed_orders", {"quote_currency": "KRW", "target_currency": "BTC"}),
])
def test_completed_orders(rsps, client, target, path, extra) -> None:
    rsps.post(V + path, json=ok(completed_orders=[FILL, {**FILL, "trade_id": "t-2", "is_ask": True}]))
    fills = client.completed_orders(1_700_000_000_000, 1_701_000_000_000, target=target, size=50)
    assert [(f.trade_id, f.is_ask) for f in fills] == [("t-1", False), ("t-2", True)]
    assert fills[0].fee == D(100) and fills[0].qty == D("0.001")
    assert sent(rsps.calls[0]) == {"size": 50, "from_ts": 1_700_000_000_000, "to_ts": 1_701_000_000_000, **extra}


def test_krw_history(rsps, client) -> None:
    rsps.post(V + "/transaction/krw/history", json=ok(transactions=[
        {"id": "k-1", "status": "DEPOSIT_COMPLETE", "amount": "1000000", "fee": "0", "type": "DEPOSIT",
         "transaction_type": "DEFAULT", "created_at": 1672531200000},
        {"id": "k-2", "status": "WITHDRAWAL_COMPLETE", "amount": 500000, "fee": "1000", "type": "withdrawal",
         "transaction_type": "ETC", "created_at": "1672617600000"}]))
    rows = client.krw_history(1, 2, size=10)
    assert [(r.id, r.type, r.amount, r.fee) for r in rows] == [("k-1", "DEPOSIT", D(1000000), D(0)),
                                                               ("k-2", "WITHDRAWAL", D(500000), D(1000))]
    assert rows[1].created_at == 1672617600000
    assert sent(rsps.calls[0]) == {"size": 10, "from_ts": 1, "to_ts": 2}


# ---- envelopes, credentials, allow-list ------------------------------------------------------------

@pytest.mark.parametrize("status", [200, 401])
@pytest.mark.parametrize("body", [{"result": "error", "error_code": "12", "error_msg": "Invalid access token"},
                                  {"result": "error", "errorCode": "12", "errorMsg": "Invalid access token"}])
def test_private_error_envelopes(rsps, client, sleeps, status, body) -> None:
    rsps.post(V + "/account/balance/all", json=body, status=status)
    with pytest.raises(AuthError) as info:
        client.balances()
    assert info.value.code == "12" and len(rsps.calls) == 1 and sleeps == []


def test_private_call_without_keys_sends_nothing(rsps) -> None:
    keyless = CoinoneClient(requests.Session(), BASE)
    with pytest.raises(AuthError, match="no API keys"):
        keyless.balances()
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("path", [
    "/v2.1/transaction/coin/withdrawal",
    "/v2.1/transaction/coin/withdrawal/address_book",
    "/v2.1/transaction/coin/history",
    "/v2/order/limit_buy",
    "/v2.1/order/limit",
    "/v2.1/order/../transaction/coin/withdrawal",
    "/v2.1/account/balance/all/",
    "/v2.1/account/trade_fee/KRW/BTC/../../../transaction/coin/withdrawal",
])
def test_allow_list_refuses_unknown_private_paths_without_sending(rsps, client, path) -> None:
    rsps.post(BASE + path, json=ok())
    with pytest.raises(PathNotAllowed, match="allow-list") as info:
        client._private(path, {"currency": "BTC", "qty": "1", "address": "x"}, retry=False)
    assert isinstance(info.value, KairosError)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("path", ["/v2.1/account/balance/all", "/v2.1/account/trade_fee/KRW/BTC",
                                  "/v2.1/order/completed_orders/all", "/v2.1/transaction/krw/history"])
def test_allow_list_admits_the_documented_paths(rsps, client, path) -> None:
    rsps.post(BASE + path, json=ok())
    assert client._private(path, {}, retry=True)["result"] == "success"
    assert len(rsps.calls) == 1


def test_client_has_no_withdrawal_method() -> None:
    assert not [name for name in dir(CoinoneClient) if "withdraw" in name.lower()]
