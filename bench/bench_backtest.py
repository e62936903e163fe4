"""Timings of the backtest (kairos.backtest). Prints figures; asserts nothing.

Run: python bench/bench_backtest.py
Data: a synthetic, seeded 14-year daily history of 4 coins (so that after the 200-week warm-up the
backtest itself spans 10 years), written as the documented CSVs; then the simulator's history in mock mode
(first run fetching into the cache, then the offline rerun). Budget: a 10-year, 4-coin backtest in a few
seconds on a 2-core machine.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from io import StringIO
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from kairos.cli import main  # noqa: E402
from kairos.clock import FixedClock  # noqa: E402
from kairos.env import Env  # noqa: E402

FIRST_DAY = date(2010, 1, 4)
YEARS = 14
COINS = {"BTC": (20_000_000, 0.60), "ETH": (1_000_000, 0.75), "XRP": (500, 0.85), "SOL": (50_000, 0.95)}


def write_synthetic(folder: Path, seed: int = 7) -> int:
    """One CSV per coin: a seeded geometric random walk with daily OHLC and KRW turnover ~10 bn/day."""
    days = YEARS * 365
    rng = np.random.default_rng(seed)
    common = rng.standard_t(5, days) * 0.02
    for coin, (level, vol) in COINS.items():
        r = 0.6 * common + rng.standard_t(5, days) * vol / math.sqrt(365) * 0.8 + 0.0003
        close = level * np.exp(np.cumsum(r))
        opens = np.concatenate(([level], close[:-1]))
        wick = np.abs(rng.normal(0, vol / math.sqrt(365) / 2, days))
        high, low = np.maximum(opens, close) * (1 + wick), np.minimum(opens, close) * (1 - wick)
        volume = 1e10 * np.exp(rng.normal(0, 0.3, days)) / close
        lines = ["date,open,high,low,close,volume"]
        for i in range(days):
            day = FIRST_DAY + timedelta(days=i)
            lines.append(f"{day},{opens[i]:.4f},{high[i]:.4f},{low[i]:.4f},{close[i]:.4f},{volume[i]:.6f}")
        (folder / f"{coin}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return days


def timed(label: str, fn: Callable[[], tuple[int, str, str]]) -> str:
    start = time.perf_counter()
    code, out, err = fn()
    elapsed = time.perf_counter() - start
    print(f"{label:<62} {elapsed:7.2f} s  (exit {code})")
    if code != 0:
        print(err)
    return out


def cli(home: Path, *args: str, clock: FixedClock | None = None) -> Callable[[], tuple[int, str, str]]:
    def call() -> tuple[int, str, str]:
        env = Env(StringIO(), StringIO(), {}, home, clock=clock)
        code = main(list(args), env=env)
        return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]
    return call


def engine_only(data: Path) -> None:
    """The pieces without the CLI: CSV parsing, one 10-year strategy run, the four portfolios, the metrics."""
    from decimal import Decimal

    from kairos.backtest.csvdata import load_dir
    from kairos.backtest.data import History
    from kairos.backtest.engine import Backtest
    from kairos.backtest.metrics import compute
    from kairos.core.costs import CostModel
    from kairos.settings import Settings

    t0 = time.perf_counter()
    history = History("csv", load_dir(data, tuple(COINS)))
    t1 = time.perf_counter()
    bt = Backtest(history, Settings(), capital=Decimal(10_000_000), costs=CostModel())
    start = bt.resolve_start(None)
    t2 = time.perf_counter()
    strategy = bt.run(bt.policies()[0], start)
    t3 = time.perf_counter()
    runs = bt.compare(start)
    metrics = {k: compute(r) for k, r in runs.items()}
    t4 = time.perf_counter()
    print(f"  parse 4 CSVs {t1 - t0:.2f} s; weekly MA inputs {t2 - t1:.2f} s; one 10-year strategy run "
          f"{t3 - t2:.3f} s; 4 portfolios + metrics {t4 - t3:.3f} s")
    print(f"  strategy CAGR {metrics['strategy'].cagr * 100:.1f} %, costs {metrics['strategy'].costs_krw:,.0f} KRW, "
          f"{len(strategy.trades)} trades")


def main_bench() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s)")
    with tempfile.TemporaryDirectory() as tmp:
        home, data = Path(tmp), Path(tmp) / "csv"
        data.mkdir()
        days = write_synthetic(data)
        print(f"synthetic history: 4 coins x {days:,} days ({FIRST_DAY} .. {FIRST_DAY + timedelta(days=days - 1)})")
        out = timed("CSV, 10-year backtest + 3 benchmarks + robustness (--json)",
                    cli(home, "--backtest", "--data", str(data), "--json"))
        doc = json.loads(out)["backtest"] if out else {}
        if doc:
            print(f"  period {doc['start']} .. {doc['end']} ({doc['days'] / 365:.1f} years), "
                  f"{len(doc['robustness'])} robustness starts, strategy trades {doc['metrics']['strategy']['trades']}")
        engine_only(data)
        timed("CSV, the same with --chart", cli(home, "--backtest", "--data", str(data), "--chart", str(home / "bt.png")))
        now = FixedClock(datetime(2026, 11, 26, 7, tzinfo=timezone.utc))
        timed("mock, simulator history, first run (fetch 4 coins into the cache)",
              cli(home, "--backtest", "--json", clock=now))
        timed("mock, rerun from the cache (no network)", cli(home, "--backtest", "--json", clock=now))


if __name__ == "__main__":
    main_bench()
