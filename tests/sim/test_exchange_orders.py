"""Order acceptance: every refusal code of fact sheet §3.3, §4 and §6, in the documented shapes."""
from __future__ import annotations

from typing import Any

import pytest

from kairos.clock import FixedClock, to_ms
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.market import MarketModel
from kairos.sim.store import MemoryStore
from tests.sim.conftest import NOW, Signer, adapter_client, pair

LIMIT_BUY = {"side": "BUY", "type": "LIMIT", "price": "1000000", "qty": "0.01", "post_only": True}


def place(client: Signer, target: str = "BTC", **fields: Any) -> dict[str, Any]:
    return client.call("/v2.1/order", **pair(target), **fields)


def code(client: Signer, target: str = "BTC", **fields: Any) -> str:
    return place(client, target, **fields)["error_code"]


def exchange_with(model: MarketModel, clock: FixedClock, **settings: Any) -> Signer:
    return adapter_client(SimExchange(model, MemoryStore(), clock, config=SimConfig(**settings)))


@pytest.mark.parametrize("fields, expected", [
    ({"side": "BUY", "type": "limit", "price": "1000000", "qty": "0.01", "post_only": False}, "166"),
    ({"side": "BUY", "price": "1000000", "qty": "0.01", "post_only": False}, "166"),
    ({"side": "BUY", "type": "STOP", "price": "1000000", "qty": "0.01"}, "166"),
    ({"side": "BUY", "type": "LIMIT", "qty": "0.01", "post_only": False}, "161"),
    ({"side": "BUY", "type": "LIMIT", "price": "1000000", "post_only": False}, "162"),
    ({"side": "BUY", "type": "LIMIT", "price": "1000000", "qty": "0.01"}, "163"),
    ({"side": "BUY", "type": "STOP_LIMIT", "qty": "0.01", "trigger_price": "1000000"}, "161"),
    ({"side": "BUY", "type": "STOP_LIMIT", "price": "1000000", "qty": "0.01"}, "164"),
    ({"side": "BUY", "type": "MARKET"}, "165"),
    ({"side": "BUY", "type": "MARKET", "qty": "0.01"}, "165"),
    ({"side": "SELL", "type": "MARKET", "amount": "10000"}, "162"),
    ({"side": "buy", "type": "MARKET", "amount": "10000"}, "107"),
    ({"side": "BUY", "type": "MARKET", "amount": "lots"}, "107"),
    ({"side": "BUY", "type": "LIMIT", "price": "1000000", "qty": "0.01", "post_only": "yes"}, "107"),
])
def test_field_matrix(client: Signer, fields: dict[str, Any], expected: str) -> None:
    assert code(client, **fields) == expected


def test_unknown_coin_108_unknown_pair_109(client: Signer) -> None:
    assert code(client, "NOPE", **LIMIT_BUY) == "108"
    answer = client.call("/v2.1/order", quote_currency="USDT", target_currency="BTC", **LIMIT_BUY)
    assert answer["error_code"] == "109"


def test_market_under_maintenance_is_405(model: MarketModel, clock: FixedClock) -> None:
    client = exchange_with(model, clock, maintenance_status={"BTC": 1})
    assert code(client, side="BUY", type="MARKET", amount="10000") == "405"
    assert code(client, "ETH", side="BUY", type="MARKET", amount="10000") == "0"


def test_trade_status_blocks_one_side(model: MarketModel, clock: FixedClock) -> None:
    client = exchange_with(model, clock, trade_status={"BTC": 2, "ETH": 3})
    assert code(client, side="BUY", type="MARKET", amount="10000") == "405"
    assert code(client, side="SELL", type="MARKET", qty="0.01") == "103"  # allowed side, no coin
    assert code(client, "ETH", side="SELL", type="MARKET", qty="0.01") == "405"


def test_maintenance_code_is_configurable_and_settable_by_admin(model: MarketModel, clock: FixedClock) -> None:
    client = exchange_with(model, clock, maintenance_error_code="300")
    client.admin("POST", "/__sim__/markets", {"target_currency": "btc", "maintenance_status": 1})
    assert code(client, side="BUY", type="MARKET", amount="10000") == "300"


def test_price_off_the_tick_grid_is_310(client: Signer) -> None:
    assert code(client, **{**LIMIT_BUY, "price": "1000500"}) == "310"
    assert code(client, "XRP", **{**LIMIT_BUY, "price": "3000.5", "qty": "10"}) == "310"
    assert code(client, side="BUY", type="MARKET", amount="10000", limit_price="1000500") == "310"


@pytest.mark.parametrize("price", ["0", "-1000", "2000000000000"])
def test_price_out_of_range_is_308(client: Signer, price: str) -> None:
    assert code(client, **{**LIMIT_BUY, "price": price}) == "308"


def test_qty_out_of_range_is_309_after_truncation(client: Signer) -> None:
    assert code(client, **{**LIMIT_BUY, "qty": "0.00009"}) == "309"
    assert code(client, **{**LIMIT_BUY, "qty": "100000001"}) == "309"


