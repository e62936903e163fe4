"""The durable executor against the simulator: intent before the request, reconcile by user_order_id,
"lost" only as a conclusion from the exchange (time + detail + the account's order lists), late orders
adopted, safety rails before any write."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from kairos.clock import FixedClock
from kairos.coinone.auth import Credentials
from kairos.coinone.client import CoinoneClient
from kairos.coinone.models import KRW_TICKS, OrderRequest
from kairos.errors import SafetyStop
from kairos.core.types import Side
from kairos.engine.executor import Executor, day_bounds, guard_price, order_krw
from kairos.engine.model import OrderRecord, OrderStatus
from kairos.ledger import Ledger
from kairos.output import Output
from kairos.schema import Secret
from kairos.settings import Settings
from kairos.sim.adapter import SimAdapter
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.faults import Fault
from kairos.sim.market import MarketModel
from kairos.sim.store import SqliteStore
from kairos.state import StateSession, StateStore

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
BASE = "https://coinone-sim.invalid"
D = Decimal


@pytest.fixture(scope="module")
def model() -> MarketModel:
    return MarketModel()


class Spy:
    """A WSGI wrapper that records, when an order request arrives, what the state file and ledger hold."""

    def __init__(self, app: SimExchange, state_path: Path, ledger_path: Path) -> None:
        self.app, self.state_path, self.ledger_path = app, state_path, ledger_path
        self.at_order: list[tuple[dict[str, Any], list[tuple]]] = []
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.paths.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/v2.1/order":
            con = sqlite3.connect(self.ledger_path)
            rows = con.execute("SELECT user_order_id, status FROM orders").fetchall()
            con.close()
            self.at_order.append((json.loads(self.state_path.read_text(encoding="utf-8")), rows))
        return self.app(environ, start_response)


class AlertLog:
    """Collects the alerts the executor sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, alert_type: str, title: str, lines: Any = (), **_: Any) -> list[Any]:
        self.sent.append((alert_type, title))
        return []


class Ctx:
    """The parts of the run context the executor uses."""

    def __init__(self, client: CoinoneClient, clock: FixedClock, settings: Settings) -> None:
        self.client, self.clock, self.settings = client, clock, settings
        self.kill: str | None = None
        self.alerts = AlertLog()
        self.out = Output(StringIO(), lang="en")

    @property
    def kill_switch(self) -> str | None:
        return self.kill


class ErrorApp:
    """Answers `path` with a Coinone error envelope of `code` (an empty code: a 200 with no order id)."""

    def __init__(self, app: SimExchange, path: str, code: str) -> None:
        self.app, self.path, self.code, self.hits = app, path, code, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] != self.path:
            return self.app(environ, start_response)
        self.hits += 1
        body = {"result": "error", "error_code": self.code, "error_msg": "?"} if self.code else {"result": "success",
                                                                                               "error_code": "0"}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


class World:
    def __init__(self, tmp_path: Path, model: MarketModel, sim: SimConfig | None = None) -> None:
        self.clock = FixedClock(NOW)
        self.app = SimExchange(model, SqliteStore(tmp_path / "sim.sqlite"), self.clock,
                               config=sim or SimConfig(initial_krw=D(1_000_000)))
        self.store = StateStore(tmp_path / "state.json", tmp_path / "kairos.lock")
        self.store.path.parent.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger.open(tmp_path / "kairos.db")
        self.spy = Spy(self.app, self.store.path, tmp_path / "kairos.db")
        session = requests.Session()
        session.mount(BASE, SimAdapter(self.spy))
        config = SimConfig()
        client = CoinoneClient(session, BASE, credentials=Credentials(Secret(config.access_token), Secret(config.secret_key)),
                               read_retries=0, sleep=self.clock.sleep)
        self.ctx = Ctx(client, self.clock, Settings())
        self.session = StateSession(self.store, self.store.read())
        self.executor = Executor(self.ctx, self.session, self.ledger, kind="twap")

    def settings(self, **trading: Any) -> None:
        s = self.ctx.settings
        self.ctx.settings = replace(s, trading=replace(s.trading, **trading))

    def send(self, uoid: str, amount: str = "100000") -> OrderRecord:
        """Write an intent for a market buy of ETH and submit it (what `place_guarded` does after its checks)."""
        request = self.buy(uoid, amount)
        record = OrderRecord(uoid=uoid, target="ETH", side=Side.BUY, status=OrderStatus.INTENT, created_at=self.clock.now(),
                             amount_krw=request.amount, limit_price=request.limit_price, mid=D(2611000), plan_id="p")
        self.session.data.orders[uoid] = record
        return self.executor.submit(record, request)

    def unknown(self, uoid: str, **fields: Any) -> OrderRecord:
        """A record whose result is unknown, as a run that died after sending would leave it."""
        record = OrderRecord(uoid=uoid, target="ETH", side=Side.BUY, status=OrderStatus.UNKNOWN, created_at=NOW,
                             amount_krw=D(100000), plan_id="p", **fields)
        self.session.data.orders[uoid] = record
        return record

    def buy(self, uoid: str, amount: str = "100000") -> OrderRequest:
        ticker = self.ctx.client.ticker("ETH")
        guard = guard_price(Side.BUY, ticker.best_ask.price, ticker.best_bid.price, D("0.01"),
                            KRW_TICKS.round_down, KRW_TICKS.round_up)
        return OrderRequest.market_buy("ETH", D(amount), guard, uoid)

    def exchange_orders(self) -> list[Any]:
        with self.app.store.transaction() as tx:
            return tx.all_orders()

    def on_disk(self, uoid: str) -> dict[str, Any]:
        return json.loads(self.store.path.read_text(encoding="utf-8"))["orders"][uoid]


