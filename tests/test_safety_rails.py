"""Safety rails: per-order cap, per-day cap, kill switch, allow-list, no withdrawal code anywhere.

Each rail is shown on the immediate and the TWAP path, against the in-process simulator; the daily
cap is also shown across separate OS processes sharing the ledger.
"""
from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kairos.cli import main
from kairos.clock import FixedClock
from kairos.env import Env

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)  # a Monday, 09:00 KST


def run(home: Path, clock: FixedClock, *argv: str) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO(), {}, home, clock=clock)
    code = main(list(argv), env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()


def configure(home: Path, trading: str) -> None:
    cfg = home / "config" / "config.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f"mode: mock\ntrading: {trading}\n", encoding="utf-8")
    os.chmod(cfg, 0o600)


def exchange_orders(home: Path) -> list[dict]:
    path = home / "data" / "mock" / "mock_exchange.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as con:
        return [json.loads(row[0]) for row in con.execute("SELECT data FROM orders")]


def state(home: Path) -> dict:
    return json.loads((home / "data" / "mock" / "state.json").read_text())


def alerts(home: Path, alert_type: str) -> int:
    with sqlite3.connect(home / "data" / "mock" / "kairos.db") as con:
        return con.execute("SELECT COUNT(*) FROM alerts WHERE alert_type = ?", (alert_type,)).fetchone()[0]


def test_per_order_cap_refuses_immediate_order_without_an_intent(tmp_path: Path) -> None:
    configure(tmp_path, "{max_order_krw: 50000}")
    code, out, err = run(tmp_path, FixedClock(START), "--quarterly-rebalance")
    assert code == 4 and "trading.max_order_krw" in err and len(err.strip().splitlines()) == 1
    assert exchange_orders(tmp_path) == []
    assert state(tmp_path)["orders"] == {}  # the refusal left no half-written intent
    assert alerts(tmp_path, "critical_risk") == 1


def test_per_order_cap_makes_twap_leg_wait_with_one_alert(tmp_path: Path) -> None:
    configure(tmp_path, "{max_order_krw: 80000}")  # BTC slices are 100,000 KRW, ETH 75,000
    clock = FixedClock(START)
    assert run(tmp_path, clock, "--quarterly-rebalance-twap")[0] == 0
    for _ in range(4):
        clock.advance(minutes=15)
        assert run(tmp_path, clock, "--process-twap")[0] == 0
    btc = [o for o in exchange_orders(tmp_path) if o.get("target") == "BTC"]
    assert btc == []
    leg = next(l for l in state(tmp_path)["plans"][0]["legs"] if l["target"] == "BTC")
    assert leg["waiting"]["code"] == "safety" and leg["orders"] == []
    assert alerts(tmp_path, "critical_risk") == 1  # once per waiting episode, not every tick
    assert [o for o in exchange_orders(tmp_path) if o.get("target") == "XRP"]  # other legs carry on


def test_daily_cap_counts_across_processes(tmp_path: Path) -> None:
    """Separate OS processes share the ledger: once today's total would pass the cap, no more orders."""
    configure(tmp_path, "{max_daily_krw: 400000}")
    environ = {**os.environ, "KAIROS_HOME": str(tmp_path)}
    for step in range(6):
        now = (START + timedelta(minutes=30 * step)).isoformat()
        args = ["--quarterly-rebalance-twap"] if step == 0 else ["--process-twap"]
        proc = subprocess.run([sys.executable, "kairos1_main.py", *args], cwd=ROOT, capture_output=True, text=True,
                              env={**environ, "KAIROS_NOW": now}, timeout=120)
        assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(tmp_path / "data" / "mock" / "kairos.db") as con:
        traded = sum(float(r[0]) for r in con.execute("SELECT executed_krw FROM orders"))
        refused = con.execute("SELECT COUNT(*) FROM alerts WHERE alert_type='critical_risk'").fetchone()[0]
    assert 0 < traded <= 400000
    assert refused >= 1
    waiting = [l for l in state(tmp_path)["plans"][0]["legs"] if (l.get("waiting") or {}).get("code") == "safety"]
    assert waiting and "max_daily_krw" in waiting[0]["waiting"]["why"]


@pytest.mark.parametrize("how", ["kill_file", "config"])
def test_kill_switch_stops_immediate_rebalance(tmp_path: Path, how: str) -> None:
    configure(tmp_path, "{enabled: false}" if how == "config" else "{enabled: true}")
    if how == "kill_file":
        (tmp_path / "data").mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / "KILL").touch()
    code, _, err = run(tmp_path, FixedClock(START), "--quarterly-rebalance")
    assert code == 4 and "kill switch active" in err
    assert exchange_orders(tmp_path) == []


def test_kill_switch_in_twap_reconciles_but_sends_nothing(tmp_path: Path) -> None:
    configure(tmp_path, "{enabled: true}")
    clock = FixedClock(START)
    assert run(tmp_path, clock, "--quarterly-rebalance-twap")[0] == 0
    placed = len(exchange_orders(tmp_path))
    # an order whose result is unknown: the next run must still look it up
    st = state(tmp_path)
    leg = st["plans"][0]["legs"][0]
    leg["orders"][-1]["status"] = "unknown"
    (tmp_path / "data" / "mock" / "state.json").write_text(json.dumps(st))
    (tmp_path / "data" / "KILL").touch()
    for _ in range(3):
        clock.advance(minutes=30)
        code, out, _ = run(tmp_path, clock, "--process-twap")
        assert code == 4 and "⛔" in out
    assert len(exchange_orders(tmp_path)) == placed  # no new order
    assert state(tmp_path)["plans"][0]["legs"][0]["orders"][-1]["status"] == "done"  # reconciled
    assert alerts(tmp_path, "critical_risk") == 1
    code, out, _ = run(tmp_path, clock, "--twap-status")
    assert code == 0 and "거래 중지" in out and "KILL" in out


def test_no_module_contains_a_withdrawal_endpoint() -> None:
    # any URL path to a withdrawal endpoint: "/v2.1/transaction/coin/withdrawal", "/v2/account/withdraw…"
    pattern = re.compile(r"transaction/coin/withdrawal|['\"]/v[0-9.]+/[^'\"]*withdraw", re.IGNORECASE)
    offenders = [str(p) for p in (ROOT / "kairos").rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_client_refuses_private_paths_outside_the_allow_list() -> None:
    import requests

    from kairos.coinone.auth import Credentials
    from kairos.coinone.client import CoinoneClient, PathNotAllowed
    from kairos.schema import Secret

    class NoNetwork(requests.Session):
        def request(self, *args, **kwargs):  # noqa: ANN002, ANN003
            raise AssertionError("nothing may be sent")

    client = CoinoneClient(NoNetwork(), "https://api.coinone.co.kr",
                           credentials=Credentials(Secret("t-1234"), Secret("s-1234")))
    for path in ("/v2.1/transaction/coin/withdrawal", "/v2/account/balance", "/v2.1/order/limit"):
        with pytest.raises(PathNotAllowed):
            client._private(path, {}, retry=False)
