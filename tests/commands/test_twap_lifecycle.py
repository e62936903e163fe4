"""The TWAP engine end to end: the real commands against the simulator, with a stepped clock.

Most plans here have one leg (portfolio ETH 100 %): on 2026-11-23 BTC is below its band (risk-off,
crypto 30 %), so a fresh 10,000,000 KRW account buys 3,000,000 KRW of ETH. Calm or volatile comes
from execution.atr_threshold (1 → every coin calm, 0.0001 → every coin volatile).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest

from kairos.clock import to_ms
from kairos.coinone.models import KRW_TICKS
from kairos.core.twap import min_qty_for
from kairos.money import round_down
from tests.commands.conftest import ONE_COIN, START, Kairos

UTC = timezone.utc
CALM, VOLATILE = "1", "0.0001"
MIN_ORDER = Decimal(5000)


def one_coin(k: Kairos, threshold: str = CALM, **execution: Any) -> None:
    k.configure(strategy={"portfolio": ONE_COIN}, execution={"atr_threshold": threshold, **execution})


def start_plan(k: Kairos, *args: str) -> dict[str, Any]:
    r = k("--quarterly-rebalance-twap", *args)
    assert r.code == 0, r.err
    return k.plan()


def at_ms(moment: datetime) -> int:
    return to_ms(moment)


def leg_min(k: Kairos, leg: dict[str, Any]) -> Decimal:
    """The leg's minimum useful slice now, in its unit (as the engine computes it)."""
    price = k.app.model.price(leg["target"], at_ms(k.now))
    if leg["side"] == "BUY":
        return max(Decimal(leg["min_order_krw"]), Decimal(leg["qty_unit"]) * price)
    return min_qty_for(Decimal(leg["min_order_krw"]), price, Decimal(leg["qty_unit"]))


def assert_reached(k: Kairos, plan: dict[str, Any]) -> None:
    """Each leg filled to within one minimum order of its total, and the account shows exactly those fills."""
    for leg in plan["legs"]:
        data = plan["summary"]["legs"][leg["target"]]
        assert Decimal(data["shortfall"]) < leg_min(k, leg), data
    orders = k.orders(plan["plan_id"])
    bought = sum((o.executed_qty for o in orders if o.side == "BUY"), Decimal(0))
    spent = sum((o.traded_amount + o.fee for o in orders if o.side == "BUY"), Decimal(0))
    assert k.balance("ETH") == bought
    assert k.balance("KRW") == Decimal(10_000_000) - spent


# ---- schedules ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("threshold, slices, interval, tick", [(CALM, 12, 30, 15), (VOLATILE, 24, 60, 30)],
                         ids=["calm", "volatile"])
def test_schedule_end_to_end(kairos: Kairos, threshold: str, slices: int, interval: int, tick: int) -> None:
    k = kairos
    one_coin(k, threshold)
    plan = start_plan(k)
    [leg] = plan["legs"]
    assert (leg["side"], leg["total"], leg["slices"], leg["interval_minutes"]) == ("BUY", "3000000", slices, interval)
    assert leg["volatile"] is (threshold == VOLATILE)
    end = START + timedelta(minutes=interval * (slices - 1))
    assert leg["end_at"] == end.isoformat()
    k.run_ticks(end + timedelta(minutes=30), minutes=tick)  # cron every `tick` minutes (never early: see below)
    plan = k.plan(plan["plan_id"])
    assert plan["status"] == "completed"
    orders = k.orders(plan["plan_id"])
    [leg] = plan["legs"]
    assert len(orders) == slices == len(leg["orders"])  # one exchange order per slice, no more
    assert [o["slot"] for o in leg["orders"]] == list(range(slices))
    # slot k runs at start + k × interval exactly (the ticks land on every slot)
    assert [o.ordered_at for o in orders] == [at_ms(START + timedelta(minutes=interval * n)) for n in range(slices)]
    assert [o.user_order_id for o in orders] == [f"k1-{k.installation}-{plan['plan_id']}-eth-s{n:03d}-a1" for n in range(slices)]
    assert all(o.type == "MARKET" and o.limit_price is not None for o in orders)
    assert_reached(k, plan)
    [archived] = k.ledger("SELECT status FROM plans WHERE plan_id = ?", (plan["plan_id"],))
    assert archived["status"] == "completed"
    assert len(k.alerts("twap_complete")) == 1


