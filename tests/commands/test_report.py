"""--performance-report end to end through kairos.cli.main: a hand-computed ledger, a real TWAP run in mock mode
with a deposit in the middle, too little history, an unreadable KRW history, and the history paging."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from kairos.cli import main
from kairos.clock import FixedClock, to_ms
from kairos.coinone.auth import Credentials
from kairos.coinone.models import KrwTransaction
from kairos.commands.report import krw_transactions
from kairos.env import Env
from kairos.ledger import Ledger
from kairos.money import fmt_krw
from kairos.schema import Secret
from kairos.settings import MockSettings
from kairos.sim.adapter import SimAdapter
from kairos.sim.factory import paper_exchange
from kairos.sim.faults import Fault

D = Decimal
UTC = timezone.utc
T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday, 09:00 KST
MOCK = MockSettings()
SIM = "https://sim.test"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.out)


def cli(home: Path, now: datetime, *args: str, sim_app: Any = None) -> Run:
    env = Env(stdout=StringIO(), stderr=StringIO(), environ={"KAIROS_NOW": now.isoformat()}, home=home, sim_app=sim_app)
    code = main(list(args), env=env)
    return Run(code, env.stdout.getvalue(), env.stderr.getvalue())  # type: ignore[attr-defined]


def exchange(home: Path, now: datetime, initial_krw: int | None = None) -> Any:
    """The paper account the CLI uses in mock mode (same file), on a clock of our own."""
    return paper_exchange(home / "data" / "mock" / MOCK.exchange_file, clock=FixedClock(now), seed=MOCK.seed,
                          initial_krw=initial_krw, credentials=Credentials(Secret(MOCK.access_token), Secret(MOCK.secret_key)))


def deposit(app: Any, amount: str) -> dict[str, Any]:
    """A KRW deposit through the simulator's admin endpoint; returns its transaction row."""
    session = requests.Session()
    session.mount(SIM, SimAdapter(app))
    answer = session.post(f"{SIM}/__sim__/deposit", json={"currency": "KRW", "amount": amount},
                          headers={"X-SIM-ADMIN": MOCK.access_token}).json()
    assert answer["result"] == "success", answer
    return answer["transaction"]


def row_of(text: str, label: str) -> list[str]:
    """The last three figures (TWR, max drawdown, volatility) of the report row starting with `label`."""
    [line] = [l for l in text.splitlines() if l.split("] ", 1)[-1].strip().startswith(label)]
    return line.split()[-3:]


# ---- a ledger written by hand ----------------------------------------------------------------------------
#   snapshot   day   value       BTC price     BTC qty   KRW
#   S0         0     1,000,000   100,000,000   0.005     500,000
#   S1         10    1,100,000   110,000,000   0.005     550,000
#   (deposit 500,000 KRW on day 15)
#   S2         20    1,735,000    99,000,000   0.01      745,000
#   S3         30    1,561,500    99,000,000   0.01      571,500
SNAPS = [(0, "1000000", "100000000", "0.005", "500000"), (10, "1100000", "110000000", "0.005", "550000"),
         (20, "1735000", "99000000", "0.01", "745000"), (30, "1561500", "99000000", "0.01", "571500")]
ONE_COIN = {"mode": "mock", "strategy": {"portfolio": {"core": {"BTC": 1.0}, "satellite": {}}}}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def write_config(home: Path, settings: dict[str, Any]) -> None:
    path = home / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    path.chmod(0o600)


