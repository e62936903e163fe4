"""The simulated book remembers our trades: depletion that refills, a permanent shift that fades, both with
the backtest's CostModel parameters, deterministic for a seed and kept in the store across processes."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from kairos.clock import FixedClock, to_ms
from kairos.core.costs import CostModel, permanent_rate
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.market import MarketModel
from kairos.sim.store import MemoryStore, SqliteStore
from tests.sim.conftest import NOW, adapter_client
from tests.sim.test_exchange_matching import detail, place

BIG = "20000000"  # 20 M KRW of XRP: many levels deep


def world(model: MarketModel, store: Any = None, clock: FixedClock | None = None, **config: Any):
    clock = clock or FixedClock(NOW)
    exchange = SimExchange(model, store or MemoryStore(), clock, config=SimConfig(initial_krw=Decimal("1e9"), **config),
                           sleep=lambda s: None)
    return exchange, adapter_client(exchange), clock


def buy(client: Any, amount: str, coin: str = "XRP") -> Decimal:
    """Average price of a market buy of `amount` KRW."""
    order = detail(client, coin, order_id=place(client, coin, side="BUY", type="MARKET", amount=amount))
    return Decimal(order["average_executed_price"])


def mid(client: Any, coin: str = "XRP") -> Decimal:
    book = client.get(f"/public/v2/orderbook/KRW/{coin}", size=5).json(parse_float=Decimal)
    return (Decimal(book["asks"][0]["price"]) + Decimal(book["bids"][0]["price"])) / 2


def test_an_order_right_after_another_walks_from_where_it_stopped_then_the_book_refills(model: MarketModel) -> None:
    _, client, clock = world(model)
    first = buy(client, BIG)
    second = buy(client, BIG)  # the same minute: the asks it took are still missing
    assert second > first * Decimal("1.002")
    clock.advance(hours=3)  # 18 half-lives of 10 minutes: the book is back (only the slow permanent shift stays)
    _, fresh_client, _ = world(model, clock=FixedClock(clock.now()))
    again, fresh = buy(client, BIG), buy(fresh_client, BIG)
    assert fresh <= again and again / fresh - 1 < second / first - 1  # what is left is the slow shift only


def test_a_buy_leaves_the_mid_higher_by_the_square_root_law_and_it_fades(model: MarketModel) -> None:
    _, client, clock = world(model)
    clock.advance(minutes=1)
    _, untouched, _ = world(model, clock=clock)
    krw = Decimal("200000000")
    buy(client, str(krw))
    clock.advance(hours=2)  # the depletion has refilled; the shift is still ~95 % there
    sigma, adv = model.liquidity("XRP", to_ms(clock.now()))
    expected = permanent_rate(CostModel(), krw, sigma, adv) * Decimal(2) ** (Decimal(-2) / 24)
    moved = mid(client) / mid(untouched) - 1
    assert abs(moved / expected - 1) < Decimal("0.25"), (moved, expected)  # the spent KRW is a little under krw
    clock.advance(hours=24 * 6)  # six half-lives later: almost gone (up to the grid: two 1-KRW ticks)
    assert abs(mid(client) / mid(untouched) - 1) < max(expected / 20, 2 / mid(untouched))


def test_a_sell_moves_the_book_down(model: MarketModel) -> None:
    _, client, clock = world(model)
    buy(client, "50000000")
    clock.advance(days=10)  # the buy's traces are gone
    held = client.call("/v2.1/account/balance/all")["balances"]
    qty = next(Decimal(r["available"]) for r in held if r["currency"] == "XRP")
    _, untouched, _ = world(model, clock=clock)
    place(client, "XRP", side="SELL", type="MARKET", qty=str(qty))
    assert mid(client) < mid(untouched)


def test_same_orders_on_the_same_seed_give_the_same_fills(model: MarketModel) -> None:
    runs = []
    for _ in range(2):
        _, client, clock = world(model)
        prices = []
        for _ in range(4):
            prices.append(buy(client, BIG))
            clock.advance(minutes=7)
        runs.append(prices)
    assert runs[0] == runs[1]


def test_the_memory_survives_a_new_process_on_the_same_store(model: MarketModel, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "exchange.sqlite")
    _, client, clock = world(model, store=store)
    first = buy(client, BIG)
    _, restarted, _ = world(model, store=SqliteStore(tmp_path / "exchange.sqlite"), clock=clock)
    assert buy(restarted, BIG) > first * Decimal("1.002")


def test_impact_can_be_turned_off(model: MarketModel) -> None:
    _, client, _ = world(model, impact=False)
    assert buy(client, BIG) == buy(client, BIG)