def test_qty_finer_than_the_unit_is_truncated(client: Signer) -> None:
    order_id = place(client, **{**LIMIT_BUY, "qty": "0.01239"})["order_id"]
    order = client.call("/v2.1/order/detail", **pair(), order_id=order_id)["order"]
    assert order["original_qty"] == "0.0123"


def test_notional_below_minimum_306_and_above_maximum_307(client: Signer) -> None:
    assert code(client, **{**LIMIT_BUY, "qty": "0.0049"}) == "306"
    assert code(client, side="BUY", type="MARKET", amount="4999.9999") == "306"
    assert code(client, side="BUY", type="MARKET", amount="1000000000.0001") == "307"
    assert code(client, **{**LIMIT_BUY, "price": "100000000000", "qty": "0.1"}) == "307"


def test_market_sell_notional_uses_the_best_bid(client: Signer) -> None:
    assert code(client, "XRP", side="SELL", type="MARKET", qty="1") == "306"


def test_lack_of_balance_is_103(client: Signer) -> None:
    assert code(client, side="BUY", type="MARKET", amount="20000000") == "103"
    assert code(client, side="SELL", type="MARKET", qty="1") == "103"
    assert code(client, **{**LIMIT_BUY, "qty": "10.1"}) == "103"


def test_buy_keeps_the_fee_free(client: Signer) -> None:
    """Fees are charged from KRW outside the lock, so a buy of the whole balance is refused."""
    assert code(client, side="BUY", type="MARKET", amount="10000000") == "103"
    assert code(client, side="BUY", type="MARKET", amount="9980000") == "0"


@pytest.mark.parametrize("user_order_id", ["Upper-case", "has space", "x" * 151, "semi;colon", ""])
def test_bad_user_order_id_is_314(client: Signer, user_order_id: str) -> None:
    assert code(client, **LIMIT_BUY, user_order_id=user_order_id) == "314"


def test_user_order_id_charset_and_length_limit(client: Signer) -> None:
    assert code(client, **LIMIT_BUY, user_order_id="a" * 150) == "0"
    assert code(client, **LIMIT_BUY, user_order_id="plan-1_btc.slice-2") == "0"


def test_reused_user_order_id_is_312_on_any_pair(client: Signer) -> None:
    assert code(client, **LIMIT_BUY, user_order_id="p1-s1") == "0"
    assert code(client, **LIMIT_BUY, user_order_id="p1-s1") == "312"
    assert code(client, "ETH", side="BUY", type="MARKET", amount="10000", user_order_id="p1-s1") == "312"


def test_rejected_order_does_not_consume_its_user_order_id(client: Signer) -> None:
    assert code(client, side="BUY", type="MARKET", amount="100", user_order_id="retry-me") == "306"
    assert code(client, side="BUY", type="MARKET", amount="10000", user_order_id="retry-me") == "0"


def test_rejected_order_consumes_its_user_order_id_when_configured(model: MarketModel, clock: FixedClock) -> None:
    client = exchange_with(model, clock, rejected_consumes_user_order_id=True)
    assert code(client, side="BUY", type="MARKET", amount="100", user_order_id="once") == "306"
    assert code(client, side="BUY", type="MARKET", amount="10000", user_order_id="once") == "312"


def test_detail_and_cancel_need_exactly_one_key_313(client: Signer) -> None:
    order_id = place(client, **LIMIT_BUY, user_order_id="k1")["order_id"]
    for path in ("/v2.1/order/detail", "/v2.1/order/cancel"):
        assert client.call(path, **pair(), order_id=order_id, user_order_id="k1")["error_code"] == "313"
        assert client.call(path, **pair())["error_code"] == "313"


def test_unknown_order_is_104(client: Signer) -> None:
    place(client, **LIMIT_BUY, user_order_id="on-btc")
    missing = "00000000-0000-4000-8000-000000000000"
    assert client.call("/v2.1/order/detail", **pair(), order_id=missing)["error_code"] == "104"
    assert client.call("/v2.1/order/cancel", **pair(), order_id=missing)["error_code"] == "104"
    assert client.call("/v2.1/order/detail", **pair("ETH"), user_order_id="on-btc")["error_code"] == "104"
    assert client.call("/v2.1/order/detail", **pair(), user_order_id="never")["error_code"] == "104"


def test_order_response_is_only_the_id(client: Signer) -> None:
    answer = place(client, **LIMIT_BUY)
    assert set(answer) == {"result", "error_code", "order_id"}
    assert len(answer["order_id"]) == 36


def test_stop_limit_trigger_equal_to_price_is_167(client: Signer, model: MarketModel) -> None:
    last = model.price("BTC", to_ms(NOW))
    answer = place(client, side="BUY", type="STOP_LIMIT", price=str(last), qty="0.01", trigger_price=str(last))
    assert answer["error_code"] == "167"


def test_amount_is_truncated_to_0_0001_krw(client: Signer) -> None:
    order_id = place(client, side="BUY", type="MARKET", amount="10000.123456")["order_id"]
    order = client.call("/v2.1/order/detail", **pair(), order_id=order_id)["order"]
    assert order["original_amount"] == "10000.1234"