def hand_ledger(home: Path, snaps: list[tuple[Any, ...]] = SNAPS) -> None:
    write_config(home, ONE_COIN)
    ledger = Ledger.open(home / "data" / "mock" / "kairos.db")
    for n, total, price, qty, krw in snaps:
        value = D(qty) * D(price)
        coins = {"BTC": {"qty": qty, "price": price, "value": str(value), "weight": str(value / D(total))}}
        payload = {"coins": coins, "krw_weight": str(D(krw) / D(total)), "targets": {"BTC": "0.7", "KRW": "0.3"}, "outside": {}}
        ledger.record_snapshot(day(n), D(total), D(krw), "risk_on", payload)
    # two filled TWAP slices of one plan (arrival price 100,000,000) and one order that never filled
    for i, (krw, fee, bps) in enumerate((("500000", "1000", "10"), ("505000", "1010", "20"))):
        ledger.upsert_order({"user_order_id": f"tw-hand-1-btc-s00{i}-a1", "created_at": day(1 + i), "updated_at": day(1 + i),
                             "plan_id": "tw-hand-1", "kind": "twap", "target": "BTC", "side": "BUY", "order_type": "MARKET",
                             "amount_krw": krw, "status": "done", "executed_qty": "0.005", "executed_krw": krw,
                             "avg_price": "0", "fee": fee, "slippage_bps": bps})
    ledger.upsert_order({"user_order_id": "tw-hand-1-btc-s002-a1", "created_at": day(3), "updated_at": day(3),
                         "plan_id": "tw-hand-1", "kind": "twap", "target": "BTC", "side": "BUY", "order_type": "MARKET",
                         "status": "canceled", "executed_qty": "0", "executed_krw": "0", "avg_price": "0", "fee": "0"})
    ledger.archive_payload(day(4), "tw-hand-1", "completed",
                           {"plan_id": "tw-hand-1", "status": "completed", "arrival": {"BTC": "100000000"}})
    for n, regime in ((-7, "risk_off"), (7, "risk_on"), (14, "risk_on")):
        ledger.record_decision(day(n), "weekly_analysis", {"at": day(n).isoformat(), "regime": regime})
    ledger.close()


def test_hand_table_with_a_deposit_in_the_middle(tmp_path: Path) -> None:
    hand_ledger(tmp_path)
    app = exchange(tmp_path, day(15), initial_krw=0)  # opens the paper account with nothing in it
    deposit(app, "500000")  # on day 15, between S1 and S2
    text = cli(tmp_path, day(30) + timedelta(hours=1), "--performance-report", "35")
    assert text.code == 0, text.err
    # TWR, linked Modified Dietz (the deposit is not return):
    #   r1 = 1,100,000 / 1,000,000 − 1 = +0.10
    #   r2 = (1,735,000 − 1,100,000 − 500,000) / (1,100,000 + 0.5 × 500,000) = 135,000 / 1,350,000 = +0.10
    #        (w = (day 20 − day 15) / (day 20 − day 10) = 0.5)
    #   r3 = 1,561,500 / 1,735,000 − 1 = −0.10
    #   TWR = 1.1 × 1.1 × 0.9 − 1 = +8.90 %   (naive 1,561,500 / 1,000,000 − 1 = +56.15 % would count the deposit)
    # max drawdown: index 1, 1.1, 1.21, 1.089 → 1.089 / 1.21 − 1 = −10.00 %
    # volatility (10-day spacing): drift m = 0.1 / 30 per day; (r − 10m) = +0.0667, +0.0667, −0.1333
    #   Σ² / 10 = 0.0026667 per day, / (3 − 1) = 0.00133333, × 365 = 0.486667, √ = 69.76 %
    assert row_of(text.out, "포트폴리오") == ["+8.90%", "-10.00%", "69.76%"]
    # BTC buy-and-hold: 1, 1.1, 0.99, 0.99 → −1.00 %, drawdown 0.99 / 1.1 − 1 = −10.00 %;
    #   volatility: drift 0, r²/10 = 0.001, 0.001, 0 → 0.002 / 2 × 365 = 0.365 → √ = 60.42 %
    assert row_of(text.out, "BTC 보유") == ["-1.00%", "-10.00%", "60.42%"]
    # static 70/30 (one quarter, no rebalance): 0.7 × 1.1 + 0.3 = 1.07; 0.7 × 0.99 + 0.3 = 0.993 (twice)
    #   → −0.70 %, drawdown 0.993 / 1.07 − 1 = −7.20 %
    assert row_of(text.out, "70/30 분기 리밸런싱")[:2] == ["-0.70%", "-7.20%"]
    # starting weights BTC 50 % / KRW 50 %: 0.5 × 1.1 + 0.5 = 1.05; 0.5 × 0.99 + 0.5 = 0.995 → −0.50 %, −5.24 %
    assert row_of(text.out, "시작 비중 유지")[:2] == ["-0.50%", "-5.24%"]
    assert "입출금: 입금 1건 500,000 KRW, 출금 0건 0 KRW — 수익률 계산에서 제외" in text.out
    # P&L excluding flows: 1,561,500 − 1,000,000 − 500,000 = 61,500
    assert "평가액: 1,000,000 → 1,561,500 KRW (입출금 제외 손익 +61,500 KRW)" in text.out
    # fees 1,000 + 1,010 = 2,010 on 1,005,000 KRW = 20.00 bps; slippage (10 × 500,000 + 20 × 505,000) / 1,005,000
    # = 15.02 bps; vs arrival: average 1,005,000 / 0.01 = 100,500,000 vs 100,000,000 → +50.00 bps
    assert "수수료 2,010 KRW — 체결 2건, 체결액 1,005,000 KRW (20.00bps)" in text.out
    assert ("tw-hand-1: 2건 1,005,000 KRW — 슬라이스 중간가 대비 15.02bps, 도착가 대비 50.00bps, 수수료 20.00bps, "
            "합계 35.02bps") in text.out
    # weights at S3: BTC 990,000 / 1,561,500 = 63.4 % vs 70 % → −6.6 %p; KRW 36.6 % vs 30 % → +6.6 %p
    assert "BTC     63.4% / 목표   70.0% (-6.6%p)" in text.out and "KRW     36.6% / 목표   30.0% (+6.6%p)" in text.out
    assert "2025-12-29 09:00 KST 위험회피(risk-off) (기간 시작 시점의 국면)" in text.out
    assert "2026-01-12 09:00 KST 위험선호(risk-on) (위험회피(risk-off)에서 전환)" in text.out
    assert text.out.count("위험선호(risk-on) (") == 1  # the unchanged decision on day 14 is not a change


