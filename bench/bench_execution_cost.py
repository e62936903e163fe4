"""Simulated execution cost: per TWAP slice vs the floor, and TWAP vs one-shot. Prints figures; asserts nothing.

Run: python bench/bench_execution_cost.py

The real CLI runs in-process against the simulator (risk-off start from an all-KRW account: four
buys, BTC/ETH/XRP/SOL; default schedule: 12 × 30 min or 24 × 60 min per leg by ATR).

1. Per slice: cost = fill vs the mid at submission + fee, in bps of the executed KRW; floor = fee +
   half the quoted spread at that instant (read from the simulator's ticker at the same clock time).
2. TWAP (`--quarterly-rebalance-twap` + a `--process-twap` every 15 min until the plan closes) vs
   one-shot (`--quarterly-rebalance`) for 10 M, 100 M (and, to show where depth starts to matter,
   1,000 M) KRW accounts: implementation shortfall vs the arrival mid (market drift included) and
   impact vs each order's own mid (drift excluded). Per-order/day caps are raised for this run.
"""
from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
import yaml  # noqa: E402

from kairos.cli import main  # noqa: E402
from kairos.clock import FixedClock  # noqa: E402
from kairos.coinone.client import CoinoneClient  # noqa: E402
from kairos.env import Env  # noqa: E402
from kairos.sim.adapter import SimAdapter  # noqa: E402
from kairos.sim.exchange import SimConfig, SimExchange  # noqa: E402
from kairos.sim.market import MarketModel  # noqa: E402
from kairos.sim.store import SqliteStore  # noqa: E402

START = datetime(2026, 11, 23, tzinfo=timezone.utc)
NO_RATE_LIMITS = {"private_rate_per_sec": None, "order_rate_per_sec": None, "public_rate_per_min": None}
BPS = Decimal(10_000)


class Account:
    """A home folder and its simulated exchange on one FixedClock."""

    def __init__(self, home: Path, model: MarketModel, krw: int) -> None:
        home.mkdir(parents=True)
        self.home, self.clock = home, FixedClock(START)
        self.app = SimExchange(model, SqliteStore(home / "sim.sqlite"), self.clock,
                               config=SimConfig(**NO_RATE_LIMITS, initial_krw=Decimal(krw)))
        # caps raised so a one-shot 1,000 M rebalance is allowed at all (the default per-order cap is 20 M)
        settings = {"mode": "mock", "trading": {"max_daily_krw": 100_000_000_000, "max_order_krw": 10_000_000_000}}
        (home / "config.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
        (home / "config.yaml").chmod(0o600)
        session = requests.Session()
        session.mount("https://bench.invalid", SimAdapter(self.app))
        self.public = CoinoneClient(session, "https://bench.invalid")
        self.spreads: dict[str, dict[str, Decimal]] = {}  # at (iso) → coin → half-spread bps

    def run(self, *args: str) -> None:
        self.spreads[self.clock.now().isoformat()] = {
            c: (t.best_ask.price - t.best_bid.price) / 2 / t.mid * BPS
            for c, t in self.public.tickers().items() if t.best_ask and t.best_bid}
        env = Env(stdout=StringIO(), stderr=StringIO(), environ={}, home=self.home, clock=self.clock, sim_app=self.app)
        code = main([*args, "--config", str(self.home / "config.yaml")], env=env)
        if code != 0:
            raise SystemExit(f"{args} exited {code}: {env.stderr.getvalue()}")  # type: ignore[attr-defined]

    def twap_to_end(self, max_ticks: int = 200) -> int:
        self.run("--quarterly-rebalance-twap")
        for tick in range(max_ticks):
            if not any(p["status"] == "active" for p in self.state()["plans"]):
                return tick
            self.clock.advance(minutes=15)
            self.run("--process-twap")
        raise SystemExit("the TWAP plan did not finish")

    def state(self) -> dict[str, Any]:
        return json.loads((self.home / "data" / "mock" / "state.json").read_text(encoding="utf-8"))

    def orders(self) -> list[dict[str, Any]]:
        con = sqlite3.connect(self.home / "data" / "mock" / "kairos.db")
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute("SELECT * FROM orders WHERE executed_qty != '0' ORDER BY created_at")]
        finally:
            con.close()

    def arrival(self) -> dict[str, Decimal]:
        """Mid prices when the rebalance started (the plan's arrival prices; ticker mids at START otherwise)."""
        plans = self.state()["plans"]
        if plans:
            return {k: Decimal(v) for k, v in plans[0]["arrival"].items()}
        return {c: t.mid for c, t in self._tickers_at(START).items()}

    def _tickers_at(self, moment: datetime) -> dict[str, Any]:
        now = self.clock.now()
        self.clock.set(moment)
        try:
            return self.public.tickers()
        finally:
            self.clock.set(now)


