"""--quarterly-rebalance / --quarterly-rebalance-twap against the simulator: reaching the targets,
once per quarter unless --force, and --dry-run that changes nothing, byte for byte."""
from __future__ import annotations

import gc
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from kairos.clock import to_ms
from kairos.sim.accounts import Ledger as SimLedger
from tests.commands.conftest import START, Kairos, sha256

UTC = timezone.utc
RISK_OFF_TARGETS = {"BTC": Decimal("0.12"), "ETH": Decimal("0.09"), "XRP": Decimal("0.045"), "SOL": Decimal("0.045")}
DRY_RUNS = [("--weekly-analysis",), ("--quarterly-rebalance",), ("--quarterly-rebalance-twap",), ("--process-twap",)]


def holdings(k: Kairos) -> tuple[Decimal, dict[str, tuple[Decimal, Decimal]]]:
    """(total KRW value, coin → (value, one qty_unit's value)) at the simulator's prices now."""
    now_ms = to_ms(k.now)
    coins = {}
    for coin in RISK_OFF_TARGETS:
        price = k.app.model.price(coin, now_ms)
        coins[coin] = (k.balance(coin) * price, Decimal(str(k.app.model.spec(coin).qty_unit)) * price)
    return k.balance("KRW") + sum(v for v, _ in coins.values()), coins


def assert_at_targets(k: Kairos, min_order: Decimal = Decimal(5000), drift: Decimal = Decimal(0)) -> None:
    """Every coin within one minimum order (or one qty_unit at the price, or the drift band) of its target."""
    total, coins = holdings(k)
    for coin, weight in RISK_OFF_TARGETS.items():
        value, unit_value = coins[coin]
        assert abs(value - total * weight) <= max(min_order, unit_value, drift * total), (coin, value, total * weight)


def deposit_krw(k: Kairos, amount: int) -> None:
    with k.app.store.transaction() as tx:
        SimLedger(tx).deposit("KRW", Decimal(amount), to_ms(k.now))


def test_a_fresh_10m_account_reaches_its_targets_in_one_run(kairos: Kairos) -> None:
    r = kairos("--quarterly-rebalance")
    assert r.code == 0, r.err
    orders = kairos.orders()
    assert [(o.type, o.side, o.target) for o in orders] == [("MARKET", "BUY", c) for c in RISK_OFF_TARGETS]
    assert all(o.limit_price is not None and o.user_order_id == o.user_order_id.lower() for o in orders)
    assert_at_targets(kairos)
    assert kairos.state()["orders"] == {}  # every result known, so nothing is left to reconcile
    rows = kairos.ledger("SELECT user_order_id, status, executed_krw FROM orders")
    assert sorted(r["user_order_id"] for r in rows) == sorted(o.user_order_id for o in orders)
    assert all(r["status"] == "done" and Decimal(r["executed_krw"]) > 0 for r in rows)
    [decision] = kairos.ledger("SELECT payload FROM decisions WHERE kind = 'rebalance_plan'")
    assert len(json.loads(decision["payload"])["intents"]) == 4
    assert "리밸런싱 완료: 주문 4건" in r.out


def test_a_second_run_in_the_same_quarter_places_nothing_unless_forced(kairos: Kairos) -> None:
    k = kairos
    assert k("--quarterly-rebalance").code == 0
    first = len(k.orders())
    k.at(START + timedelta(days=20))
    deposit_krw(k, 3_000_000)  # now well off target: only the calendar rule stops the run
    again = k("--quarterly-rebalance")
    assert again.code == 0 and "이미" in again.out and "--force" in again.out
    twap_again = k("--quarterly-rebalance-twap")
    assert twap_again.code == 0 and "이미" in twap_again.out
    assert len(k.orders()) == first and k.plans() == []
    forced = k("--quarterly-rebalance", "--force")
    assert forced.code == 0, forced.err
    assert len(k.orders()) > first
    assert_at_targets(k, drift=Decimal("0.01"))  # coins inside the 1 % drift band are left alone by design


def test_the_next_quarter_runs_without_force(kairos: Kairos) -> None:
    k = kairos
    assert k("--quarterly-rebalance").code == 0
    first = len(k.orders())
    k.at(datetime(2027, 1, 4, tzinfo=UTC))
    deposit_krw(k, 3_000_000)
    r = k("--quarterly-rebalance")
    assert r.code == 0, r.err
    assert len(k.orders()) > first and k.state()["rebalance"]["last_quarter"] == "2027q1"


def test_twap_rebalance_is_refused_while_a_plan_is_active_and_force_supersedes_it(make_kairos) -> None:
    eve = datetime(2026, 12, 31, 14, 0, tzinfo=UTC)  # 23:00 KST on 31 December: the plan runs into Q1
    k: Kairos = make_kairos(now=eve)
    assert k("--quarterly-rebalance-twap").code == 0
    [first] = k.plans()
    k.run_ticks(eve + timedelta(minutes=90))  # 00:30 KST on 1 January: a new quarter, the plan still active
    refused = k("--quarterly-rebalance-twap")
    assert refused.code == 0 and first["plan_id"] in refused.out and "--force" in refused.out
    assert [p["status"] for p in k.plans()] == ["active"]
    sent_by_first = len(k.orders(first["plan_id"]))
    forced = k("--quarterly-rebalance-twap", "--force")
    assert forced.code == 0, forced.err
    old, new = k.plans()
    assert (old["plan_id"], old["status"], new["status"]) == (first["plan_id"], "superseded", "active")
    assert all(leg["status"] in ("superseded", "done") for leg in old["legs"])
    assert k.ledger("SELECT status FROM plans WHERE plan_id = ?", (first["plan_id"],))[0]["status"] == "superseded"
    assert k.state()["rebalance"]["last_quarter"] == "2027q1"
    k.run_ticks(eve + timedelta(hours=3), minutes=30)
    assert len(k.orders(first["plan_id"])) == sent_by_first  # a superseded plan never sends again
    assert len(k.orders(new["plan_id"])) > 0


