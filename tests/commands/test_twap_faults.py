"""The TWAP engine when things go wrong: lost responses, killed processes, overlapping cron runs,
not enough KRW, a held lock. Real commands against the simulator; real processes where it matters."""
from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from kairos.sim.faults import Fault
from tests.commands.conftest import ONE_COIN, START, Kairos, sha256

BUSY = "다른 KAIROS-1 작업이 실행 중이라"


def one_coin(k: Kairos, **execution: Any) -> None:
    k.configure(strategy={"portfolio": ONE_COIN}, execution={"atr_threshold": 1, **execution})


def start_plan(k: Kairos) -> dict[str, Any]:
    r = k("--quarterly-rebalance-twap")
    assert r.code == 0, r.err
    return k.plan()


def uoid(plan: dict[str, Any], slot: int, attempt: int = 1) -> str:
    """The part of a slice's user_order_id after k1-<installation>-."""
    return f"{plan['plan_id']}-eth-s{slot:03d}-a{attempt}"


def record(k: Kairos, plan: dict[str, Any], user_order_id: str) -> dict[str, Any]:
    [found] = [o for o in k.plan(plan["plan_id"])["legs"][0]["orders"] if o["uoid"].endswith("-" + user_order_id)]
    return found


def assert_one_order_per_user_order_id(k: Kairos) -> None:
    counts = Counter(o.user_order_id for o in k.orders())
    assert counts and max(counts.values()) == 1, counts