def test_hand_table_as_json_and_in_english(tmp_path: Path) -> None:
    hand_ledger(tmp_path)
    deposit(exchange(tmp_path, day(15), initial_krw=0), "500000")
    now = day(30) + timedelta(hours=1)
    doc = cli(tmp_path, now, "--performance-report", "35", "--json").json()
    p = doc["portfolio"]
    assert D(p["twr"]) == D("0.089") and D(p["max_drawdown"]) == D("1.089") / D("1.21") - 1
    assert D(p["pnl"]) == D(61500) and D(doc["flows"]["net"]) == D(500000) and doc["flows"]["known"] is True
    assert round(D(doc["benchmarks"]["btc_hold"]["volatility"]), 6) == D("0.604152")
    assert D(doc["costs"]["plans"][0]["arrival_bps"]) == D("50.00") and len(doc["costs"]["slices"]) == 2
    english = cli(tmp_path, now, "--performance-report", "35", "--lang", "en").out
    assert row_of(english, "Portfolio") == ["+8.90%", "-10.00%", "69.76%"]
    assert "Deposits/withdrawals: 1 in 500,000 KRW, 0 out 0 KRW — excluded from returns" in english


def test_unreadable_krw_history_is_said_not_hidden(tmp_path: Path) -> None:
    hand_ledger(tmp_path)
    app = exchange(tmp_path, day(30) + timedelta(hours=1), initial_krw=0)
    app.faults.add(Fault("http_5xx", path="/v2.1/transaction/krw/history", count=50))
    run = cli(tmp_path, day(30) + timedelta(hours=1), "--performance-report", "35", sim_app=app)
    assert run.code == 0, run.err
    assert "⚠️ KRW 입출금 내역을 읽지 못했습니다" in run.out and "수익률에 섞여 있습니다" in run.out
    assert "입출금 제외 손익" not in run.out  # no P&L figure without knowing the flows
    assert row_of(run.out, "포트폴리오")[0] == "+56.15%"  # the deposit shows up, and the report said so


def test_too_little_history(tmp_path: Path) -> None:
    now = T0 + timedelta(hours=1)
    empty = cli(tmp_path, now, "--performance-report", "30", "--chart", str(tmp_path / "none.png"))
    assert empty.code == 0, empty.err
    assert "최근 30일 동안 스냅샷이 0개뿐이라 수익률을 계산할 수 없습니다 (2개 이상 필요). 원장 전체: 0개." in empty.out
    assert "차트를 만들지 않았습니다" in empty.out and not (tmp_path / "none.png").exists()
    assert "포트폴리오" not in empty.out and "%" not in empty.out.split("원장 전체")[1]
    hand_ledger(tmp_path, SNAPS[:1])
    one = cli(tmp_path, day(0) + timedelta(hours=1), "--performance-report", "30", "--lang", "en")
    assert ("Only 1 snapshot(s) in the last 30 days: no return can be computed (2 needed). "
            "Whole ledger: 1, oldest 2026-01-05 09:00 KST.") in one.out
    doc = cli(tmp_path, day(0) + timedelta(hours=1), "--performance-report", "30", "--json").json()
    assert doc["portfolio"] is None and doc["benchmarks"] is None and doc["history"]["snapshots_in_window"] == 1