def test_no_slot_runs_before_its_time(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    plan = start_plan(k)
    for minutes in (1, 10, 29):
        k.at(START + timedelta(minutes=minutes, seconds=59 if minutes == 29 else 0))
        assert k("--process-twap").code == 0
        assert len(k.orders(plan["plan_id"])) == 1
    k.at(START + timedelta(minutes=30))
    assert k("--process-twap").code == 0
    assert len(k.orders(plan["plan_id"])) == 2


# ---- missed ticks and partial fills ---------------------------------------------------------------------
@pytest.mark.parametrize("gap_to", [timedelta(hours=3), timedelta(hours=5, minutes=30)], ids=["2h", "4.5h"])
def test_missed_ticks_catch_up_without_a_slice_above_twice_nominal(kairos: Kairos, gap_to: timedelta) -> None:
    k = kairos
    one_coin(k)
    plan = start_plan(k)
    k.run_ticks(START + timedelta(hours=1))  # slots 0, 1, 2
    assert len(k.orders(plan["plan_id"])) == 3
    k.at(START + gap_to)  # cron was down: no tick from 01:15 until now
    assert k("--process-twap").code == 0
    orders = k.orders(plan["plan_id"])
    assert len(orders) == 4  # one catch-up order, not one per missed slot
    catch_up = orders[-1]
    nominal = Decimal(3_000_000) / 12
    assert nominal < catch_up.original_amount <= 2 * nominal
    k.run_ticks(START + timedelta(hours=9))
    plan = k.plan(plan["plan_id"])
    assert plan["status"] == "completed"
    amounts = [o.original_amount for o in k.orders(plan["plan_id"])]
    assert max(amounts) <= 2 * nominal
    assert all(a >= MIN_ORDER for a in amounts)
    assert_reached(k, plan)


class ThinBook:
    """The default market with a book `factor` times as deep (same prices): large slices run out of levels."""

    def __init__(self, model: Any, factor: Decimal) -> None:
        self._model, self.factor = model, factor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def book(self, symbol: str, now_ms: int, levels: int = 15) -> tuple[list, list]:
        unit = self._model.spec(symbol).qty_unit
        bids, asks = self._model.book(symbol, now_ms, levels)
        thin = lambda side: [(p, max(round_down(q * self.factor, unit), unit)) for p, q in side]  # noqa: E731
        return thin(bids), thin(asks)


def test_partial_fills_from_the_limit_price_guard_are_carried_into_later_slices(make_kairos, model: Any) -> None:
    k: Kairos = make_kairos(market=ThinBook(model, Decimal("0.004")))
    one_coin(k)
    k.configure(strategy={"rebalance": {"max_slippage": 0.0005}})
    plan = start_plan(k)
    k.run_ticks(START + timedelta(hours=1, minutes=30))
    orders = k.orders(plan["plan_id"])
    assert len(orders) == 4
    nominal = Decimal(3_000_000) / 12
    filled = Decimal(0)
    for n, order in enumerate(orders):
        # each slice = what is really left ÷ the slots left (this one included), rounded down to 1 KRW
        assert order.original_amount == ((Decimal(3_000_000) - filled) / (12 - n)).to_integral_value(ROUND_DOWN)
        assert order.status == "CANCELED_LIMIT_PRICE_EXCEED"  # the guard stopped it part-way
        assert 0 < order.traded_amount < order.original_amount
        assert order.traded_amount + order.canceled_amount == order.original_amount
        filled += order.traded_amount
    assert orders[1].original_amount > nominal  # the first slice's unfilled part shows in the next one
    assert all(o.original_amount <= 2 * nominal for o in orders)
    state_leg = k.plan(plan["plan_id"])["legs"][0]
    assert sum(Decimal(o["executed_krw"]) for o in state_leg["orders"]) == filled


# ---- small plans ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("coin, min_order, slices", [("ETH", 5000, 12), ("BTC", 5000, 10), ("ETH", 60000, 1)],
                         ids=["eth-12-slices", "btc-qty-unit-10-slices", "min-order-60k-says-one-order"])
