"""A quarter that cannot be missed: a job that cannot get the lock says so (exit 1, alert), and a quarterly
rebalance not run by its first Monday 09:00 KST + 1 h is started by the next weekly or tick run."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from decimal import Decimal

from filelock import FileLock

from tests.commands.conftest import ONE_COIN, Kairos
from tests.commands.test_twap_lifecycle import Shock

UTC = timezone.utc
BEFORE_Q4 = datetime(2026, 9, 28, 0, 0, tzinfo=UTC)  # Monday 09:00 KST, last week of Q3
Q4_DUE = datetime(2026, 10, 5, 0, 0, tzinfo=UTC)  # Monday 5 October 09:00 KST: Q4's rebalance is due


def installed_before_q4(make_kairos) -> Kairos:  # noqa: ANN001 - the conftest factory
    k: Kairos = make_kairos(now=BEFORE_Q4)
    k.configure(strategy={"portfolio": ONE_COIN})
    assert k("--weekly-analysis").code == 0  # the installation exists, a regime is recorded
    return k


def test_a_weekly_job_that_cannot_get_the_lock_fails_loudly(kairos: Kairos) -> None:
    kairos.configure(state={"lock_wait_seconds": 1})
    kairos.state_file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(kairos.state_file.parent / "kairos.lock")):  # a run that holds it too long
        weekly = kairos("--weekly-analysis", "--lang", "en")
        quarterly = kairos("--quarterly-rebalance-twap", "--lang", "en")
    assert weekly.code == 1 and quarterly.code == 1  # it used to exit 0, "another run holds the lock"
    assert "--weekly-analysis did not run" in weekly.err and "state.lock_wait_seconds" in weekly.err
    assert "--quarterly-rebalance-twap did not run" in quarterly.err
    assert len([l for l in quarterly.err.splitlines() if l.strip()]) == 1
    assert len(kairos.alerts("system_error")) == 2
    assert kairos.orders() == []


def test_a_missed_quarter_is_started_late_by_the_next_tick(make_kairos) -> None:  # noqa: ANN001
    k = installed_before_q4(make_kairos)
    k.at(Q4_DUE + timedelta(minutes=59))  # the cron job may still be on its way: nothing yet
    assert k("--process-twap").code == 0 and k.orders() == []
    k.at(Q4_DUE + timedelta(hours=1))
    status = k("--system-status", "--lang", "en")
    assert "Quarterly rebalance 2026q4 was due 2026-10-05 09:00 KST and has not run" in status.out
    tick = k("--process-twap", "--lang", "en")
    assert tick.code == 0, tick.err
    assert "2026q4" in tick.out and "starting it now, late" in tick.out
    assert k.state()["rebalance"]["last_quarter"] == "2026q4" and k.plan()["kind"] == "quarterly"
    assert len(k.orders()) == 1  # the first slice went out
    assert [r["dedupe_key"] for r in k.alerts("quarterly_rebalance")] == ["catch_up:2026q4"]
    k.step(minutes=15)
    assert k("--process-twap").code == 0 and k.state()["rebalance"]["last_quarter"] == "2026q4"
    assert len(k.plans()) == 1  # started once


def test_a_missed_quarter_is_started_late_by_the_weekly_analysis(make_kairos) -> None:  # noqa: ANN001
    k = installed_before_q4(make_kairos)
    k.at(Q4_DUE + timedelta(hours=2))  # the quarterly cron line was missed (the server was off at 09:00)
    weekly = k("--weekly-analysis", "--lang", "en")
    assert weekly.code == 0, weekly.err
    assert "starting it now, late" in weekly.out and k.plan()["kind"] == "quarterly"


def test_catch_up_can_be_turned_off(make_kairos) -> None:  # noqa: ANN001
    k = installed_before_q4(make_kairos)
    k.configure(strategy={"rebalance": {"catch_up": False}})
    k.at(Q4_DUE + timedelta(hours=2))
    assert k("--process-twap").code == 0 and k.orders() == []
    status = k("--system-status", "--lang", "en")
    assert "catch_up is off: run --quarterly-rebalance-twap yourself" in status.out


def test_a_new_installation_mid_quarter_has_missed_nothing(kairos: Kairos) -> None:
    assert kairos("--weekly-analysis").code == 0  # 23 November: Q4 was due 5 October, before it existed
    kairos.step(minutes=15)
    assert kairos("--process-twap").code == 0 and kairos.orders() == []


def test_a_regime_flip_rebalance_after_the_due_time_is_the_quarters_rebalance(make_kairos, model) -> None:  # noqa: ANN001
    market = Shock(model)
    k: Kairos = make_kairos(now=BEFORE_Q4, market=market)
    k.configure(strategy={"portfolio": ONE_COIN})
    assert k("--weekly-analysis").code == 0
    regime = k.state()["season"]["regime"]
    market.factor["BTC"] = Decimal("0.5") if regime == "risk_on" else Decimal("2")  # far across the band
    k.at(Q4_DUE + timedelta(days=7))
    assert k("--weekly-analysis").code == 0
    assert k.plan()["kind"] == "season_change" and k.state()["rebalance"]["last_quarter"] == "2026q4"
    k.run_ticks(Q4_DUE + timedelta(days=9))  # the plan runs to its end: no second, "late" quarterly plan
    assert [p["kind"] for p in k.plans()] == ["season_change"]