# ---- a real TWAP run in mock mode ----------------------------------------------------------------------
def dietz_chain(snaps: list[sqlite3.Row], flow_at: datetime, flow: Decimal) -> Decimal:
    """The test's own TWR: chain (V1 − V0 − F) / (V0 + w·F) over consecutive snapshots."""
    index = D(1)
    for a, b in zip(snaps, snaps[1:]):
        t0, t1 = datetime.fromisoformat(a["at"]), datetime.fromisoformat(b["at"])
        f = flow if t0 < flow_at <= t1 else D(0)
        w = D((t1 - flow_at).total_seconds()) / D((t1 - t0).total_seconds()) if f else D(0)
        v0, v1 = D(a["total_krw"]), D(b["total_krw"])
        index *= 1 + (v1 - v0 - f) / (v0 + w * f)
    return index - 1


def test_after_a_short_twap_run_figures_match_the_ledger(tmp_path: Path) -> None:
    assert cli(tmp_path, T0, "--quarterly-rebalance-twap").code == 0
    for minutes in (15, 30, 45, 60, 75, 90):
        if minutes == 60:  # a deposit between the 09:30 and 10:00 snapshots
            tx = deposit(exchange(tmp_path, T0 + timedelta(minutes=50)), "1000000")
        assert cli(tmp_path, T0 + timedelta(minutes=minutes), "--process-twap").code == 0
    now = T0 + timedelta(minutes=95)
    chart = tmp_path / "report.png"
    text = cli(tmp_path, now, "--performance-report", "30", "--chart", str(chart))
    doc = cli(tmp_path, now, "--performance-report", "30", "--json").json()
    assert text.code == 0, text.err

    db = sqlite3.connect(tmp_path / "data" / "mock" / "kairos.db")
    db.row_factory = sqlite3.Row
    snaps = db.execute("SELECT at, total_krw FROM snapshots ORDER BY at, id").fetchall()
    orders = db.execute("SELECT * FROM orders WHERE CAST(executed_qty AS REAL) > 0").fetchall()
    assert len(snaps) >= 3 and len(orders) >= 5
    flow_at = datetime.fromtimestamp(tx["created_at"] / 1000, tz=UTC)
    twr = dietz_chain(snaps, flow_at, D(1_000_000))
    naive = D(snaps[-1]["total_krw"]) / D(snaps[0]["total_krw"]) - 1
    assert naive > D("0.09") and abs(twr) < D("0.01")  # the deposit moved the value ~10 %, not the return
    assert round(D(doc["portfolio"]["twr"]), 12) == round(twr, 12)
    assert row_of(text.out, "포트폴리오")[0] == f"{twr * 100:+.2f}%"
    assert D(doc["flows"]["deposits"]) == D(1_000_000) and doc["flows"]["deposit_count"] == 1
    assert "입출금: 입금 1건 1,000,000 KRW" in text.out

    fees = sum((D(o["fee"]) for o in orders), D(0))
    traded = sum((D(o["executed_krw"]) for o in orders), D(0))
    assert D(doc["costs"]["all"]["fees"]) == fees and doc["costs"]["all"]["orders"] == len(orders)
    assert f"수수료 {fmt_krw(fees)} KRW — 체결 {len(orders)}건, 체결액 {fmt_krw(traded)} KRW" in text.out
    slip = (sum((D(o["slippage_bps"]) * D(o["executed_krw"]) for o in orders), D(0)) / traded).quantize(D("0.01"))
    [plan] = doc["costs"]["plans"]
    assert plan["key"] == orders[0]["plan_id"] and D(plan["slippage_bps"]) == slip
    assert f"{plan['key']}: {len(orders)}건 {fmt_krw(traded)} KRW — 슬라이스 중간가 대비 {slip}bps" in text.out

    last = json.loads(db.execute("SELECT payload FROM snapshots ORDER BY at DESC, id DESC LIMIT 1").fetchone()[0])
    btc = [r for r in doc["weights"]["rows"] if r["asset"] == "BTC"][0]
    assert D(btc["actual"]) == D(last["coins"]["BTC"]["weight"]) and D(btc["target"]) == D("0.28")
    assert "위험선호(risk-on) (첫 판단)" in text.out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 20_000
    assert f"차트 저장: {chart}" in text.out