@pytest.fixture
def world(tmp_path: Path, model: MarketModel) -> Iterator[World]:
    w = World(tmp_path, model)
    yield w
    w.ledger.close()


def test_the_intent_is_on_disk_before_the_request_and_the_fill_after(world: World) -> None:
    record = world.send("p-eth-s000-a1")
    [(state_then, ledger_then)] = world.spy.at_order
    assert state_then["orders"]["p-eth-s000-a1"]["status"] == "intent"  # written before the order was sent
    assert state_then["orders"]["p-eth-s000-a1"]["amount_krw"] == "100000"
    assert ledger_then == [("p-eth-s000-a1", "intent")]
    [placed] = world.exchange_orders()
    saved = world.on_disk("p-eth-s000-a1")
    assert saved["status"] == "done" and saved["order_id"] == placed.order_id
    assert D(saved["executed_qty"]) == placed.executed_qty > 0
    assert D(saved["executed_krw"]) == placed.traded_amount
    assert saved["slippage_bps"] is not None
    [row] = world.ledger.orders()
    assert (row.status, row.order_id, row.plan_id) == ("done", placed.order_id, "p")


def test_a_dropped_response_is_reconciled_by_user_order_id_without_resending(world: World) -> None:
    world.app.faults.add(Fault("drop", path="/v2.1/order"))
    record = world.send("p-eth-s001-a1")
    assert record.status == "unknown" and record.order_id is None
    [placed] = world.exchange_orders()  # the exchange did take it
    assert placed.user_order_id == "p-eth-s001-a1"
    world.executor.reconcile(record, run_id="next-run")
    assert record.status == "done" and record.order_id == placed.order_id
    assert D(record.executed_qty) == placed.executed_qty
    assert len(world.exchange_orders()) == 1
    assert world.spy.paths.count("/v2.1/order") == 1  # reconciled by a lookup, never re-sent
    assert world.on_disk("p-eth-s001-a1")["status"] == "done"


def test_no_answer_and_not_found_is_not_lost_before_lost_after_minutes(world: World) -> None:
    """The bug: three quick "not found" answers made an order lost (and bought again) while it was on its way."""
    world.app.faults.add(Fault("late", path="/v2.1/order", seconds=120))
    record = world.send("p-eth-s002-a1")
    assert record.status == "unknown" and world.exchange_orders() == []
    for run in range(10):  # an operator re-running by hand, ten times within a minute
        world.clock.advance(seconds=6)
        world.executor.reconcile(record, run_id=f"run-{run}")
    assert (record.status, record.not_found) == ("unknown", 10)  # still unresolved: never "lost" by counting
    world.clock.advance(seconds=60)
    world.executor.reconcile(record, run_id="after-the-delay")
    assert record.status == "done" and D(record.executed_krw) > 0  # found once the exchange accepted it
    assert len(world.exchange_orders()) == 1


