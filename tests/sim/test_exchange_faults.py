"""Fault injection (in-process and over HTTP) and the /__sim__ admin API."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from kairos.clock import FixedClock, to_ms
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.market import MarketModel
from kairos.sim.faults import Fault
from kairos.sim.store import MemoryStore
from tests.sim.conftest import NOW, Signer, adapter_client, pair

BUY = {"side": "BUY", "type": "MARKET", "amount": "100000"}
BALANCE = "/v2.1/account/balance/all"


def test_accepted_then_dropped_order_is_found_by_user_order_id(any_client: Signer, exchange: SimExchange) -> None:
    exchange.faults.add(Fault("drop", path="/v2.1/order"))
    with pytest.raises(requests.exceptions.ConnectionError):
        any_client.post("/v2.1/order", **pair(), **BUY, user_order_id="plan1-btc-s1-a1")
    found = any_client.call("/v2.1/order/detail", **pair(), user_order_id="plan1-btc-s1-a1")
    assert found["order"]["status"] in ("FILLED", "CANCELED_UNDER_PRODUCT_UNIT")
    assert found["order"]["user_order_id"] == "plan1-btc-s1-a1"
    resent = any_client.call("/v2.1/order", **pair(), **BUY, user_order_id="plan1-btc-s1-a1")
    assert resent["error_code"] == "312"
    orders = any_client.admin("GET", "/__sim__/orders")["orders"]
    assert [o["user_order_id"] for o in orders] == ["plan1-btc-s1-a1"]


def test_drop_can_look_like_a_read_timeout(client: Signer, exchange: SimExchange) -> None:
    exchange.faults.add(Fault("drop", path="/v2.1/order", as_timeout=True))
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.post("/v2.1/order", **pair(), **BUY, user_order_id="t1")
    assert client.call("/v2.1/order/detail", **pair(), user_order_id="t1")["error_code"] == "0"


def test_timeout_in_process_does_not_place_the_order(client: Signer, exchange: SimExchange) -> None:
    exchange.faults.add(Fault("timeout", path="/v2.1/order"))
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.post("/v2.1/order", **pair(), **BUY, user_order_id="never-placed")
    assert client.call("/v2.1/order/detail", **pair(), user_order_id="never-placed")["error_code"] == "104"


def test_timeout_over_http_waits_past_the_client_timeout(http_client: Signer, exchange: SimExchange) -> None:
    exchange.faults.add(Fault("timeout", path=BALANCE, seconds=1.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        http_client.post(BALANCE, timeout=0.3)
    assert http_client.post(BALANCE).json()["result"] == "success"


def test_http_5xx_is_an_html_page_for_the_next_n_requests(any_client: Signer, exchange: SimExchange) -> None:
    exchange.faults.add(Fault("http_5xx", path="/public/v2/*", count=2, status=503))
    for _ in range(2):
        response = any_client.get("/public/v2/ticker_new/KRW/BTC")
        assert response.status_code == 503 and response.headers["Content-Type"] == "text/html"
        assert "<html>" in response.text
    assert any_client.get("/public/v2/ticker_new/KRW/BTC").json()["result"] == "success"


def test_malformed_json_and_empty_body(any_client: Signer, exchange: SimExchange) -> None:
    exchange.faults.add(Fault("malformed_json", path=BALANCE))
    exchange.faults.add(Fault("empty_body", path=BALANCE))
    broken = any_client.post(BALANCE)
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    assert any_client.post(BALANCE).content == b""
    assert any_client.post(BALANCE).json()["result"] == "success"


def test_a_processed_5xx_still_places_the_order(client: Signer, exchange: SimExchange) -> None:
    exchange.faults.add(Fault("http_5xx", path="/v2.1/order", process=True))
    assert client.post("/v2.1/order", **pair(), **BUY, user_order_id="gw-502").status_code == 502
    assert client.call("/v2.1/order/detail", **pair(), user_order_id="gw-502")["error_code"] == "0"


def test_latency_sleeps_or_times_out(model: MarketModel) -> None:
    slept: list[float] = []
    exchange = SimExchange(model, MemoryStore(), FixedClock(NOW), sleep=slept.append)
    client = adapter_client(exchange)
    exchange.faults.add(Fault("latency", path=BALANCE, count=2, seconds=0.5))
    assert client.post(BALANCE, timeout=5).json()["result"] == "success"
    assert slept == [0.5]
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.post(BALANCE, timeout=0.2)


def test_probability_faults_use_their_own_seeded_rng(model: MarketModel) -> None:
    def pattern() -> list[int]:
        exchange = SimExchange(model, MemoryStore(), FixedClock(NOW))
        exchange.faults.add(Fault("http_5xx", path="/public/v2/*", probability=0.5, seed=42))
        client = adapter_client(exchange)
        return [client.get("/public/v2/markets/KRW").status_code for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(502) < 20


def test_admin_requires_the_access_token(client: Signer) -> None:
    response = client.session.get(client.base_url + "/__sim__/orders")
    assert response.status_code == 403 and response.json()["result"] == "error"
    wrong = client.session.get(client.base_url + "/__sim__/orders", headers={"X-SIM-ADMIN": "nope"})
    assert wrong.status_code == 403


def test_admin_faults_add_list_clear(any_client: Signer) -> None:
    added = any_client.admin("POST", "/__sim__/faults", {"kind": "http_5xx", "path": "/public/v2/*", "count": 1})
    assert added["faults"][0]["kind"] == "http_5xx"
    assert any_client.admin("POST", "/__sim__/faults", {"kind": "bogus"})["error_code"] == "107"
    assert any_client.admin("POST", "/__sim__/faults", {"clear": True})["faults"] == []
    assert any_client.get("/public/v2/markets/KRW").status_code == 200


def test_admin_clock_moves_a_fixed_clock(client: Signer, clock: FixedClock) -> None:
    assert client.admin("GET", "/__sim__/clock")["now_ms"] == to_ms(NOW)
    moved = client.admin("POST", "/__sim__/clock", {"advance_seconds": 900})
    assert moved["now_ms"] == to_ms(NOW + timedelta(minutes=15)) == to_ms(clock.now())
    assert client.admin("POST", "/__sim__/clock", {"now_ms": to_ms(NOW)})["now_ms"] == to_ms(NOW)
    assert client.admin("POST", "/__sim__/clock", {})["error_code"] == "107"


def test_admin_coin_deposit_and_listings(client: Signer) -> None:
    answer = client.admin("POST", "/__sim__/deposit", {"currency": "eth", "amount": "2", "average_price": "4000000"})
    assert answer["balance"] == {"available": "2", "limit": "0", "average_price": "4000000", "currency": "ETH"}
    client.call("/v2.1/order", **pair("ETH"), side="SELL", type="MARKET", qty="1")
    fills = client.admin("GET", "/__sim__/fills")["fills"]
    assert fills and all(f["is_ask"] for f in fills)
    balances = {b["currency"]: b for b in client.admin("GET", "/__sim__/balances")["balances"]}
    assert balances["ETH"]["available"] == "1"
    assert client.admin("POST", "/__sim__/deposit", {"currency": "KRW", "amount": "-5"})["error_code"] == "107"


def test_admin_paths_are_not_coinone_paths(model: MarketModel) -> None:
    exchange = SimExchange(model, MemoryStore(), FixedClock(NOW), config=SimConfig(access_token="other-token"))
    client = adapter_client(exchange)
    response = client.session.get(client.base_url + "/__sim__/clock", headers={"X-SIM-ADMIN": "other-token"})
    assert response.json()["now_ms"] == to_ms(NOW)
    assert client.session.get(client.base_url + "/__sim__/nothing").status_code == 404


# ---- exchange-side faults: an order accepted late, an order held open ------------------------------
def test_late_order_is_not_found_until_the_exchange_clock_passes_its_delay(any_client: Signer, exchange: SimExchange,
                                                                        clock: FixedClock) -> None:
    exchange.faults.add(Fault("late", path="/v2.1/order", seconds=90))
    with pytest.raises(requests.exceptions.ConnectionError):
        any_client.post("/v2.1/order", **pair(), **BUY, user_order_id="late-btc-s000-a1")
    clock.advance(seconds=89)
    assert any_client.call("/v2.1/order/detail", **pair(), user_order_id="late-btc-s000-a1")["error_code"] == "104"
    clock.advance(seconds=1)
    found = any_client.call("/v2.1/order/detail", **pair(), user_order_id="late-btc-s000-a1")
    assert found["error_code"] == "0" and found["order"]["status"] in ("FILLED", "CANCELED_UNDER_PRODUCT_UNIT")
    assert found["order"]["ordered_at"] == to_ms(clock.now())  # placed when it was accepted, not when it was sent
    assert [o["user_order_id"] for o in any_client.admin("GET", "/__sim__/orders")["orders"]] == ["late-btc-s000-a1"]


def test_rest_keeps_a_market_order_open_until_canceled_or_its_time(client: Signer, exchange: SimExchange,
                                                                   clock: FixedClock) -> None:
    exchange.faults.add(Fault("rest", path="/v2.1/order", seconds=3600, count=2))
    held = client.call("/v2.1/order", **pair(), **BUY, user_order_id="rest-1")["order_id"]
    later = client.call("/v2.1/order", **pair(), **BUY, user_order_id="rest-2")["order_id"]
    detail = client.call("/v2.1/order/detail", **pair(), order_id=held)["order"]
    assert detail["status"] == "LIVE" and detail["executed_qty"] == "0"
    assert {r["order_id"] for r in client.call("/v2.1/order/active_orders")["active_orders"]} == {held, later}
    canceled = client.call("/v2.1/order/cancel", **pair(), order_id=held)
    assert canceled["error_code"] == "0"
    after = client.call("/v2.1/order/detail", **pair(), order_id=held)["order"]
    assert after["status"] == "CANCELED" and after["canceled_amount"] == "100000"
    clock.advance(seconds=3600)
    filled = client.call("/v2.1/order/detail", **pair(), order_id=later)["order"]
    assert filled["status"] in ("FILLED", "CANCELED_UNDER_PRODUCT_UNIT") and filled["executed_qty"] != "0"


def test_user_order_id_echo_can_be_turned_off(model: MarketModel, clock: FixedClock) -> None:
    app = SimExchange(model, MemoryStore(), clock, config=SimConfig(echo_user_order_id=False))
    client = adapter_client(app)
    order_id = client.call("/v2.1/order", **pair(), **BUY, user_order_id="quiet-1")["order_id"]
    detail = client.call("/v2.1/order/detail", **pair(), order_id=order_id)["order"]
    assert "user_order_id" not in detail and detail["order_id"] == order_id