# ---- paging the KRW history -------------------------------------------------------------------------------
class FakeHistory:
    """Serves /v2.1/transaction/krw/history rules: ≤ 90-day window, newest first, at most `size` rows."""

    def __init__(self, rows: list[KrwTransaction]) -> None:
        self.rows = sorted(rows, key=lambda r: r.created_at, reverse=True)
        self.calls: list[tuple[int, int]] = []

    def krw_history(self, from_ms: int, to_ms_: int, size: int = 100) -> list[KrwTransaction]:
        assert 0 <= to_ms_ - from_ms <= 90 * 86_400_000 and 1 <= size <= 100
        self.calls.append((from_ms, to_ms_))
        return [r for r in self.rows if from_ms <= r.created_at <= to_ms_][:size]


def tx(i: int, at: datetime) -> KrwTransaction:
    return KrwTransaction(str(i), "DEPOSIT", "DEPOSIT_COMPLETE", D(1000 + i), D(0), to_ms(at))


def test_history_is_read_in_90_day_windows_and_pages() -> None:
    # 120 deposits on one busy day (more than a page) and one every 10 days over 200 days
    rows = [tx(i, day(100) + timedelta(minutes=i)) for i in range(120)]
    rows += [tx(1000 + i, day(10 * i)) for i in range(21)]
    fake = FakeHistory(rows)
    got = krw_transactions(fake, to_ms(day(0)), to_ms(day(200)))
    assert sorted(t.id for t in got) == sorted(r.id for r in rows)  # every row once
    assert len(fake.calls) >= 4  # three windows, one of them paged


def test_history_paging_ends_on_a_full_page_of_one_millisecond() -> None:
    fake = FakeHistory([tx(i, day(1)) for i in range(150)])
    got = krw_transactions(fake, to_ms(day(0)), to_ms(day(2)))
    # 100 are read; the other 50 share the same millisecond and need `to_id`, which the client lacks
    assert len(got) == 100 and len(fake.calls) <= 4


@pytest.mark.parametrize("status, amount, fee, expected", [
    ("DEPOSIT_COMPLETE", "1000", "0", "1000"), ("WITHDRAWAL_COMPLETE", "1000", "10", "-1010"),
    ("REFUND_COMPLETE", "500", "0", "500"), ("DEPOSIT_WAIT", "1000", "0", None), ("WITHDRAWAL_FAILED", "1000", "0", None),
])
def test_which_transactions_are_flows(status: str, amount: str, fee: str, expected: str | None) -> None:
    from kairos.core.performance import flow_from_transaction

    flow = flow_from_transaction(status, D(amount), D(fee), T0)
    assert (flow.amount if flow else None) == (D(expected) if expected else None)


def test_the_chart_title_names_the_period_the_data_covers_and_the_portfolio_is_on_top() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib import pyplot as plt

    from kairos.commands.report import Series
    from kairos.commands.report_chart import draw_chart

    times = [T0 + timedelta(hours=h) for h in range(24)]  # asked for 30 days, 23 hours of snapshots
    rising = [D(1) + D(h) / 1000 for h in range(24)]
    series = Series(times, {"portfolio": rising, "btc_hold": list(rising)}, [D(0)] * 24)
    report = {"days": 30, "portfolio": {"twr": D("0.023"), "max_drawdown": D(0)}, "costs": {"all": {"fees": D(0)}}}
    fig = draw_chart(series, report, True, "70/30")
    try:
        top = fig.axes[0]
        assert "(23 hours)" in top.get_title(loc="left") and "30 days" not in top.get_title(loc="left")
        assert "KST" in top.get_title(loc="left") and "[SIMULATED]" in top.get_title(loc="left")
        portfolio, btc = (l for l in top.get_lines() if l.get_label().split(":")[0] in ("Portfolio (TWR)", "BTC buy-and-hold"))
        assert portfolio.get_zorder() > btc.get_zorder()  # identical curves: the portfolio stays visible
    finally:
        plt.close(fig)
