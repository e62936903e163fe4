"""--weekly-analysis against the simulator: hysteresis across real processes, a flip starts the TWAP
rebalance, and without market data no decision is made.

Weeks of the default market model (BTC ticker `last` vs the 200-week MA of completed weeks):
2026-08-10 ratio ≈ 1.07 (above the band), 2026-08-17 ≈ 0.97 (inside, below the MA),
2026-08-31 ≈ 0.92 (below the band), 2026-09-07 ≈ 0.90.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

from kairos.sim.faults import Fault
from tests.commands.conftest import Kairos, sha256

UTC = timezone.utc
ABOVE, INSIDE, BELOW = (datetime(2026, 8, day, tzinfo=UTC) for day in (10, 17, 31))
LATER = datetime(2026, 9, 7, tzinfo=UTC)


def analysis(k: Kairos) -> dict:
    return k.state()["season"]["last_analysis"]


def test_hysteresis_and_flip_across_processes(kairos: Kairos) -> None:
    k = kairos
    k.at(ABOVE)
    first = k.process("--weekly-analysis")
    assert first.code == 0, first.err
    assert (analysis(k)["zone"], k.state()["season"]["regime"]) == ("above", "risk_on")
    assert "첫 판단" in first.out

    k.at(INSIDE)  # a new process, a week later: inside the band and even below the MA
    kept = k.process("--weekly-analysis")
    assert kept.code == 0, kept.err
    a = analysis(k)
    assert a["zone"] == "inside" and Decimal(a["ratio"]) < 1
    assert (k.state()["season"]["regime"], a["changed"], a["previous"]) == ("risk_on", False, "risk_on")
    assert k.state()["season"]["since"] == ABOVE.isoformat()  # the regime started the week before
    assert "변화 없음" in kept.out and k.plans() == [] and k.orders() == []

    k.at(BELOW)
    flip = k.process("--weekly-analysis")
    assert flip.code == 0, flip.err
    season = k.state()["season"]
    assert (season["regime"], season["since"], analysis(k)["changed"]) == ("risk_off", BELOW.isoformat(), True)
    [plan] = k.plans()
    assert (plan["status"], plan["kind"], plan["regime"]) == ("active", "season_change", "risk_off")
    assert {leg["side"] for leg in plan["legs"]} == {"BUY"}  # all cash → 30 % crypto
    [alert] = k.alerts("immediate_rebalance")
    assert alert["dedupe_key"] == f"twap_start:{plan['plan_id']}"
    assert [r["alert_type"] for r in k.alerts("season_change")] == ["season_change"]
    placed = k.orders(plan["plan_id"])
    assert placed and len(placed) == len(plan["legs"])  # the first slice of every leg went out at once
    assert "국면 전환" in flip.out

    k.at(LATER)
    k.app.faults.add(Fault("http_5xx", path="/public/v2/chart*", count=50, status=502))
    state_before, decisions_before = sha256(k.state_file), len(k.ledger("SELECT * FROM decisions"))
    failed = k.process("--weekly-analysis")
    assert failed.code == 1
    # the reads were retried (warnings), then one error line says why no decision was made
    assert failed.err.splitlines()[-1].startswith("오류: no decision: BTC/KRW weekly candles unavailable")
    assert sha256(k.state_file) == state_before
    assert len(k.ledger("SELECT * FROM decisions")) == decisions_before
    assert len(k.orders()) == len(placed)


def test_a_first_run_inside_the_band_decides_by_the_ma_and_says_so(make_kairos) -> None:
    k: Kairos = make_kairos(now=INSIDE)
    r = k("--weekly-analysis")
    assert r.code == 0, r.err
    assert (k.state()["season"]["regime"], analysis(k)["zone"]) == ("risk_off", "inside")  # price < MA
    assert "첫 판단" in r.out and "밴드 안" in r.out
    assert k.plans() == []  # a first decision is not a flip: no rebalance


def test_the_flip_respects_rebalance_on_season_change_off(make_kairos) -> None:
    k: Kairos = make_kairos(now=ABOVE)
    k.configure(strategy={"rebalance": {"rebalance_on_season_change": False}})
    assert k("--weekly-analysis").code == 0
    k.at(BELOW)
    r = k("--weekly-analysis")
    assert r.code == 0, r.err
    assert k.state()["season"]["regime"] == "risk_off"
    assert "rebalance_on_season_change" in r.out
    assert k.plans() == [] and k.orders() == [] and k.alerts("immediate_rebalance") == []


def test_a_failed_ticker_after_good_candles_makes_no_decision(make_kairos) -> None:
    k: Kairos = make_kairos(now=ABOVE)
    k.app.faults.add(Fault("malformed_json", path="/public/v2/ticker_new*", count=50))
    r = k("--weekly-analysis")
    assert r.code == 1 and "no decision" in r.err
    assert not k.state_file.exists()


def test_fewer_completed_weeks_than_the_ma_needs_is_an_error_not_a_decision(make_kairos) -> None:
    k: Kairos = make_kairos(now=ABOVE)
    k.configure(strategy={"season_filter": {"ma_weeks": 600}})  # BTC is listed 2016: ~550 weeks by 2026
    r = k("--weekly-analysis")
    assert r.code == 1
    assert "need 600 completed weekly candles" in r.err and len(r.err.splitlines()) == 1
    assert not k.state_file.exists()


def test_json_output_and_the_decision_in_the_ledger(make_kairos) -> None:
    k: Kairos = make_kairos(now=ABOVE)
    r = k("--weekly-analysis", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert (doc["regime"], doc["zone"], doc["saved"], doc["weeks"]) == ("risk_on", "above", True, 200)
    assert Decimal(doc["upper"]) == Decimal(doc["ma"]) * Decimal("1.05")
    [decision] = k.ledger("SELECT kind, payload FROM decisions")
    payload = json.loads(decision["payload"])
    assert decision["kind"] == "weekly_analysis" and payload["price"] == doc["price"] and payload["ma"] == doc["ma"]
    [snapshot] = k.ledger("SELECT total_krw, regime FROM snapshots")
    assert (Decimal(snapshot["total_krw"]), snapshot["regime"]) == (Decimal(10_000_000), "risk_on")