def test_dry_run_on_a_fresh_install_creates_nothing(kairos: Kairos) -> None:
    for args in DRY_RUNS:
        r = kairos(*args, "--dry-run")
        assert r.code == 0, (args, r.err)
    assert not kairos.state_file.exists() and not kairos.ledger_file.exists()
    assert kairos.orders() == []


def test_dry_run_prints_the_plan_table_and_the_schedule(kairos: Kairos) -> None:
    r = kairos("--quarterly-rebalance-twap", "--dry-run")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    header = next(l for l in lines if "보유량" in l)
    for column in ("코인", "평가액(KRW)", "현재", "목표", "차이(KRW)", "주문"):
        assert column in header
    assert any(l.split("] ", 1)[1].startswith("BTC") and "매수 1,200,000 KRW" in l for l in lines)
    slots = [l for l in lines if " KST  " in l]
    assert len(slots) == 12 + 12 + 24 + 24  # BTC and ETH calm, XRP and SOL volatile on this date
    assert "[드라이런]" in r.out


@pytest.mark.parametrize("extra", [(), ("--json",)])
def test_dry_run_leaves_orders_state_and_ledger_byte_for_byte(kairos: Kairos, extra: tuple[str, ...]) -> None:
    k = kairos
    assert k("--quarterly-rebalance-twap").code == 0
    assert k.run_ticks(START + timedelta(minutes=15))
    k.at(START + timedelta(minutes=30))  # slot 2 of the calm legs is due now
    gc.collect()  # close the ledger connections of earlier in-process runs (a WAL checkpoint)
    files = [k.state_file, k.ledger_file, k.ledger_file.with_name("kairos.db-wal")]
    before = [sha256(p) for p in files]
    backups_before = sorted(p.name for p in (k.state_file.parent / "backups").iterdir())
    orders_before = len(k.orders())
    outputs = {}
    for args in DRY_RUNS:
        r = k(*args, "--dry-run", *extra)
        assert r.code == 0, (args, r.err)
        outputs[args[0]] = r.out
    gc.collect()
    assert [sha256(p) for p in files] == before
    assert sorted(p.name for p in (k.state_file.parent / "backups").iterdir()) == backups_before
    assert len(k.orders()) == orders_before
    if not extra:
        assert "슬라이스 2/12" in outputs["--process-twap"]  # it did show what would run now
        assert "[드라이런]" in outputs["--weekly-analysis"]
    # and a real tick afterwards does send that slice: the dry run only looked
    assert k("--process-twap").code == 0
    assert len(k.orders()) > orders_before


def test_dry_run_tells_the_same_decision_as_the_real_run_when_the_quarter_is_done(kairos: Kairos) -> None:
    k = kairos
    assert k("--quarterly-rebalance").code == 0
    deposit_krw(k, 3_000_000)  # off target, but this quarter's rebalance already ran
    k.step(minutes=60)
    real = k("--quarterly-rebalance")
    dry = k("--quarterly-rebalance", "--dry-run")
    assert real.code == dry.code == 0
    assert "이미" in real.out and "이미" in dry.out
    assert "보유량" not in dry.out  # no plan table for a run that would not trade
    forced = k("--quarterly-rebalance", "--dry-run", "--force")
    assert "보유량" in forced.out and "매수" in forced.out


def test_dry_run_twap_says_an_active_plan_blocks_it(kairos: Kairos) -> None:
    k = kairos
    assert k("--quarterly-rebalance-twap").code == 0
    plan_id = k.plan()["plan_id"]
    never = {"last_quarter": None, "at": None, "kind": None, "completed": True, "plan_id": None}
    k.state_file.write_text(json.dumps({**k.state(), "rebalance": never}), encoding="utf-8")  # as if never run this quarter
    real_dry = k("--quarterly-rebalance-twap", "--dry-run")
    assert real_dry.code == 0 and plan_id in real_dry.out and "--force" in real_dry.out
    assert " KST  " not in real_dry.out  # no schedule for a plan that would not be made


def test_the_twap_schedule_uses_wilder_atr_over_a_hundred_daily_candles(kairos: Kairos) -> None:
    """The ATR % that picks 12 or 24 slices equals TA-Lib's ATR over the last 100 completed daily candles
    (it used to be a 15-candle window, i.e. a plain 14-day mean: the other side of 5 % on 6–11 % of days)."""
    from kairos.core.series import wilder_atr

    assert kairos("--quarterly-rebalance-twap").code == 0
    now_ms = to_ms(kairos.now)
    for leg in kairos.plan()["legs"]:
        candles, _ = kairos.app.model.candles(leg["target"], "1d", now_ms, end_ms=now_ms, size=200)
        done = sorted((c for c in candles if c["timestamp"] + 86_400_000 <= now_ms), key=lambda c: c["timestamp"])[-100:]
        assert len(done) == 100
        atr = wilder_atr([c["high"] for c in done], [c["low"] for c in done], [c["close"] for c in done], 14)
        expected = atr.iloc[-1] / float(done[-1]["close"])
        assert float(leg["atr_pct"]) == pytest.approx(expected, rel=1e-9)
        assert leg["volatile"] == (Decimal(leg["atr_pct"]) > Decimal("0.05"))
