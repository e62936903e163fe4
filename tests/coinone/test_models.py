"""Parsers of Coinone responses: every number a Decimal, tolerant of the variants the fact sheet lists."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kairos.coinone.models import (
    KRW_TICKS, Balance, CancelResult, Candle, FeeRate, KrwTransaction, Market, Order, OrderRequest, RangeUnit, Ticker,
    TickTable, Trade, dec, integer, millis, opt_dec, parse_levels, text,
)
from kairos.errors import ProtocolError

D = Decimal


# ---- field readers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("50062000.0", D("50062000.0")),
    ("0.00155177", D("0.00155177")),
    (50062000, D(50062000)),
    (D("0.0001"), D("0.0001")),
    (0.0001, D("0.0001")),  # a JSON float that reached us as float goes through its repr, not binary
    (" 12.5 ", D("12.5")),
])
def test_dec_accepts_strings_and_numbers(value: Any, expected: Decimal) -> None:
    result = dec({"x": value}, "x", where="t")
    assert result == expected and isinstance(result, Decimal)


@pytest.mark.parametrize("value", ["abc", True, False, [], {}, "NaN", "Infinity", float("nan"), float("inf")])
def test_dec_refuses_non_numbers_with_protocol_error(value: Any) -> None:
    with pytest.raises(ProtocolError, match=r"t\.x"):
        dec({"x": value}, "x", where="t")


def test_dec_missing_and_defaults() -> None:
    with pytest.raises(ProtocolError, match="field 'x' is missing"):
        dec({}, "x", where="t")
    with pytest.raises(ProtocolError):
        dec({"x": ""}, "x", where="t")
    assert dec({"x": None}, "x", where="t", default=D(7)) == D(7)
    assert opt_dec({"x": None}, "x", where="t") is None
    assert opt_dec({"x": ""}, "x", where="t") is None
    assert opt_dec({"x": "1.5"}, "x", where="t") == D("1.5")


@pytest.mark.parametrize("value, expected", [
    (1747504992748, 1747504992748),
    ("1747504992748", 1747504992748),  # server_time as a string (ccxt 2025 recording)
    (D("8"), 8),
    ("2", 2),
])
def test_integer_accepts_numbers_and_numeric_strings(value: Any, expected: int) -> None:
    assert integer({"n": value}, "n", where="t") == expected


@pytest.mark.parametrize("value", [True, "abc", "NaN", "Infinity", [1]])
def test_integer_refuses_with_protocol_error(value: Any) -> None:
    with pytest.raises(ProtocolError, match=r"t\.n"):
        integer({"n": value}, "n", where="t")


def test_integer_missing() -> None:
    with pytest.raises(ProtocolError, match="missing"):
        integer({}, "n", where="t")
    assert integer({}, "n", where="t", default=0) == 0


@pytest.mark.parametrize("value, expected", [
    (1650525935, 1650525935000),  # 10 digits: seconds (the cancel example)
    ("1650525935", 1650525935000),
    (1680055490000, 1680055490000),  # 13 digits: milliseconds (the docs' table)
    ("1680055490000", 1680055490000),
    (None, None),
])
def test_millis_normalises_seconds_to_milliseconds(value: Any, expected: int | None) -> None:
    assert millis({"t": value}, "t", where="x") == expected


def test_text_requires_a_non_empty_string() -> None:
    assert text({"c": "krw"}, "c", where="t", upper=True) == "KRW"
    for bad in (None, "", 5):
        with pytest.raises(ProtocolError):
            text({"c": bad}, "c", where="t")


# ---- tick table ------------------------------------------------------------------------------------

@pytest.mark.parametrize("price, tick", [
    ("0.5", "0.0001"), ("1", "0.001"), ("9.999", "0.001"), ("10", "0.01"), ("999.9", "0.1"), ("1000", "1"),
    ("4999", "1"), ("5000", "5"), ("9995", "5"), ("10000", "10"), ("50000", "50"), ("100000", "100"),
    ("500000", "500"), ("999500", "500"), ("1000000", "1000"), ("150000000", "1000"),
    ("20000000000", "1000"),  # above the last range: the last tick still applies
])
def test_krw_tick_table(price: str, tick: str) -> None:
    assert KRW_TICKS.tick_for(D(price)) == D(tick)


@pytest.mark.parametrize("price, down, up, on_grid", [
    ("150012345", "150012000", "150013000", False),
    ("150012000", "150012000", "150012000", True),
    ("7777", "7775", "7780", False),
    ("0.12345", "0.1234", "0.1235", False),
    ("523.456", "523.4", "523.5", False),
])
def test_tick_rounding(price: str, down: str, up: str, on_grid: bool) -> None:
    assert KRW_TICKS.round_down(D(price)) == D(down)
    assert KRW_TICKS.round_up(D(price)) == D(up)
    assert KRW_TICKS.is_on_grid(D(price)) is on_grid


def test_tick_for_price_below_every_range_is_a_protocol_error() -> None:
    table = TickTable((RangeUnit(D(1), D(10), D("0.001")),))
    with pytest.raises(ProtocolError):
        table.tick_for(D("0.5"))


# ---- Market ----------------------------------------------------------------------------------------

MARKET = {"quote_currency": "KRW", "target_currency": "BTC", "price_unit": "100.0", "qty_unit": "0.0001",
          "max_order_amount": "1000000000.0", "max_price": "1000000000000.0", "max_qty": "100000000.0",
          "min_order_amount": "5000", "min_price": "0.0001", "min_qty": "0.00000001",
          "order_book_units": ["0.0", "10000.0", "100000.0"], "maintenance_status": 0, "trade_status": 1,
          "order_types": ["limit", "market", "stop_limit"]}


def test_market_parse_doc_example() -> None:
    m = Market.parse(MARKET)
    assert (m.quote, m.target) == ("KRW", "BTC")
    assert m.qty_unit == D("0.0001") and m.min_order_amount == D(5000) and m.max_order_amount == D("1000000000")
    assert m.min_qty == D("0.00000001") and m.max_price == D("1000000000000")
    assert m.order_types == frozenset({"LIMIT", "MARKET", "STOP_LIMIT"})


def test_market_parse_numbers_and_strings_variants() -> None:
    raw = {**MARKET, "target_currency": "eth", "qty_unit": 0.0001, "min_order_amount": 5000,
           "maintenance_status": "0", "trade_status": "1", "order_types": ["LIMIT"]}
    m = Market.parse(raw)
    assert m.target == "ETH" and m.qty_unit == D("0.0001") and m.min_order_amount == D(5000)
    assert m.maintenance_status == 0 and m.trade_status == 1 and m.order_types == frozenset({"LIMIT"})


@pytest.mark.parametrize("maintenance, trade, can_buy, can_sell", [
    (0, 1, True, True), (0, 0, False, False), (0, 2, False, True), (0, 3, True, False), (1, 1, False, False),
])
def test_market_trade_status(maintenance: int, trade: int, can_buy: bool, can_sell: bool) -> None:
    m = Market.parse({**MARKET, "maintenance_status": maintenance, "trade_status": trade})
    assert (m.can_buy, m.can_sell) == (can_buy, can_sell)


def test_market_without_qty_unit_is_refused() -> None:
    raw = dict(MARKET)
    del raw["qty_unit"]
    with pytest.raises(ProtocolError, match="qty_unit"):
        Market.parse(raw)


# ---- Ticker, levels, candles, balances, fees --------------------------------------------------------

TICKER = {"quote_currency": "krw", "target_currency": "btc", "timestamp": 1701073357818, "high": "50543000.0",
          "low": "49945000.0", "first": "50487000.0", "last": "50062000.0", "quote_volume": "11349804285.3859",
          "target_volume": "226.07268994", "best_asks": [{"price": "50081000.0", "qty": "0.18471358"}],
          "best_bids": [{"price": "50062000.0", "qty": "0.04213455"}], "id": "1701073357818001"}


def test_ticker_parse_lowercase_codes() -> None:
    t = Ticker.parse(TICKER)
    assert (t.quote, t.target) == ("KRW", "BTC")
    assert t.last == D("50062000") and t.quote_volume == D("11349804285.3859")
    assert t.best_ask is not None and t.best_ask.price == D("50081000") and t.best_ask.qty == D("0.18471358")
    assert t.mid == (D("50081000") + D("50062000")) / 2
    assert t.timestamp == 1701073357818 and t.id == "1701073357818001"


def test_ticker_without_book_uses_last_as_mid() -> None:
    t = Ticker.parse({**TICKER, "best_asks": [], "best_bids": None, "timestamp": "1701073357818"})
    assert t.best_ask is None and t.best_bid is None and t.mid == D("50062000")
    assert t.timestamp == 1701073357818


def test_ticker_without_last_is_refused() -> None:
    raw = dict(TICKER)
    del raw["last"]
    with pytest.raises(ProtocolError, match="last"):
        Ticker.parse(raw)


def test_parse_levels() -> None:
    levels = parse_levels([{"price": "75862000", "qty": "0.5"}, {"price": 75860000, "qty": 1}], where="book")
    assert [(lv.price, lv.qty) for lv in levels] == [(D(75862000), D("0.5")), (D(75860000), D(1))]
    for bad in (None, "x", [1], [{"price": "1"}]):
        with pytest.raises(ProtocolError):
            parse_levels(bad, where="book")


def test_candle_parse() -> None:
    c = Candle.parse({"timestamp": 1582253100000, "open": "15133000.0", "high": 15134000, "low": "15132000",
                      "close": "15133500.5", "target_volume": "0.0"})
    assert c.timestamp == 1582253100000 and c.high == D(15134000) and c.close == D("15133500.5")
    assert c.quote_volume == D(0)  # absent → zero


def test_balance_parse_and_total() -> None:
    b = Balance.parse({"available": "998.5", "limit": "1.5", "average_price": "100000000", "currency": "btc"})
    assert b.currency == "BTC" and b.total == D(1000) and b.average_price == D(100000000)
    krw = Balance.parse({"available": 232706745677, "currency": "KRW"})
    assert krw.limit == D(0) and krw.total == D(232706745677)


def test_fee_rate_parse() -> None:
    f = FeeRate.parse({"quote_currency": "KRW", "target_currency": "xrp", "maker": "0.002", "taker": 0.001})
    assert (f.target, f.maker, f.taker) == ("XRP", D("0.002"), D("0.001"))


# ---- orders ----------------------------------------------------------------------------------------

LIMIT_DETAIL = {"order_id": "0f1c26d0-aaaa", "type": "LIMIT", "quote_currency": "KRW", "target_currency": "BTC",
                "status": "CANCELED", "side": "BUY", "fee": "0", "fee_rate": "0.0", "average_executed_price": "0",
                "updated_at": 1680055490000, "ordered_at": 1680051059000, "price": "100000", "original_qty": "1",
                "executed_qty": "0", "canceled_qty": "1", "remain_qty": "0", "limit_price": None,
                "traded_amount": None, "original_amount": None, "canceled_amount": None, "is_triggered": None,
                "trigger_price": None}

MARKET_BUY_DETAIL = {"order_id": "mb-1", "type": "MARKET", "quote_currency": "KRW", "target_currency": "btc",
                     "status": "CANCELED_UNDER_PRODUCT_UNIT", "side": "BUY", "fee": "1999.9999",
                     "average_fee_rate": "0.002", "average_executed_price": "29959999.9",
                     "updated_at": 1680055490, "ordered_at": 1680051059, "price": None, "original_qty": None,
                     "executed_qty": "0.03337895", "canceled_qty": None, "remain_qty": None, "limit_price": "0.0001",
                     "traded_amount": "999999.963", "original_amount": "1000000", "canceled_amount": "0.0369"}


def test_order_parse_limit_detail() -> None:
    o = Order.parse(LIMIT_DETAIL)
    assert (o.type, o.side, o.target, o.status) == ("LIMIT", "BUY", "BTC", "CANCELED")
    assert o.price == D(100000) and o.original_qty == D(1) and o.canceled_qty == D(1) and o.remain_qty == D(0)
    assert o.limit_price is None and o.traded_amount is None
    assert o.ordered_at == 1680051059000 and o.updated_at == 1680055490000
    assert not o.is_open
    assert o.executed_krw == D(0)


def test_order_parse_market_buy_reads_average_fee_rate_and_second_timestamps() -> None:
    o = Order.parse(MARKET_BUY_DETAIL)
    assert o.fee_rate == D("0.002")
    assert o.target == "BTC" and o.status == "CANCELED_UNDER_PRODUCT_UNIT" and not o.is_open
    assert o.ordered_at == 1680051059000 and o.updated_at == 1680055490000  # seconds → ms
    assert (o.original_amount, o.canceled_amount) == (D(1000000), D("0.0369"))
    assert o.executed_krw == D("999999.963")
    assert o.price is None and o.remain_qty is None


def test_order_fee_rate_wins_over_average_fee_rate_and_null_falls_back() -> None:
    assert Order.parse({**MARKET_BUY_DETAIL, "fee_rate": "0.001"}).fee_rate == D("0.001")
    assert Order.parse({**MARKET_BUY_DETAIL, "fee_rate": None}).fee_rate == D("0.002")


@pytest.mark.parametrize("status, is_open", [
    ("LIVE", True), ("PARTIALLY_FILLED", True), ("NOT_TRIGGERED", True), ("TRIGGERED", True),
    ("live", True), ("FILLED", False), ("PARTIALLY_CANCELED", False), ("CANCELED_LIMIT_PRICE_EXCEED", False),
    ("CANCELED_NO_ORDER", False), ("NOT_TRIGGERED_CANCELED", False),
])
def test_order_is_open(status: str, is_open: bool) -> None:
    assert Order.parse({**LIMIT_DETAIL, "status": status}).is_open is is_open


def test_order_executed_krw_from_qty_and_average_price() -> None:
    o = Order.parse({**LIMIT_DETAIL, "status": "FILLED", "executed_qty": "0.5", "average_executed_price": "100000"})
    assert o.executed_krw == D(50000)


@pytest.mark.parametrize("missing", ["order_id", "status", "side", "type", "target_currency"])
def test_order_without_required_field_is_refused(missing: str) -> None:
    raw = dict(LIMIT_DETAIL)
    del raw[missing]
    with pytest.raises(ProtocolError, match=missing):
        Order.parse(raw)


@pytest.mark.parametrize("canceled_at, expected", [(1650525935, 1650525935000), (1650525935123, 1650525935123)])
def test_cancel_result_seconds_or_ms(canceled_at: int, expected: int) -> None:
    raw = {"result": "success", "error_code": "0", "order_id": "d85cc6af", "price": "26231000.0", "qty": "0.002",
           "remain_qty": "0.0", "side": "BUY", "original_qty": "0.005", "traded_qty": "0.003",
           "canceled_qty": "0.002", "fee": "26231.0", "fee_rate": "0.001", "avg_price": "26231000.0",
           "canceled_at": canceled_at, "ordered_at": 1650125935}
    c = CancelResult.parse(raw)
    assert c.order_id == "d85cc6af" and c.canceled_qty == D("0.002") and c.executed_qty == D("0.003")
    assert c.canceled_at == expected


def test_trade_parse() -> None:
    t = Trade.parse({"trade_id": "0e2bb80f", "order_id": "0e2b9627", "quote_currency": "KRW",
                     "target_currency": "btc", "order_type": "LIMIT", "is_ask": True, "is_maker": True,
                     "price": "8420", "qty": "1.0", "timestamp": "1659435228000", "fee_rate": "0.001",
                     "fee": "8.42", "fee_currency": "KRW"})
    assert (t.trade_id, t.order_id, t.target, t.is_ask) == ("0e2bb80f", "0e2b9627", "BTC", True)
    assert t.price == D(8420) and t.qty == D(1) and t.fee == D("8.42") and t.timestamp == 1659435228000


def test_krw_transaction_parse() -> None:
    k = KrwTransaction.parse({"id": 17, "status": "deposit_complete", "amount": "1000000", "fee": "0",
                              "type": "DEPOSIT", "transaction_type": "DEFAULT", "created_at": 1672531200000})
    assert (k.id, k.status, k.type, k.amount, k.created_at) == ("17", "DEPOSIT_COMPLETE", "DEPOSIT", D(1000000),
                                                              1672531200000)


def test_order_request_constructors() -> None:
    buy = OrderRequest.market_buy("BTC", D(10000), D("50500000"), "u-1")
    assert (buy.side, buy.type, buy.amount, buy.qty, buy.limit_price, buy.post_only) == (
        "BUY", "MARKET", D(10000), None, D("50500000"), None)
    sell = OrderRequest.market_sell("ETH", D("0.1"), None, "u-2")
    assert (sell.side, sell.type, sell.qty, sell.amount) == ("SELL", "MARKET", D("0.1"), None)
    lim = OrderRequest.limit("SELL", "XRP", D(700), D(10), "u-3")
    assert (lim.type, lim.price, lim.qty, lim.post_only) == ("LIMIT", D(700), D(10), False)
