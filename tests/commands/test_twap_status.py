"""--twap-status (the seed's format, --json with the same numbers, no exchange call) and --clear-failed-twap."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from filelock import FileLock

from kairos.money import fmt_krw
from tests.commands.conftest import START, Kairos


class NoExchange:
    """A simulator stand-in that fails the test on any request (and remembers it)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls.append(environ["PATH_INFO"])
        raise AssertionError(f"--twap-status called the exchange: {environ['PATH_INFO']}")


LEG = re.compile(r"^\[모의 거래소\]   • (\w+): (\d+\.\d)% \((\d+)/(\d+) 슬라이스\) (매수|매도)$")
LEFT = re.compile(r"^\[모의 거래소\]     남은 금액: ([\d,]+) KRW")
HOURS = re.compile(r"^\[모의 거래소\]     남은 시간: (\d+\.\d)시간$")


def parse(out: str) -> dict[str, dict[str, str]]:
    """coin → the numbers of its block in the text output."""
    legs: dict[str, dict[str, str]] = {}
    coin = None
    for line in out.splitlines():
        if m := LEG.match(line):
            coin = m.group(1)
            legs[coin] = {"pct": m.group(2), "used": m.group(3), "slices": m.group(4), "side": m.group(5)}
        elif coin and (m := LEFT.match(line)):
            legs[coin]["left"] = m.group(1)
        elif coin and (m := HOURS.match(line)):
            legs[coin]["hours"] = m.group(1)
    return legs


def test_status_prints_the_seed_format_and_json_gives_the_same_numbers(kairos: Kairos) -> None:
    k = kairos
    assert k("--quarterly-rebalance-twap").code == 0
    k.run_ticks(START + timedelta(hours=2))
    spy = NoExchange()
    text = k("--twap-status", sim_app=spy)
    data = k("--twap-status", "--json", sim_app=spy)
    assert (text.code, data.code, spy.calls) == (0, 0, [])
    lines = text.out.splitlines()
    assert lines[0] == "[모의 거래소] ✅ TWAP 상태:"
    assert lines[1] == "[모의 거래소] 활성 주문 수: 4개"
    shown = parse(text.out)
    assert list(shown) == ["BTC", "ETH", "XRP", "SOL"]
    doc = json.loads(data.out)
    assert doc["active_legs"] == 4
    [plan] = doc["plans"]
    for leg in plan["legs"]:
        s = shown[leg["target"]]
        total, remaining = Decimal(leg["total"]), Decimal(leg["remaining"])
        assert s["pct"] == f"{(1 - remaining / total) * 100:.1f}"
        assert (int(s["used"]), int(s["slices"])) == (leg["slices_done"], leg["slices"])
        assert s["left"] == fmt_krw(remaining)
        assert s["hours"] == f"{leg['hours_left']:.1f}"
        hours = (datetime.fromisoformat(leg["end_at"]) - k.now).total_seconds() / 3600
        assert abs(leg["hours_left"] - hours) < 0.01
        assert s["side"] == "매수" and leg["side"] == "BUY"
        assert Decimal(leg["filled"]) + remaining == total
    # after 2 hours: calm legs (30 min) have done slots 0-4, volatile legs (60 min) slots 0-2
    assert {c: int(s["used"]) for c, s in shown.items()} == {"BTC": 5, "ETH": 5, "XRP": 3, "SOL": 3}
    assert {c: s["hours"] for c, s in shown.items()} == {"BTC": "3.5", "ETH": "3.5", "XRP": "21.0", "SOL": "21.0"}
    state = k.state()["plans"][0]
    assert Decimal(plan["progress"]) > 0 and plan["plan_id"] == state["plan_id"]


def test_status_shows_cost_against_arrival_and_reads_no_lock(kairos: Kairos) -> None:
    k = kairos
    assert k("--quarterly-rebalance-twap").code == 0
    with FileLock(str(k.home / "data" / "mock" / "kairos.lock")):  # a tick is running: status still answers
        r = k("--twap-status", sim_app=NoExchange())
    assert r.code == 0
    assert "평균 체결가:" in r.out and "도착가 대비" in r.out


def test_no_active_plan(kairos: Kairos) -> None:
    r = kairos("--twap-status", sim_app=NoExchange())
    assert r.code == 0 and "활성 TWAP 계획이 없습니다." in r.out
    doc = json.loads(kairos("--twap-status", "--json", sim_app=NoExchange()).out)
    assert (doc["active_legs"], doc["plans"]) == (0, [])


def test_clear_failed_archives_superseded_and_expired_plans_and_prints_them(kairos: Kairos) -> None:
    k = kairos
    k.configure(execution={"atr_threshold": 1, "expiry_grace_minutes": 0})
    assert k("--quarterly-rebalance-twap").code == 0
    k.step(minutes=30)
    assert k("--quarterly-rebalance-twap", "--force").code == 0  # supersedes the first plan
    superseded, starved = k.plans()
    k.set_krw(Decimal(1000))  # the second plan cannot continue, and expires after its end
    k.run_ticks(START + timedelta(hours=7), minutes=30)
    assert [p["status"] for p in k.plans()] == ["superseded", "expired"]
    status = k("--twap-status").out
    assert f"{superseded['plan_id']} (대체됨)" in status and f"{starved['plan_id']} (만료)" in status  # words, in Korean
    assert "부족분" in status  # and the recent plans' summaries: what each coin got and what is missing

    r = k("--clear-failed-twap")
    assert r.code == 0, r.err
    assert f"정리한 계획: {superseded['plan_id']} (대체됨), {starved['plan_id']} (만료)" in r.out
    assert k.plans() == []
    archived = {row["plan_id"]: row["status"] for row in k.ledger("SELECT plan_id, status FROM plans")}
    assert archived == {superseded["plan_id"]: "superseded", starved["plan_id"]: "expired"}
    assert not any(starved["plan_id"] in key for key in k.state()["notices"])
    again = k("--clear-failed-twap", "--json")
    assert json.loads(again.out)["removed"] == []


def test_clear_failed_keeps_active_and_completed_plans(kairos: Kairos) -> None:
    k = kairos
    k.configure(strategy={"portfolio": {"core": {"ETH": 1.0}, "satellite": {}}}, execution={"atr_threshold": 1})
    assert k("--quarterly-rebalance-twap").code == 0
    before = k.plans()
    r = k("--clear-failed-twap")
    assert r.code == 0 and "정리할 실패/만료/대체 계획이 없습니다." in r.out
    assert [p["plan_id"] for p in k.plans()] == [p["plan_id"] for p in before]
    k.run_ticks(START + timedelta(hours=6), minutes=30)
    assert k.plans()[0]["status"] == "completed"
    assert k("--clear-failed-twap").code == 0 and [p["status"] for p in k.plans()] == ["completed"]
