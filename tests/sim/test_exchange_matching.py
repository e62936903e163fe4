"""Matching: market and limit orders against the model's book, lazy fills, balances and the order views."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kairos.clock import FixedClock, to_ms
from kairos.money import round_down
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.market import MarketModel
from kairos.sim.store import MemoryStore
from tests.sim.conftest import NOW, Signer, adapter_client, pair

NOW_MS = to_ms(NOW)
RATE = Decimal("0.002")
STEP = Decimal("0.0001")


def place(client: Signer, target: str = "BTC", **fields: Any) -> str:
    answer = client.call("/v2.1/order", **pair(target), **fields)
    assert answer["error_code"] == "0", answer
    return answer["order_id"]


def detail(client: Signer, target: str = "BTC", **key: str) -> dict[str, Any]:
    answer = client.call("/v2.1/order/detail", **pair(target), **key)
    assert answer["error_code"] == "0", answer
    return answer["order"]


def balances(client: Signer) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    rows = client.call("/v2.1/account/balance/all")["balances"]
    return {r["currency"]: (Decimal(r["available"]), Decimal(r["limit"]), Decimal(r["average_price"])) for r in rows}


def fee(notional: Decimal) -> Decimal:
    return round_down(notional * RATE, STEP)


def fills(client: Signer, target: str | None = None, **extra: Any) -> list[dict[str, Any]]:
    window = {"size": 100, "from_ts": NOW_MS - 86_400_000, "to_ts": NOW_MS, **extra}
    if target is None:
        answer = client.call("/v2.1/order/completed_orders/all", **window)
    else:
        answer = client.call("/v2.1/order/completed_orders", **pair(target), **window)
    assert answer["error_code"] == "0", answer
    return answer["completed_orders"]


def test_market_buy_with_limit_price_stops_and_refunds(client: Signer, model: MarketModel) -> None:
    (ask0, qty0), (ask1, _) = model.book("ETC", NOW_MS, levels=2)[1][:2]
    order_id = place(client, "ETC", side="BUY", type="MARKET", amount="5000000", limit_price=str(ask0))
    order = detail(client, "ETC", order_id=order_id)
    traded = ask0 * qty0
    assert order["status"] == "CANCELED_LIMIT_PRICE_EXCEED"
    assert Decimal(order["executed_qty"]) == qty0 and Decimal(order["traded_amount"]) == traded
    assert Decimal(order["canceled_amount"]) == Decimal("5000000") - traded
    assert Decimal(order["original_amount"]) == Decimal("5000000") and order["limit_price"] == str(ask0)
    assert Decimal(order["fee"]) == fee(traded)
    krw, etc = balances(client)["KRW"], balances(client)["ETC"]
    assert krw == (Decimal("10000000") - traded - fee(traded), 0, 0)
    assert etc == (qty0, 0, ask0)


def test_market_buy_walks_the_book(client: Signer, model: MarketModel) -> None:
    asks = model.book("ETC", NOW_MS, levels=3)[1]
    amount = asks[0][0] * asks[0][1] + asks[1][0] * asks[1][1] / 2  # all of the touch, half of the next level
    order = detail(client, "ETC", order_id=place(client, "ETC", side="BUY", type="MARKET", amount=str(amount)))
    rows = fills(client, "ETC")
    assert [Decimal(r["price"]) for r in reversed(rows)] == [asks[0][0], asks[1][0]]
    assert Decimal(order["average_executed_price"]) > asks[0][0]
    assert all(r["is_maker"] is False and r["is_ask"] is False and r["fee_currency"] == "KRW" for r in rows)
    assert order["status"] in ("CANCELED_UNDER_PRODUCT_UNIT", "FILLED")
    assert Decimal(order["canceled_amount"]) < asks[1][0] * STEP


def test_fully_spent_market_buy_under_product_unit(client: Signer, model: MarketModel) -> None:
    ask, _ = model.book("BTC", NOW_MS, levels=1)[1][0]
    order = detail(client, order_id=place(client, side="BUY", type="MARKET", amount="1000000"))
    executed = round_down(Decimal("1000000") / ask, STEP)
    assert order["status"] == "CANCELED_UNDER_PRODUCT_UNIT"
    assert Decimal(order["executed_qty"]) == executed
    assert Decimal(order["traded_amount"]) + Decimal(order["canceled_amount"]) == Decimal("1000000")
    assert order["price"] is None and order["original_qty"] is None and order["remain_qty"] is None
    assert order["fee_rate"] == "0.002" and order["trigger_price"] is None and order["is_triggered"] is None


def test_exactly_spent_market_buy_is_filled(client: Signer, model: MarketModel) -> None:
    ask, _ = model.book("XRP", NOW_MS, levels=1)[1][0]
    order = detail(client, "XRP", order_id=place(client, "XRP", side="BUY", type="MARKET", amount=str(ask * 10)))
    assert order["status"] == "FILLED" and order["executed_qty"] == "10" and order["canceled_amount"] == "0"


def test_market_buy_with_an_exhausted_book_is_canceled_no_order(model: MarketModel) -> None:
    exchange = SimExchange(model, MemoryStore(), FixedClock(NOW), config=SimConfig(match_levels=2))
    client = adapter_client(exchange)
    order = detail(client, "ETC", order_id=place(client, "ETC", side="BUY", type="MARKET", amount="9000000"))
    assert order["status"] == "CANCELED_NO_ORDER" and Decimal(order["canceled_amount"]) > 0


def test_market_sell_and_floor(client: Signer, model: MarketModel) -> None:
    place(client, "XRP", side="BUY", type="MARKET", amount="50000")  # small enough to sell at the touch bid
    held = balances(client)["XRP"][0]
    (bid, _), = model.book("XRP", NOW_MS, levels=1)[0]
    refused = detail(client, "XRP", order_id=place(client, "XRP", side="SELL", type="MARKET", qty=str(held),
                                                  limit_price=str(bid + 1)))
    assert refused["status"] == "CANCELED_LIMIT_PRICE_EXCEED" and refused["executed_qty"] == "0"
    assert Decimal(refused["canceled_qty"]) == held and balances(client)["XRP"][:2] == (held, 0)
    krw_before = balances(client)["KRW"][0]
    sold = detail(client, "XRP", order_id=place(client, "XRP", side="SELL", type="MARKET", qty=str(held)))
    assert sold["status"] == "FILLED" and Decimal(sold["executed_qty"]) == held
    assert sold["traded_amount"] is None and sold["price"] is None and sold["limit_price"] == "0.0001"
    notional = bid * held
    assert balances(client)["KRW"][0] == krw_before + notional - fee(notional)
    assert "XRP" in balances(client) and balances(client)["XRP"] == (0, 0, 0)
    assert fills(client, "XRP")[0]["is_ask"] is True


def test_post_only_limit_that_would_cross_is_canceled(client: Signer, model: MarketModel) -> None:
    ask, _ = model.book("BTC", NOW_MS, levels=1)[1][0]
    order = detail(client, order_id=place(client, side="BUY", type="LIMIT", price=str(ask), qty="0.01",
                                          post_only=True))
    assert order["status"] == "CANCELED" and order["canceled_qty"] == "0.01" and order["executed_qty"] == "0"
    assert balances(client)["KRW"] == (Decimal("10000000"), 0, 0)


def test_post_only_cross_can_be_an_error(model: MarketModel) -> None:
    client = adapter_client(SimExchange(model, MemoryStore(), FixedClock(NOW),
                                        config=SimConfig(post_only_cross="error")))
    ask, _ = model.book("BTC", NOW_MS, levels=1)[1][0]
    answer = client.call("/v2.1/order", **pair(), side="BUY", type="LIMIT", price=str(ask), qty="0.01", post_only=True)
    assert answer["error_code"] == "300"


def test_resting_limit_locks_and_cancel_releases(client: Signer, model: MarketModel) -> None:
    bid, _ = model.book("BTC", NOW_MS, levels=1)[0][0]
    price = bid - 50_000
    order_id = place(client, side="BUY", type="LIMIT", price=str(price), qty="0.05", post_only=True,
                     user_order_id="rest-1")
    lock = price * Decimal("0.05")
    assert balances(client)["KRW"] == (Decimal("10000000") - lock, lock, 0)
    order = detail(client, user_order_id="rest-1")
    assert order["status"] == "LIVE" and order["remain_qty"] == "0.05" and order["limit_price"] is None
    assert order["traded_amount"] is None and order["user_order_id"] == "rest-1"
    (active,) = client.call("/v2.1/order/active_orders", **pair())["active_orders"]
    assert active["order_id"] == order_id and active["remain_qty"] == "0.05"
    canceled = client.call("/v2.1/order/cancel", **pair(), user_order_id="rest-1")
    assert canceled["qty"] == "0.05" and canceled["canceled_qty"] == "0.05" and canceled["traded_qty"] == "0"
    assert isinstance(canceled["canceled_at"], int) and canceled["canceled_at"] >= canceled["ordered_at"]
    assert detail(client, order_id=order_id)["status"] == "CANCELED"
    assert balances(client)["KRW"] == (Decimal("10000000"), 0, 0)
    assert client.call("/v2.1/order/active_orders")["active_orders"] == []
    assert client.call("/v2.1/order/cancel", **pair(), order_id=order_id)["error_code"] == "117"


def test_crossing_limit_fills_at_book_prices_then_rests(client: Signer, model: MarketModel) -> None:
    (a0, q0), (a1, q1) = model.book("ETC", NOW_MS, levels=2)[1][:2]
    qty = q0 + q1 + 10
    order_id = place(client, "ETC", side="BUY", type="LIMIT", price=str(a1), qty=str(qty), post_only=False)
    order = detail(client, "ETC", order_id=order_id)
    assert order["status"] == "PARTIALLY_FILLED" and Decimal(order["executed_qty"]) == q0 + q1
    assert Decimal(order["remain_qty"]) == 10
    traded = a0 * q0 + a1 * q1
    krw = balances(client)["KRW"]
    assert krw[1] == a1 * 10
    assert krw[0] == Decimal("10000000") - traded - a1 * 10 - fee(a0 * q0) - fee(a1 * q1)
    canceled = client.call("/v2.1/order/cancel", **pair("ETC"), order_id=order_id)
    assert canceled["qty"] == "10" and Decimal(canceled["traded_qty"]) == q0 + q1
    assert detail(client, "ETC", order_id=order_id)["status"] == "PARTIALLY_CANCELED"
    assert balances(client)["KRW"][1] == 0


def first_trade_through(model: MarketModel, coin: str, price: Decimal, start_ms: int) -> int:
    """Open time of the first complete 1m candle after `start_ms` whose low is below `price`."""
    candles, _ = model.candles(coin, "1m", start_ms + 500 * 60_000, size=500)
    for candle in reversed(candles):
        if candle["timestamp"] >= start_ms and candle["low"] < price:
            return candle["timestamp"]
    raise AssertionError("the model never traded through the price in 500 minutes")


def test_resting_limit_fills_lazily_when_the_market_trades_through(client: Signer, clock: FixedClock, model: MarketModel) -> None:
    bid, _ = model.book("ETH", NOW_MS, levels=1)[0][0]
    price = bid - 2000
    order_id = place(client, "ETH", side="BUY", type="LIMIT", price=str(price), qty="0.1", post_only=True)
    crossing = first_trade_through(model, "ETH", price, NOW_MS)
    clock.set(NOW.fromtimestamp(crossing / 1000 - 30, tz=NOW.tzinfo))
    assert detail(client, "ETH", order_id=order_id)["status"] == "LIVE"
    clock.advance(minutes=2)
    order = detail(client, "ETH", order_id=order_id)
    assert order["status"] == "FILLED" and order["executed_qty"] == "0.1" and order["remain_qty"] == "0"
    assert Decimal(order["average_executed_price"]) == price
    (row,) = client.call("/v2.1/order/completed_orders", **pair("ETH"), size=10, from_ts=NOW_MS,
                         to_ts=to_ms(clock.now()))["completed_orders"]
    assert row["is_maker"] is True and Decimal(row["price"]) == price and row["order_type"] == "LIMIT"
    assert balances(client)["ETH"] == (Decimal("0.1"), 0, price)
    assert balances(client)["KRW"] == (Decimal("10000000") - price / 10 - fee(price / 10), 0, 0)
    assert client.call("/v2.1/order/active_orders")["active_orders"] == []
    assert client.call("/v2.1/order/cancel", **pair("ETH"), order_id=order_id)["error_code"] == "116"


def test_average_price_is_the_weighted_buy_average(client: Signer, clock: FixedClock, model: MarketModel) -> None:
    place(client, "XRP", side="BUY", type="MARKET", amount="50000")
    first_qty, _, first_avg = balances(client)["XRP"]
    clock.advance(days=3)
    place(client, "XRP", side="BUY", type="MARKET", amount="50000")  # within the touch both times
    qty, _, avg = balances(client)["XRP"]
    second_avg = model.book("XRP", to_ms(clock.now()), levels=1)[1][0][0]
    expected = (first_qty * first_avg + (qty - first_qty) * second_avg) / qty
    assert abs(avg - expected) <= STEP


def test_active_orders_never_list_market_orders_and_filter_by_type(client: Signer, model: MarketModel) -> None:
    bid, _ = model.book("BTC", NOW_MS, levels=1)[0][0]
    place(client, side="BUY", type="MARKET", amount="100000")
    place(client, side="BUY", type="LIMIT", price=str(bid - 100_000), qty="0.01", post_only=False)
    place(client, side="BUY", type="STOP_LIMIT", price=str(bid + 500_000), qty="0.01",
          trigger_price=str(bid + 400_000))
    rows = client.call("/v2.1/order/active_orders")["active_orders"]
    assert [r["type"] for r in rows] == ["STOP_LIMIT", "LIMIT"]  # newest first
    assert rows[0]["is_triggered"] is False and rows[1]["is_triggered"] is None
    only_limit = client.call("/v2.1/order/active_orders", order_type=["LIMIT"])["active_orders"]
    assert [r["type"] for r in only_limit] == ["LIMIT"]
    assert client.call("/v2.1/order/active_orders", **pair("ETH"))["active_orders"] == []


def test_stop_limit_cancel_before_trigger(client: Signer, model: MarketModel) -> None:
    bid, _ = model.book("BTC", NOW_MS, levels=1)[0][0]
    order_id = place(client, side="BUY", type="STOP_LIMIT", price=str(bid + 500_000), qty="0.01",
                     trigger_price=str(bid + 400_000))
    order = detail(client, order_id=order_id)
    assert order["status"] == "NOT_TRIGGERED" and order["trigger_price"] == str(bid + 400_000)
    client.call("/v2.1/order/cancel", **pair(), order_id=order_id)
    assert detail(client, order_id=order_id)["status"] == "NOT_TRIGGERED_CANCELED"


def test_cancel_all_in_one_market(client: Signer, model: MarketModel) -> None:
    bid, _ = model.book("BTC", NOW_MS, levels=1)[0][0]
    for k in range(2):
        place(client, side="BUY", type="LIMIT", price=str(bid - 100_000 * (k + 1)), qty="0.01", post_only=True)
    answer = client.call("/v2.1/order/cancel/all", **pair())
    assert (answer["canceled_count"], answer["total_order_count"]) == (2, 2)
    assert balances(client)["KRW"] == (Decimal("10000000"), 0, 0)


def test_completed_orders_rows_paging_and_window_rules(client: Signer, clock: FixedClock) -> None:
    for _ in range(3):
        place(client, "XRP", side="BUY", type="MARKET", amount="20000")  # within the touch: one fill each
        clock.advance(minutes=1)
    now = to_ms(clock.now())
    rows = fills(client, to_ts=now)
    assert len(rows) == 3 and [r["timestamp"] for r in rows] == sorted((r["timestamp"] for r in rows), reverse=True)
    assert fills(client, to_ts=now, size=1, to_trade_id=rows[0]["trade_id"])[0]["trade_id"] == rows[1]["trade_id"]
    assert fills(client, "BTC", to_ts=now) == []
    base = {"from_ts": NOW_MS, "to_ts": now}
    path = "/v2.1/order/completed_orders/all"
    for size in (0, 101, "ten", None):
        assert client.call(path, **{**base, "size": size})["error_code"] == "317"
    for window in ({"from_ts": now, "to_ts": NOW_MS}, {"from_ts": NOW_MS, "to_ts": now + 3_600_000},
                   {"from_ts": now - 91 * 86_400_000, "to_ts": now}, {"from_ts": NOW_MS}):
        assert client.call(path, size=10, **window)["error_code"] == "316"


def test_krw_history_lists_the_initial_and_admin_deposits(client: Signer, clock: FixedClock) -> None:
    clock.advance(minutes=5)
    deposit = client.admin("POST", "/__sim__/deposit", {"currency": "KRW", "amount": "2500000"})
    assert deposit["result"] == "success"
    rows = client.call("/v2.1/transaction/krw/history", size=10, from_ts=NOW_MS - 1000,
                       to_ts=to_ms(clock.now()))["transactions"]
    assert [(r["amount"], r["status"], r["type"]) for r in rows] == [
        ("2500000", "DEPOSIT_COMPLETE", "DEPOSIT"), ("10000000", "DEPOSIT_COMPLETE", "DEPOSIT")]
    assert balances(client)["KRW"][0] == Decimal("12500000")
    withdrawals = client.call("/v2.1/transaction/krw/history", size=10, from_ts=NOW_MS - 1000,
                              to_ts=to_ms(clock.now()), is_deposit=False)["transactions"]
    assert withdrawals == []


def test_balance_by_currencies_and_trade_fee(client: Signer) -> None:
    rows = client.call("/v2.1/account/balance", currencies=["btc", "KRW"])["balances"]
    assert [(r["currency"], r["available"]) for r in rows] == [("BTC", "0"), ("KRW", "10000000")]
    assert client.call("/v2.1/account/balance", currencies=["NOPE"])["error_code"] == "108"
    (one,) = client.call("/v2.1/account/trade_fee/KRW/BTC")["fee_rates"]
    assert one == {"quote_currency": "KRW", "target_currency": "BTC", "maker": "0.002", "taker": "0.002"}
    assert len(client.call("/v2.1/account/trade_fee")["fee_rates"]) > 1


@pytest.mark.parametrize("maker, taker", [("0.001", "0.0025")])
def test_fee_rates_are_configurable(model: MarketModel, maker: str, taker: str) -> None:
    config = SimConfig(maker_fee=Decimal(maker), taker_fee=Decimal(taker))
    client = adapter_client(SimExchange(model, MemoryStore(), FixedClock(NOW), config=config))
    order = detail(client, "XRP", order_id=place(client, "XRP", side="BUY", type="MARKET", amount="100000"))
    assert order["fee_rate"] == taker
    assert Decimal(order["fee"]) == round_down(Decimal(order["traded_amount"]) * Decimal(taker), STEP)


def first_trade_at_or_above(model: MarketModel, coin: str, price: Decimal, start_ms: int) -> int:
    candles, _ = model.candles(coin, "1m", start_ms + 500 * 60_000, size=500)
    for candle in reversed(candles):
        if candle["timestamp"] >= start_ms and candle["high"] >= price:
            return candle["timestamp"]
    raise AssertionError("the model never reached the price in 500 minutes")


def test_stop_limit_triggers_then_fills_as_a_taker(client: Signer, clock: FixedClock, model: MarketModel) -> None:
    last = model.price("ETH", NOW_MS)
    trigger, limit = last + 5000, last + 100_000
    order_id = place(client, "ETH", side="BUY", type="STOP_LIMIT", price=str(limit), qty="0.1",
                     trigger_price=str(trigger))
    krw = balances(client)["KRW"]
    assert krw[1] == limit / 10
    reached = first_trade_at_or_above(model, "ETH", trigger, NOW_MS + 60_000)
    clock.set(NOW.fromtimestamp(reached / 1000 + 90, tz=NOW.tzinfo))
    order = detail(client, "ETH", order_id=order_id)
    assert order["status"] == "FILLED" and order["is_triggered"] is True
    assert Decimal(order["average_executed_price"]) <= limit
    assert balances(client)["KRW"][1] == 0
    rows = client.call("/v2.1/order/completed_orders", **pair("ETH"), size=10, from_ts=NOW_MS,
                       to_ts=to_ms(clock.now()))["completed_orders"]
    assert rows and all(r["is_maker"] is False and r["order_type"] == "STOP_LIMIT" for r in rows)
