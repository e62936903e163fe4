"""--cancel-twap, --pause-twap, --resume-twap: controlling one plan without the kill switch or --force."""
from __future__ import annotations

import json

import pytest
from datetime import datetime, timedelta

from kairos.sim.faults import Fault
from tests.commands.conftest import ONE_COIN, START, Kairos


def start(k: Kairos) -> dict:
    k.configure(strategy={"portfolio": ONE_COIN}, execution={"atr_threshold": 1})  # one coin, calm: 12 × 30 min
    assert k("--quarterly-rebalance-twap").code == 0
    return k.plan()


def test_cancel_cancels_open_orders_keeps_fills_and_closes_the_plan(kairos: Kairos) -> None:
    plan = start(kairos)
    kairos.app.faults.add(Fault("rest", path="/v2.1/order", seconds=24 * 3600))  # the next slice stays open
    kairos.step(minutes=30)
    assert kairos("--process-twap").code == 0
    held = [o for o in kairos.orders(plan["plan_id"]) if o.status == "LIVE"]
    assert len(held) == 1
    result = kairos("--cancel-twap", plan["plan_id"], "--lang", "en")
    assert result.code == 0, result.err
    assert f"TWAP {plan['plan_id']} canceled: 1 open order(s) cancelled, fills kept" in result.out
    closed = kairos.plan(plan["plan_id"])
    assert closed["status"] == "canceled" and closed["summary"]["legs"]["ETH"]["filled"] != "0"
    assert [o.status for o in kairos.orders(plan["plan_id"]) if o.order_id == held[0].order_id] == ["CANCELED"]
    [archived] = kairos.ledger("SELECT status FROM plans WHERE plan_id = ?", (plan["plan_id"],))
    assert archived["status"] == "canceled"
    kairos.step(minutes=30)
    before = len(kairos.orders())
    assert kairos("--process-twap").code == 0 and len(kairos.orders()) == before  # it never trades again
    assert kairos("--cancel-twap", plan["plan_id"], "--lang", "en").code == 2  # not active any more: one line


def test_pause_stops_orders_and_resume_continues_from_the_resume_time(kairos: Kairos) -> None:
    plan = start(kairos)
    assert kairos("--pause-twap", plan["plan_id"], "--lang", "en").code == 0
    sent = len(kairos.orders(plan["plan_id"]))
    for _ in range(6):  # three hours paused: no order
        kairos.step(minutes=30)
        assert kairos("--process-twap").code == 0
    assert len(kairos.orders(plan["plan_id"])) == sent and kairos.plan()["status"] == "active"
    resumed = kairos("--resume-twap", plan["plan_id"], "--lang", "en")
    assert resumed.code == 0 and "the remaining slots start now" in resumed.out
    moved = kairos.plan()
    assert datetime.fromisoformat(moved["end_at"]) == datetime.fromisoformat(plan["end_at"]) + timedelta(hours=3)
    kairos.step(minutes=30)
    assert kairos("--process-twap").code == 0
    assert len(kairos.orders(plan["plan_id"])) == sent + 1  # the next slot, not a burst of the missed ones
    kairos.run_ticks(datetime.fromisoformat(moved["end_at"]) + timedelta(minutes=30), minutes=30)
    assert kairos.plan()["status"] == "completed"


def test_an_unknown_plan_id_is_one_line_naming_the_active_ones(kairos: Kairos) -> None:
    plan = start(kairos)
    result = kairos("--pause-twap", "tw-nope", "--lang", "en")
    assert result.code == 2 and f"tw-nope: no such plan (active plans: {plan['plan_id']}" in result.err
    assert json.loads(kairos("--pause-twap", "tw-nope", "--json").out)["exit_code"] == 2
    assert START < datetime.fromisoformat(plan["end_at"])


def test_a_finished_plan_prints_its_summary_in_the_readers_language(kairos: Kairos) -> None:
    kairos.configure(strategy={"portfolio": ONE_COIN},
                     execution={"atr_threshold": 1, "calm": {"slices": 2, "interval_minutes": 15}})
    assert kairos("--quarterly-rebalance-twap").code == 0
    kairos.step(minutes=15)
    slice_two = kairos("--process-twap", "--lang", "en")
    assert "filled (remainder below one unit)" in slice_two.out  # a successful buy reads as filled
    assert "CANCELED_UNDER_PRODUCT_UNIT" not in slice_two.out
    kairos.step(minutes=15)
    en = kairos("--process-twap", "--lang", "en")
    assert "closed: completed" in en.out
    [line] = [l for l in en.out.splitlines() if "• ETH BUY: target" in l]
    assert "filled" in line and "vs arrival" in line and "fees" in line
    assert "CANCELED_UNDER_PRODUCT_UNIT" not in en.out.split("closed:")[1]
    ko = kairos("--twap-status")
    assert "지난 계획:" in ko.out and "(완료)" in ko.out and "• ETH 매수: 목표" in ko.out and "도착가 대비" in ko.out
    [alert] = kairos.alerts("twap_complete")
    assert alert["dedupe_key"].startswith("twap_completed:")


@pytest.mark.parametrize("lang, paused, resumed, done, kill", [
    ("ko", "TWAP {p} 일시 정지", "TWAP {p} 재개", "TWAP {p} 완료", "KAIROS-1 거래 중지 (킬 스위치)"),
    ("en", "TWAP {p} paused", "TWAP {p} resumed", "TWAP {p} completed", "KAIROS-1 trading stopped (kill switch)"),
])
def test_control_kill_and_end_of_plan_alerts_speak_the_configured_language(
        kairos: Kairos, lang: str, paused: str, resumed: str, done: str, kill: str) -> None:
    from tests.notify import SlackServer

    with SlackServer() as slack:
        kairos.configure(language=lang, notifications={"slack": {"enabled": True, "webhook_url": slack.url},
                                                       "alert_levels": {"info": ["slack"], "warning": ["slack"],
                                                                        "critical": ["slack"]}})
        plan = start(kairos)
        p = plan["plan_id"]
        assert kairos("--pause-twap", p).code == 0 and kairos("--resume-twap", p).code == 0
        kill_file = kairos.home / "data" / "KILL"
        kill_file.write_text("", encoding="utf-8")
        kairos.step(minutes=30)
        assert kairos("--process-twap").code == 4
        kill_file.unlink()
        kairos.run_ticks(datetime.fromisoformat(kairos.plan()["end_at"]) + timedelta(minutes=30), minutes=30)
        assert kairos.plan()["status"] == "completed"
    text = json.dumps(slack.bodies, ensure_ascii=False)
    for title in (paused, resumed, done, kill):
        assert title.format(p=p) in text
    other = ("paused", "resumed", "trading stopped", "leg failed") if lang == "ko" else ("일시 정지", "재개", "거래 중지")
    assert not any(word in text for word in other)