def test_a_100k_buy_is_split_unless_the_rules_say_one_order(make_kairos, coin: str, min_order: int, slices: int) -> None:
    k: Kairos = make_kairos(sim={"initial_krw": Decimal(1_000_000)})
    k.configure(strategy={"portfolio": {"core": {coin: 1.0}, "satellite": {}},
                          "season_filter": {"risk_off_crypto_ratio": 0.1},  # 10 % of 1,000,000 = 100,000 KRW
                          "rebalance": {"min_order_krw": min_order}},
                execution={"atr_threshold": 1})
    plan = start_plan(k)
    [leg] = plan["legs"]
    assert (leg["total"], leg["slices"]) == ("100000", slices)
    k.run_ticks(START + timedelta(hours=7), minutes=30)
    orders = k.orders(plan["plan_id"])
    assert len(orders) == slices
    price = k.app.model.price(coin, at_ms(START))
    floor = max(Decimal(min_order), Decimal(leg["qty_unit"]) * price)
    assert all(o.original_amount >= floor * Decimal("0.98") for o in orders)  # price moves a little over hours
    if slices > 1:
        assert max(o.original_amount for o in orders) < Decimal(100_000) / 2
    else:
        assert orders[0].original_amount == Decimal(100_000)


# ---- a completed plan stays completed ----------------------------------------------------------------------
def rotations(items: list[str]) -> list[list[str]]:
    turns = [items[i:] + items[:i] for i in range(len(items))]
    return turns + [list(reversed(t)) for t in turns]