# ---- a response lost after the exchange accepted the order ------------------------------------------
def test_a_dropped_order_response_is_found_by_user_order_id_on_the_next_tick(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    plan = start_plan(k)
    k.app.faults.add(Fault("drop", path="/v2.1/order"))
    k.at(START + timedelta(minutes=30))
    r = k("--process-twap")
    assert r.code == 0, r.err
    placed = k.orders(uoid(plan, 1))
    assert len(placed) == 1  # the exchange has it…
    lost_answer = record(k, plan, uoid(plan, 1))
    assert lost_answer["status"] == "unknown" and lost_answer["order_id"] is None  # …we never heard back
    assert "❓" in k("--twap-status").out

    k.step(minutes=15)
    assert k("--process-twap").code == 0
    found = record(k, plan, uoid(plan, 1))
    assert (found["status"], found["order_id"]) == ("done", placed[0].order_id)
    assert Decimal(found["executed_krw"]) == placed[0].traded_amount > 0
    assert len(k.orders(plan["plan_id"])) == 2  # nothing re-sent
    k.run_ticks(START + timedelta(hours=6))
    assert_one_order_per_user_order_id(k)
    final = k.plan(plan["plan_id"])
    assert final["status"] == "completed" and len(k.orders(plan["plan_id"])) == 12
    assert Decimal(final["summary"]["legs"]["ETH"]["shortfall"]) < 5000  # the dropped slice's fill counted


# ---- a process killed between writing the intent and saving the result ----------------------------------
def crash_index(probe: Kairos, point: str, trace: Path) -> int:
    """Run the tick in-process with crash injection armed but never firing; the N of `point`."""
    r = probe("--process-twap", environ={"KAIROS_CRASH_AT": "1000000", "KAIROS_CRASH_TRACE": str(trace)})
    assert r.code == 0, r.err
    hits = [line.split() for line in trace.read_text().splitlines()]
    return next(int(n) for n, name in hits if name == point)


@pytest.mark.parametrize("point", ["order.placed", "intent.after"])
def test_a_killed_tick_is_reconciled_by_the_next_one_without_a_duplicate(make_kairos, tmp_path: Path, point: str) -> None:
    probe, real = make_kairos(name="probe"), make_kairos(name="real")
    for k in (probe, real):  # two identical installations: the probe tells which I/O point to kill at
        one_coin(k)
        plan = start_plan(k)
        k.at(START + timedelta(minutes=30))
    n = crash_index(probe, point, tmp_path / "probe.trace")

    trace = tmp_path / "real.trace"
    killed = real.process("--process-twap", KAIROS_CRASH_AT=str(n), KAIROS_CRASH_TRACE=str(trace))
    assert killed.code == -9, killed.err  # SIGKILL
    assert trace.read_text().splitlines()[-1] == f"{n} {point}"
    assert record(real, plan, uoid(plan, 1))["status"] == "intent"  # the intent survived on disk
    on_exchange = real.orders(uoid(plan, 1))
    assert len(on_exchange) == (1 if point == "order.placed" else 0)

    real.step(minutes=15)
    nxt = real.process("--process-twap")  # the next cron tick, a new process
    assert nxt.code == 0, nxt.err
    if point == "order.placed":
        found = record(real, plan, uoid(plan, 1))
        assert (found["status"], found["order_id"]) == ("done", on_exchange[0].order_id)
        assert Decimal(found["executed_krw"]) == on_exchange[0].traded_amount
        [row] = real.ledger("SELECT status, executed_krw FROM orders WHERE user_order_id LIKE '%-' || ?", (uoid(plan, 1),))
        assert (row["status"], Decimal(row["executed_krw"])) == ("done", on_exchange[0].traded_amount)
        assert len(real.orders(plan["plan_id"])) == 2  # slot 1 ran once, and slot 2 is not due yet
    else:
        assert record(real, plan, uoid(plan, 1))["status"] == "unknown"  # not found once; not yet lost
        assert len(real.orders(plan["plan_id"])) == 1
    real.run_ticks(START + timedelta(hours=6))
    assert_one_order_per_user_order_id(real)
    final = real.plan(plan["plan_id"])
    assert final["status"] == "completed"
    slots = Counter(o["slot"] for o in final["legs"][0]["orders"] if Decimal(o.get("executed_krw") or 0) > 0)
    assert max(slots.values()) == 1  # no slot was executed twice
    assert Decimal(final["summary"]["legs"]["ETH"]["shortfall"]) < 5000  # no fill lost
    if point == "intent.after":
        assert record(real, plan, uoid(plan, 1))["status"] == "lost"


# ---- overlapping cron runs ---------------------------------------------------------------------------------
def test_ten_overlapping_ticks_exactly_one_acts(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    plan = start_plan(k)
    k.at(START + timedelta(minutes=30))
    before = len(k.orders())
    # whoever gets the lock holds it a while (its ticker read is slow), so the others overlap it
    k.app.faults.add(Fault("latency", path="/public/v2/ticker_new*", seconds=3.0))
    procs = [k.popen("--process-twap") for _ in range(10)]
    parsed = 0
    deadline = time.monotonic() + 60
    while any(p.poll() is None for p in procs):
        assert time.monotonic() < deadline, "processes did not finish"
        if k.state_file.exists():
            json.loads(k.state_file.read_bytes())  # the state file always parses, mid-run included
            parsed += 1
        time.sleep(0.01)
    outputs = [(p.returncode, *p.communicate(timeout=10)) for p in procs]
    assert [code for code, _, _ in outputs] == [0] * 10, [err for _, _, err in outputs]
    acted = [out for _, out, _ in outputs if "슬라이스 2/12" in out]
    busy = [out for _, out, _ in outputs if BUSY in out]
    assert len(acted) == 1
    assert len(busy) >= 1 and len(acted) + len(busy) <= 10
    assert len(k.orders()) == before + 1
    assert_one_order_per_user_order_id(k)
    assert parsed > 0 and k.plan(plan["plan_id"])["legs"][0]["slots_used"] == 2


def test_a_tick_while_another_run_holds_the_lock_exits_quietly_and_does_nothing(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    start_plan(k)
    k.at(START + timedelta(minutes=30))
    before, orders = sha256(k.state_file), len(k.orders())
    with FileLock(str(k.home / "data" / "mock" / "kairos.lock")):
        r = k("--process-twap")
    assert (r.code, r.err) == (0, "")
    assert BUSY in r.out
    assert sha256(k.state_file) == before and len(k.orders()) == orders
    assert "--process-twap skipped" in (k.home / "logs" / "kairos.log").read_text(encoding="utf-8")
    assert k("--process-twap").code == 0 and len(k.orders()) == orders + 1  # the next free tick does the work


# ---- not enough KRW ---------------------------------------------------------------------------------------------
def test_without_krw_slices_shrink_then_wait_alert_once_and_the_plan_expires(kairos: Kairos) -> None:
    k = kairos
    one_coin(k, expiry_grace_minutes=60)
    k.configure(notifications={"dedupe_minutes": 0})  # only the engine's own once-per-wait rule stops repeats
    plan = start_plan(k)
    k.set_krw(Decimal(100_000))  # the KRW went elsewhere
    k.at(START + timedelta(minutes=30))
    assert k("--process-twap").code == 0
    shrunk = k.orders(uoid(plan, 1))[0]
    assert shrunk.original_amount == Decimal(99_500)  # sized down to what is there, less the fee buffer
    k.run_ticks(START + timedelta(hours=6, minutes=30))  # end 05:30 + 60 min grace: still waiting at 06:30
    assert len(k.orders(plan["plan_id"])) == 2
    waiting = k.plan(plan["plan_id"])
    assert waiting["status"] == "active" and waiting["legs"][0]["waiting"]["code"] == "insufficient_krw"
    assert "⏸️ 대기: KRW 부족" in k("--twap-status").out
    stalled = k.alerts("twap_stalled")
    assert [a["dedupe_key"] for a in stalled] == [f"wait:{plan['plan_id']}:ETH:insufficient_krw"]  # 24 ticks, 1 alert

    k.run_ticks(START + timedelta(hours=8))
    expired = k.plans()[0]
    assert expired["status"] == "expired" and expired["closed_at"] == (START + timedelta(hours=6, minutes=45)).isoformat()
    leg = expired["summary"]["legs"]["ETH"]
    filled = sum(o.traded_amount for o in k.orders(plan["plan_id"]))
    assert Decimal(leg["shortfall"]) == Decimal(3_000_000) - filled > 0
    assert [a["dedupe_key"] for a in k.alerts("twap_stalled")] == [
        f"wait:{plan['plan_id']}:ETH:insufficient_krw", f"twap_expired:{plan['plan_id']}"]
    [archived] = k.ledger("SELECT status FROM plans WHERE plan_id = ?", (plan["plan_id"],))
    assert archived["status"] == "expired"
    k.set_krw(Decimal(5_000_000))  # money back: an expired plan still never runs again
    k.run_ticks(START + timedelta(hours=9))
    assert len(k.orders(plan["plan_id"])) == 2


def test_a_market_data_failure_during_a_tick_sends_nothing_and_keeps_the_state(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    plan = start_plan(k)
    k.at(START + timedelta(minutes=30))
    before = sha256(k.state_file)
    k.app.faults.add(Fault("http_5xx", path="/public/v2/ticker_new*", count=4, status=503))
    r = k("--process-twap")
    assert r.code == 1 and "ticker" in r.err.splitlines()[-1]
    assert sha256(k.state_file) == before and len(k.orders(plan["plan_id"])) == 1
    k.step(minutes=15)
    assert k("--process-twap").code == 0 and len(k.orders(plan["plan_id"])) == 2  # the next tick catches up


# ---- a regime flip waiting for an unknown order -------------------------------------------------------------
def test_a_flip_waits_for_an_unknown_order_which_is_lost_only_after_three_separate_runs(make_kairos, model: Any) -> None:
    from tests.commands.test_twap_lifecycle import Shock

    market = Shock(model)
    k: Kairos = make_kairos(market=market)
    one_coin(k)
    plan = start_plan(k)
    k.app.faults.add(Fault("timeout", path="/v2.1/order", process=False))  # sent, never arrived
    k.at(START + timedelta(minutes=30))
    assert k("--process-twap").code == 0
    assert record(k, plan, uoid(plan, 1))["status"] == "unknown"

    market.factor["BTC"] = Decimal("1.5")  # BTC far above its band: risk-on, a flip
    k.step(minutes=5)
    flip = k("--weekly-analysis")  # run 1: not found once → the rebalance waits
    assert flip.code == 0, flip.err
    assert k.state()["pending_rebalance"]["regime"] == "risk_on"
    seen = [(record(k, plan, uoid(plan, 1))["status"], record(k, plan, uoid(plan, 1))["not_found"])]
    for _ in range(2):  # runs 2 and 3: the next cron ticks
        k.step(minutes=15)
        assert k("--process-twap").code == 0
        seen.append((record(k, plan, uoid(plan, 1))["status"], record(k, plan, uoid(plan, 1))["not_found"]))
    assert seen == [("unknown", 1), ("unknown", 2), ("lost", 3)]  # one "not found" per run, lost on the third
    assert [p["status"] for p in k.plans()] == ["superseded", "active"]
    assert k.state()["pending_rebalance"] is None
    assert k.orders(uoid(plan, 1)) == []


def test_a_garbled_answer_to_an_order_is_never_resent_and_reconciles_next_tick(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    plan = start_plan(k)
    k.app.faults.add(Fault("malformed_json", path="/v2.1/order", process=True))  # placed, answer unreadable
    k.at(START + timedelta(minutes=30))
    k("--process-twap")
    [placed] = k.orders(uoid(plan, 1))
    assert record(k, plan, uoid(plan, 1))["status"] in ("intent", "unknown")  # result not known yet
    k.step(minutes=15)
    assert k("--process-twap").code == 0
    found = record(k, plan, uoid(plan, 1))
    assert (found["status"], found["order_id"]) == ("done", placed.order_id)
    assert len(k.orders(plan["plan_id"])) == 2
    assert_one_order_per_user_order_id(k)


# ---- restoring the backup the error message names ------------------------------------------------------------
def test_restoring_the_named_backup_never_trades_twice(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    plan = start_plan(k)
    k.run_ticks(START + timedelta(hours=1))  # slots 0, 1, 2 sent; the 01:00 tick sent slot 2
    k.state_file.write_bytes(k.state_file.read_bytes()[:200])  # the state file is damaged
    k.step(minutes=30)
    refused = k("--process-twap")
    assert refused.code == 3
    command = refused.err.split("restore with: ", 1)[1].strip()
    source, target = command.split()[1:]
    assert Path(target) == k.state_file
    Path(target).write_bytes(Path(source).read_bytes())  # the operator follows the message
    assert len(k.plan(plan["plan_id"])["legs"][0]["orders"]) == 2  # one run behind: slot 2 is not in it

    assert k("--process-twap").code == 0  # slot 2's id is sent again: the exchange refuses it (312)
    assert record(k, plan, uoid(plan, 2))["status"] == "unknown" and len(k.orders(uoid(plan, 2))) == 1
    k.run_ticks(START + timedelta(hours=6))
    assert_one_order_per_user_order_id(k)
    final = k.plan(plan["plan_id"])
    assert final["status"] == "completed"
    spent = sum(o.traded_amount for o in k.orders(plan["plan_id"]))
    assert Decimal(3_000_000) - 5000 < spent <= Decimal(3_000_000)  # reached, and never bought twice
    assert Decimal(final["summary"]["legs"]["ETH"]["filled"]) == spent  # the restored state found every fill


# ---- safety rails mid-plan -------------------------------------------------------------------------------------
def test_the_kill_switch_stops_new_slices_and_the_plan_resumes_when_it_is_removed(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    plan = start_plan(k)
    kill = k.home / "data" / "KILL"
    kill.touch()
    for _ in range(4):
        k.step(minutes=15)
        r = k("--process-twap")
        assert r.code == 4 and "⛔" in r.out
    assert len(k.orders(plan["plan_id"])) == 1
    assert "⛔" in k("--twap-status").out
    assert len(k.alerts("critical_risk")) == 1  # one alert for the whole stop, not one per tick
    kill.unlink()
    k.step(minutes=15)
    assert k("--process-twap").code == 0
    orders = k.orders(plan["plan_id"])
    assert len(orders) == 2 and orders[1].original_amount > Decimal(250_000)  # one catch-up slice


def test_the_daily_cap_makes_slices_wait_until_the_next_korean_day(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    k.configure(trading={"max_daily_krw": 600_000}, notifications={"dedupe_minutes": 0})
    plan = start_plan(k)
    k.run_ticks(START + timedelta(hours=5, minutes=30))
    assert len(k.orders(plan["plan_id"])) == 2  # 250,000 × 2; a third would pass 600,000 today
    leg = k.plan(plan["plan_id"])["legs"][0]
    assert leg["waiting"]["code"] == "safety" and "max_daily_krw" in leg["waiting"]["why"]
    assert [a["dedupe_key"] for a in k.alerts("critical_risk")] == [f"wait:{plan['plan_id']}:ETH:safety"]
    k.at(START + timedelta(hours=15))  # 00:00 KST the next day: a new daily budget
    k.configure(execution={"expiry_grace_minutes": 720})  # (the plan's end + grace is still ahead)
    assert k("--process-twap").code == 0
    assert len(k.orders(plan["plan_id"])) == 3
    assert sum(o.original_amount for o in k.orders(plan["plan_id"])[2:]) <= 600_000


def test_a_plan_past_its_end_and_grace_expires_without_sending_another_slice(kairos: Kairos) -> None:
    k = kairos
    one_coin(k, expiry_grace_minutes=60)
    plan = start_plan(k)
    k.run_ticks(START + timedelta(hours=1))  # slots 0..2, then cron stops
    k.at(START + timedelta(hours=6, minutes=45))  # end 05:30 + 60 min grace has passed
    preview = k("--process-twap", "--dry-run")
    assert preview.code == 0 and "(지금 실행할 슬라이스 없음)" in preview.out
    r = k("--process-twap")
    assert r.code == 0, r.err
    assert len(k.orders(plan["plan_id"])) == 3  # nothing sent for a plan that is already past its deadline
    expired = k.plan(plan["plan_id"])
    assert expired["status"] == "expired"
    filled = sum(o.traded_amount for o in k.orders(plan["plan_id"]))
    assert Decimal(expired["summary"]["legs"]["ETH"]["shortfall"]) == Decimal(3_000_000) - filled


def test_an_exchange_balance_refusal_that_persists_alerts_once(kairos: Kairos) -> None:
    k = kairos
    one_coin(k)
    # no fee buffer: the engine's own estimate says the slice fits, the exchange (which wants the fee too) says 103
    k.configure(strategy={"rebalance": {"fee_buffer": 0}}, notifications={"dedupe_minutes": 0})
    plan = start_plan(k)
    k.set_krw(Decimal(100_000))
    k.run_ticks(START + timedelta(hours=2))
    leg = k.plan(plan["plan_id"])["legs"][0]
    assert leg["waiting"]["code"] == "insufficient"
    assert [o["status"] for o in leg["orders"][1:]] == ["rejected"] * (len(leg["orders"]) - 1)
    assert len(k.orders(plan["plan_id"])) == 1  # refused requests never became orders
    stalled = [a["dedupe_key"] for a in k.alerts("twap_stalled")]
    assert stalled == [f"wait:{plan['plan_id']}:ETH:insufficient"]  # one alert for the whole wait
    k.set_krw(Decimal(5_000_000))  # money back: the next slice goes, and the wait is over
    k.step(minutes=15)
    assert k("--process-twap").code == 0
    assert len(k.orders(plan["plan_id"])) == 2 and k.plan(plan["plan_id"])["legs"][0]["waiting"] is None