def signed(side: str, avg: Decimal, ref: Decimal) -> Decimal:
    return ((avg - ref) if side == "BUY" else (ref - avg)) / ref * BPS


def slice_costs(account: Account) -> None:
    rows = account.orders()
    by_coin: dict[str, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for o in rows:
        krw, fee = Decimal(o["executed_krw"]), Decimal(o["fee"])
        cost = signed(o["side"], Decimal(o["avg_price"]), Decimal(o["mid_price"])) + fee / krw * BPS
        floor = account.spreads[o["created_at"]][o["target"]] + fee / krw * BPS
        by_coin[o["target"]].append((cost, floor))
    print(f"1. cost per TWAP slice vs the floor (fee + half-spread), {len(rows)} filled slices, 10 M KRW account")
    print("   coin | slices | cost bps median (min–max) | floor bps median | median excess over floor")
    for coin, pairs in by_coin.items():
        costs, floors = [c for c, _ in pairs], [f for _, f in pairs]
        excess = [c - f for c, f in pairs]
        print(f"   {coin:<4} | {len(pairs):>6} | {statistics.median(costs):7.2f} ({min(costs):.2f}–{max(costs):.2f})"
              f" | {statistics.median(floors):7.2f} | {statistics.median(excess):+.2f}")
    everything = [(c, f) for pairs in by_coin.values() for c, f in pairs]
    print(f"   all  | {len(everything):>6} | {statistics.median(c for c, _ in everything):7.2f}"
          f"                | {statistics.median(f for _, f in everything):7.2f} |"
          f" {statistics.median(c - f for c, f in everything):+.2f}")


def shortfall(account: Account) -> tuple[Decimal, Decimal, Decimal, int]:
    """(KRW traded, shortfall vs arrival bps incl. fees, impact vs own mid bps incl. fees, orders)."""
    arrival = account.arrival()
    rows = account.orders()
    krw = sum((Decimal(o["executed_krw"]) for o in rows), Decimal(0))
    vs_arrival = sum((signed(o["side"], Decimal(o["avg_price"]), arrival[o["target"]]) * Decimal(o["executed_krw"])
                      + Decimal(o["fee"]) * BPS for o in rows), Decimal(0)) / krw
    vs_mid = sum((signed(o["side"], Decimal(o["avg_price"]), Decimal(o["mid_price"])) * Decimal(o["executed_krw"])
                  + Decimal(o["fee"]) * BPS for o in rows), Decimal(0)) / krw
    return krw, vs_arrival, vs_mid, len(rows)


def main_bench() -> None:
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    model = MarketModel()
    with tempfile.TemporaryDirectory() as tmp:
        first = Account(Path(tmp) / "slices", model, 10_000_000)
        first.twap_to_end()
        slice_costs(first)
        print("\n2. TWAP vs one-shot (KRW-weighted, fees included)")
        print("   account | method   | KRW traded  | orders | vs arrival mid bps | vs own mid bps (impact) | duration")
        for krw in (10_000_000, 100_000_000, 1_000_000_000):
            twap = Account(Path(tmp) / f"twap{krw}", model, krw)
            ticks = twap.twap_to_end()
            once = Account(Path(tmp) / f"once{krw}", model, krw)
            once.run("--quarterly-rebalance")
            for name, account, duration in (("TWAP", twap, f"{ticks * 15 / 60:.1f} h"), ("one-shot", once, "one run")):
                traded, arrival, impact, count = shortfall(account)
                print(f"   {krw / 1e6:>5.0f} M | {name:<8} | {traded:>11,.0f} | {count:>6} | {arrival:>18.2f} |"
                      f" {impact:>23.2f} | {duration}")


if __name__ == "__main__":
    main_bench()