def test_lost_only_after_the_wait_and_the_order_lists_confirm_it(world: World) -> None:
    world.app.faults.add(Fault("timeout", path="/v2.1/order", process=False))
    record = world.send("p-eth-s002-a1")
    statuses = []
    for run in range(4):
        world.executor.reconcile(record, run_id=f"run-{run}")
        world.executor.reconcile(record, run_id=f"run-{run}")  # a second look in the same run counts not
        statuses.append(record.status)
        world.clock.advance(minutes=15)
    assert statuses == ["unknown", "unknown", "lost", "lost"]  # 3 answers over 30 minutes, then the lists agree
    assert record.not_found == 3 and record.lost_at is not None  # a lost record is not looked up by detail again
    assert world.on_disk("p-eth-s002-a1")["status"] == "lost"
    assert world.ledger.orders()[0].status == "lost"
    assert "/v2.1/order/active_orders" in world.spy.paths and "/v2.1/order/completed_orders" in world.spy.paths


def test_an_unknown_order_on_the_market_that_could_be_ours_keeps_the_record_unresolved(tmp_path: Path,
                                                                                     model: MarketModel) -> None:
    """Without user_order_id in the lists, an order id we never recorded might be the one we are looking for."""
    w = World(tmp_path, model, sim=SimConfig(initial_krw=D(1_000_000), echo_user_order_id=False))
    w.app.faults.add(Fault("timeout", path="/v2.1/order", process=False))
    record = w.send("p-eth-s002-a1")
    w.ctx.client.place_order(w.buy("someone-else-1"))  # an order this installation never recorded
    for run in range(4):
        w.clock.advance(minutes=15)
        w.executor.reconcile(record, run_id=f"run-{run}")
    assert record.status == "unknown"  # cannot prove absence: it stays watched, nothing is re-sent
    w.ledger.close()


def test_a_lost_order_that_shows_up_later_is_adopted_with_its_fills(world: World) -> None:
    world.app.faults.add(Fault("late", path="/v2.1/order", seconds=3 * 3600))
    record = world.send("p-eth-s002-a1")
    for run in range(4):
        world.clock.advance(minutes=15)
        world.executor.reconcile(record, run_id=f"run-{run}")
    assert record.status == "lost"
    world.clock.advance(hours=3)  # the exchange finally accepts it; a later run watches the lost record
    adopted = Executor(world.ctx, world.session, world.ledger, kind="twap").watch_lost()
    assert adopted == [record] and record.status == "done" and record.late is True
    assert D(record.executed_krw) == world.exchange_orders()[0].traded_amount > 0
    assert world.ctx.alerts.sent == [("critical_risk", "Late order adopted: p-eth-s002-a1")]
    assert world.ledger.orders()[0].status == "done"


@pytest.mark.parametrize("code", ["107", "313", "999"])
def test_an_unexpected_detail_answer_leaves_the_record_unresolved(world: World, code: str) -> None:
    record = world.unknown("p-eth-s006-a1")
    world.app.faults.add(Fault("http_5xx", path="/v2.1/order/detail"))  # one answer that is not an order
    world.executor.reconcile(record, run_id="r1")
    assert record.status == "unknown"
    broken = ErrorApp(world.app, "/v2.1/order/detail", code)
    world.ctx.client.session.mount(BASE, SimAdapter(broken))
    world.executor.reconcile(record, run_id="r2")
    assert record.status == "unknown" and broken.hits == 1


@pytest.mark.parametrize("code, status", [("107", "rejected"), ("108", "rejected"), ("109", "rejected"),
                                          ("306", "rejected"), ("999", "unknown"), ("", "unknown")])
def test_on_submit_only_a_code_that_proves_no_order_makes_it_rejected(world: World, code: str, status: str) -> None:
    world.ctx.client.session.mount(BASE, SimAdapter(ErrorApp(world.app, "/v2.1/order", code)))
    record = world.send("p-eth-s007-a1")
    assert record.status == status


def test_the_ceiling_refuses_an_order_past_the_leg_total() -> None:
    Executor.check_ceiling("leg", D(100000), D(94000), D(6000), D(5000))  # within one minimum order: allowed
    with pytest.raises(SafetyStop, match="would exceed the planned total 100000"):
        Executor.check_ceiling("leg", D(100000), D(100000), D(5001), D(5000))


def test_an_order_the_exchange_gave_an_id_for_is_never_declared_lost(world: World) -> None:
    record = world.unknown("p-eth-s003-a1", order_id="no-such-order")
    for run in range(6):
        world.executor.reconcile(record, run_id=f"run-{run}")
    assert record.status == "unknown"


