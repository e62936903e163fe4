"""Public v2 endpoints: envelopes, types (strings vs ints), case, paging and error codes (fact sheet §2)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from kairos.clock import FixedClock, to_ms
from kairos.coinone.models import KRW_TICKS
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.market import MarketModel
from kairos.sim.store import MemoryStore
from tests.sim.conftest import NOW, Signer, adapter_client

NOW_MS = to_ms(NOW)


def get(client: Signer, path: str, **query: object) -> dict:
    response = client.get(path, **query)
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_markets_all_and_one(any_client: Signer, model: MarketModel) -> None:
    every = get(any_client, "/public/v2/markets/KRW")
    assert every["result"] == "success" and every["error_code"] == "0" and every["server_time"] == NOW_MS
    assert [m["target_currency"] for m in every["markets"]] == list(model.coins)
    one = get(any_client, "/public/v2/markets/krw/btc")["markets"]
    assert len(one) == 1
    btc = one[0]
    assert btc["quote_currency"] == "KRW" and btc["target_currency"] == "BTC"
    assert btc["qty_unit"] == "0.0001" and btc["min_order_amount"] == "5000"
    assert btc["max_order_amount"] == "1000000000"
    assert btc["maintenance_status"] == 0 and btc["trade_status"] == 1
    assert {"limit", "market"} <= set(btc["order_types"])
    assert all(isinstance(btc[k], str) for k in ("price_unit", "max_price", "min_price", "min_qty", "max_qty"))


def test_market_status_overrides_show_in_markets(model: MarketModel, clock: FixedClock) -> None:
    exchange = SimExchange(model, MemoryStore(), clock,
                           config=SimConfig(maintenance_status={"BTC": 1}, trade_status={"ETH": 2}))
    rows = {m["target_currency"]: m for m in get(adapter_client(exchange), "/public/v2/markets/KRW")["markets"]}
    assert rows["BTC"]["maintenance_status"] == 1 and rows["ETH"]["trade_status"] == 2


def test_range_units_are_numbers(client: Signer) -> None:
    units = get(client, "/public/v2/range_units/KRW/BTC")["range_price_units"]
    assert units[0] == {"range_min": 0, "next_range_min": 1, "price_unit": 0.0001}
    assert len(units) == len(KRW_TICKS.units)
    assert units[-1]["price_unit"] == 1000.0


def test_ticker_is_lowercase_with_string_numbers(any_client: Signer, model: MarketModel) -> None:
    answer = get(any_client, "/public/v2/ticker_new/KRW/BTC")
    (ticker,) = answer["tickers"]
    assert ticker["quote_currency"] == "krw" and ticker["target_currency"] == "btc"
    assert ticker["last"] == str(model.price("BTC", NOW_MS))
    assert isinstance(ticker["timestamp"], int) and isinstance(ticker["id"], str)
    bids, asks = model.book("BTC", NOW_MS, levels=1)
    assert ticker["best_asks"] == [{"price": str(asks[0][0]), "qty": str(asks[0][1])}]
    assert ticker["best_bids"][0]["price"] == str(bids[0][0])
    assert "yesterday_last" not in ticker


def test_ticker_additional_data_and_all(client: Signer) -> None:
    (ticker,) = get(client, "/public/v2/ticker_new/KRW/BTC", additional_data="true")["tickers"]
    assert {"yesterday_high", "yesterday_low", "yesterday_first", "yesterday_last", "yesterday_quote_volume",
            "yesterday_target_volume"} <= set(ticker)
    every = get(client, "/public/v2/ticker_new/KRW")["tickers"]
    assert len(every) > 1 and all(t["quote_currency"] == "krw" for t in every)


def test_ticker_utc_uses_the_utc_day(client: Signer, model: MarketModel) -> None:
    (ticker,) = get(client, "/public/v2/ticker_utc_new/KRW/ETH", additional_data="true")["tickers"]
    today, yesterday = model.candles("ETH", "1d", NOW_MS, size=2)[0]
    assert ticker["first"] == str(today["open"]) and ticker["yesterday_last"] == str(yesterday["close"])


def test_orderbook_is_uppercase_and_sorted(any_client: Signer) -> None:
    book = get(any_client, "/public/v2/orderbook/krw/btc", size=5)
    assert book["quote_currency"] == "KRW" and book["target_currency"] == "BTC"
    assert book["timestamp"] == NOW_MS and "server_time" not in book
    bids = [Decimal(level["price"]) for level in book["bids"]]
    asks = [Decimal(level["price"]) for level in book["asks"]]
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]


@pytest.mark.parametrize("size", [5, 10, 15, 16])
def test_orderbook_sizes(client: Signer, size: int) -> None:
    assert len(get(client, "/public/v2/orderbook/KRW/ETH", size=size)["asks"]) == size


@pytest.mark.parametrize("size", [1, 20, "x"])
def test_orderbook_bad_size_is_107(client: Signer, size: object) -> None:
    assert get(client, "/public/v2/orderbook/KRW/ETH", size=size)["error_code"] == "107"


def test_unknown_coin_108_and_unknown_pair_109(any_client: Signer) -> None:
    assert get(any_client, "/public/v2/orderbook/KRW/NOPE")["error_code"] == "108"
    assert get(any_client, "/public/v2/orderbook/USDT/BTC")["error_code"] == "109"
    assert get(any_client, "/public/v2/ticker_new/KRW/NOPE")["error_code"] == "108"
    assert get(any_client, "/public/v2/currencies/NOPE")["error_code"] == "108"


def test_chart_newest_first_and_timestamp_is_inclusive(client: Signer) -> None:
    chart = get(client, "/public/v2/chart/KRW/BTC", interval="15m", size=3)
    stamps = [c["timestamp"] for c in chart["chart"]]
    assert stamps[0] == NOW_MS // 900_000 * 900_000
    assert stamps == [stamps[0] - k * 900_000 for k in range(3)]
    assert chart["is_last"] is False and "server_time" not in chart
    assert all(isinstance(chart["chart"][0][k], str) for k in ("open", "high", "low", "close", "quote_volume"))
    anchored = get(client, "/public/v2/chart/KRW/BTC", interval="15m", size=2, timestamp=stamps[1])
    assert [c["timestamp"] for c in anchored["chart"]] == stamps[1:3]


def test_chart_pages_back_to_the_listing(client: Signer, model: MarketModel) -> None:
    chart = get(client, "/public/v2/chart/KRW/SHIB", interval="1w", size=500)
    assert chart["is_last"] is True
    assert chart["chart"][-1]["timestamp"] <= model.listed_ms("SHIB")
    default = get(client, "/public/v2/chart/KRW/BTC", interval="1d")
    assert len(default["chart"]) == 200 and default["is_last"] is False


@pytest.mark.parametrize("query", [{"interval": "7m"}, {}, {"interval": "1h", "size": 0},
                                   {"interval": "1h", "size": 501}, {"interval": "1h", "timestamp": "soon"}])
def test_chart_bad_parameters_are_107(client: Signer, query: dict) -> None:
    assert get(client, "/public/v2/chart/KRW/BTC", **query)["error_code"] == "107"


def test_trades_newest_first(client: Signer) -> None:
    answer = get(client, "/public/v2/trades/KRW/BTC", size=10)
    rows = answer["transactions"]
    assert len(rows) == 10 and answer["server_time"] == NOW_MS
    assert [r["timestamp"] for r in rows] == sorted((r["timestamp"] for r in rows), reverse=True)
    assert isinstance(rows[0]["is_seller_maker"], bool) and isinstance(rows[0]["price"], str)
    assert get(client, "/public/v2/trades/KRW/BTC", size=7)["error_code"] == "107"


def test_currencies(client: Signer, model: MarketModel) -> None:
    every = get(client, "/public/v2/currencies")["currencies"]
    assert [c["symbol"] for c in every] == list(model.coins)
    (btc,) = get(client, "/public/v2/currencies/btc")["currencies"]
    assert btc["name"] == "Bitcoin" and btc["deposit_status"] == "normal"
    assert isinstance(btc["deposit_confirm_count"], int) and isinstance(btc["max_precision"], int)


def test_market_data_follows_the_clock(client: Signer, clock: FixedClock, model: MarketModel) -> None:
    before = get(client, "/public/v2/ticker_new/KRW/BTC")["tickers"][0]["timestamp"]
    clock.advance(hours=5)
    after = get(client, "/public/v2/ticker_new/KRW/BTC")["tickers"][0]
    assert after["timestamp"] == before + 5 * 3_600_000
    assert after["last"] == str(model.price("BTC", before + 5 * 3_600_000))