def test_a_completed_plan_is_never_run_again_by_any_command_in_any_order(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    plan = start_plan(k)
    k.run_ticks(START + timedelta(hours=6))
    done = k.plan(plan["plan_id"])
    assert done["status"] == "completed"
    sent = len(k.orders())
    commands = ["--process-twap", "--quarterly-rebalance-twap", "--weekly-analysis", "--clear-failed-twap",
                "--quarterly-rebalance"]
    for order in rotations(commands):
        for command in order:
            k.step(minutes=15)
            r = k(command)
            assert r.code == 0, (command, r.err)
    assert len(k.orders()) == sent  # no command sent anything, for this plan or any other
    assert [p["plan_id"] for p in k.plans()] == [plan["plan_id"]]
    again = k.plan(plan["plan_id"])
    assert again["status"] == "completed" and again["legs"] == done["legs"]


# ---- a regime flip while a plan runs ------------------------------------------------------------------------------
class Shock:
    """The default market, with chosen coins' prices — ticker and book alike, as a real move would —
    scaled by a factor (candles unchanged, so the moving average stays where it was)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.factor: dict[str, Decimal] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def ticker(self, symbol: str, now_ms: int) -> dict:
        out = self._model.ticker(symbol, now_ms)
        factor = self.factor.get(symbol.upper())
        if factor:
            out = {k: KRW_TICKS.round_down(v * factor) if k in ("first", "high", "low", "last") else v
                   for k, v in out.items()}
        return out

    def price(self, symbol: str, now_ms: int) -> Decimal:
        factor = self.factor.get(symbol.upper())
        price = self._model.price(symbol, now_ms)
        return KRW_TICKS.round_down(price * factor) if factor else price

    def book(self, symbol: str, now_ms: int, levels: int = 15) -> tuple[list, list]:
        bids, asks = self._model.book(symbol, now_ms, levels=levels)
        factor = self.factor.get(symbol.upper())
        if not factor:
            return bids, asks
        return ([(KRW_TICKS.round_down(p * factor), q) for p, q in bids],
                [(KRW_TICKS.round_up(p * factor), q) for p, q in asks])


def test_a_regime_flip_mid_plan_supersedes_it_and_plans_again_from_holdings(make_kairos, model: Any) -> None:
    market = Shock(model)
    above, below = datetime(2026, 8, 10, tzinfo=UTC), datetime(2026, 8, 31, tzinfo=UTC)
    k: Kairos = make_kairos(now=above, market=market)
    one_coin(k)
    assert k("--quarterly-rebalance").code == 0  # first regime: risk-on, 70 % ETH
    held = k.balance("ETH")
    assert held > 0
    k.at(below)
    flip = k("--weekly-analysis")  # below the band: risk-off, sell ETH down to 30 %
    assert flip.code == 0, flip.err
    [selling] = k.plans()
    assert [(l["side"], l["target"]) for l in selling["legs"]] == [("SELL", "ETH")]
    k.run_ticks(below + timedelta(hours=2))
    sold_by_a = len(k.orders(selling["plan_id"]))
    assert sold_by_a == 5  # slots 0..4

    market.factor["BTC"] = Decimal("1.4")  # BTC jumps above the band again: risk-on
    k.step(minutes=5)
    now_ms = at_ms(k.now)
    eth, krw, price = k.balance("ETH"), k.balance("KRW"), k.app.market.price("ETH", now_ms)  # after our own sells
    expected_buy = round_down((krw + eth * price) * Decimal("0.7") - eth * price, Decimal(1))
    back = k("--weekly-analysis")
    assert back.code == 0, back.err
    old, new = k.plans()
    assert (old["plan_id"], old["status"], new["status"]) == (selling["plan_id"], "superseded", "active")
    assert [(l["side"], l["target"], Decimal(l["total"])) for l in new["legs"]] == [("BUY", "ETH", expected_buy)]
    assert new["regime"] == "risk_on" and k.state()["season"]["regime"] == "risk_on"
    assert len(k.alerts("immediate_rebalance")) == 2

    k.run_ticks(below + timedelta(hours=9))
    assert len(k.orders(selling["plan_id"])) == sold_by_a  # the superseded plan never sold again
    sells = [o for o in k.orders() if o.side == "SELL"]
    assert sum((o.executed_qty for o in sells), Decimal(0)) <= held  # never sold more than was held
    assert all(o.side == "BUY" for o in k.orders(new["plan_id"]))
    assert k.plan(new["plan_id"])["status"] == "completed"


def test_finished_plans_leave_the_state_after_keep_finished_days_archived_in_the_ledger(kairos: Kairos) -> None:
    """The state stays small: 45 old expired/superseded/failed plans used to stay forever (a tick 2.4× slower)."""
    import json

    one_coin(kairos)
    assert kairos("--quarterly-rebalance-twap").code == 0
    state = kairos.state()
    template = state["plans"][-1]
    old = (START - timedelta(days=40)).isoformat()
    for i, status in enumerate(["expired", "superseded", "failed"] * 15):
        plan = json.loads(json.dumps(template))
        plan.update(plan_id=f"tw-old-{i}", status=status, closed_at=old, start_at=old, end_at=old, created_at=old)
        state["plans"].insert(0, plan)
    recent = json.loads(json.dumps(template))
    recent.update(plan_id="tw-recent", status="expired", closed_at=(START - timedelta(days=3)).isoformat())
    state["plans"].insert(0, recent)
    kairos.state_file.write_text(json.dumps(state), encoding="utf-8")
    kairos.step(minutes=30)
    assert kairos("--process-twap").code == 0
    kept = [p["plan_id"] for p in kairos.plans()]
    assert kept == ["tw-recent", template["plan_id"]]  # the recent one stays for --twap-status
    archived = {r["plan_id"]: r["status"] for r in kairos.ledger("SELECT plan_id, status FROM plans")}
    assert all(archived.get(f"tw-old-{i}") == s for i, s in enumerate(["expired", "superseded", "failed"] * 15))