def test_a_refused_order_is_recorded_as_rejected_with_the_reason(world: World) -> None:
    record = world.send("p-eth-s004-a1", amount="5000000")
    assert record.status == "rejected" and record.insufficient is True and record.error_code == "103"
    assert world.exchange_orders() == []
    assert world.ledger.orders()[0].status == "rejected"


@pytest.mark.parametrize("setup, krw, needed, match", [
    ({"kill": "kill file data/KILL"}, "10000", None, "kill switch active"),
    ({"max_order_krw": D(50_000)}, "50001", None, "exceeds trading.max_order_krw"),
    ({"max_daily_krw": D(150_000), "traded": D(100_000)}, "50001", None, "max_daily_krw"),
    ({}, "105001", "100000", "exceeds what its plan still needs"),
])
def test_safety_rails_refuse_before_anything_is_written(world: World, setup: dict, krw: str, needed: str | None,
                                                         match: str) -> None:
    setup = dict(setup)
    world.ctx.kill = setup.pop("kill", None)
    traded = setup.pop("traded", None)
    if traded:
        world.ledger.upsert_order({"user_order_id": "earlier", "created_at": NOW, "updated_at": NOW, "kind": "twap",
                                   "target": "ETH", "side": "BUY", "order_type": "MARKET", "status": "done",
                                   "executed_qty": "0", "executed_krw": str(traded), "avg_price": "0", "fee": "0"})
    world.settings(**setup)
    rows_before = world.ledger.orders()
    request = world.buy("p-eth-s005-a1", amount=krw)
    with pytest.raises(SafetyStop, match=match):
        world.executor.check_rails(request, D(krw), D(needed) if needed else None)
    assert world.ledger.orders() == rows_before and not world.store.path.exists()


def test_rails_allow_an_order_within_every_limit(world: World) -> None:
    world.settings(max_order_krw=D(100_000), max_daily_krw=D(100_000))
    world.executor.check_rails(world.buy("ok", amount="100000"), D(100000), D(100000) / D("1.05"))


@pytest.mark.parametrize("now, start, end", [
    ("2026-11-23T15:30:00+00:00", "2026-11-23T15:00:00+00:00", "2026-11-24T15:00:00+00:00"),  # 00:30 KST on the 24th
    ("2026-11-23T14:59:59+00:00", "2026-11-22T15:00:00+00:00", "2026-11-23T15:00:00+00:00"),  # 23:59:59 KST on the 23rd
])
def test_the_daily_cap_window_is_the_korean_calendar_day(now: str, start: str, end: str) -> None:
    assert day_bounds(datetime.fromisoformat(now)) == (datetime.fromisoformat(start), datetime.fromisoformat(end))


@pytest.mark.parametrize("side, ask, bid, slip, expected", [
    (Side.BUY, "2611000", "2610000", "0.01", "2637000"),  # 2,637,110 rounded down to the 1,000 tick
    ("SELL", "2611000", "2610000", "0.01", "2584000"),  # 2,583,900 rounded up to the 1,000 tick
    ("BUY", "94672000", "94671000", "0.0001", "94681000"),  # ceiling never below the ask
    ("SELL", "2596", "2595", "0.001", "2593"),  # 2,592.405 → up to the 1 KRW tick
])
def test_guard_price(side: str, ask: str, bid: str, slip: str, expected: str) -> None:
    price = guard_price(Side(side), D(ask), D(bid), D(slip), KRW_TICKS.round_down, KRW_TICKS.round_up)
    assert price == D(expected)
    assert (price >= D(ask)) if side == "BUY" else (price <= D(bid))


def test_order_krw_uses_the_amount_for_buys_and_qty_times_price_for_sells() -> None:
    assert order_krw(OrderRequest.market_buy("ETH", D(70000), None, "a"), D(2600000)) == D(70000)
    assert order_krw(OrderRequest.market_sell("ETH", D("0.5"), None, "b"), D(2600000)) == D(1300000)


def test_when_the_order_lists_cannot_be_read_nothing_is_declared_lost(world: World) -> None:
    world.app.faults.add(Fault("timeout", path="/v2.1/order", process=False))
    record = world.send("p-eth-s002-a1")
    world.app.faults.add(Fault("http_5xx", path="/v2.1/order/active_orders", count=100))
    for run in range(4):
        world.clock.advance(minutes=15)
        world.executor.reconcile(record, run_id=f"run-{run}")  # no exception escapes the reconcile
    assert record.status == "unknown"
