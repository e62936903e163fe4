"""Exchange calls per run as the universe grows from 4 to 20 coins. Prints figures; asserts nothing.

Run: python bench/bench_calls_per_tick.py

For each universe size the real CLI runs in-process (`kairos.cli.main`) against the simulator,
wrapped in a WSGI middleware that counts requests per endpoint: one `--quarterly-rebalance-twap`
(which plans, reads the market rules and sends the first slices), then four `--process-twap` ticks
15 minutes apart (default schedule: 12 × 30 min or 24 × 60 min per leg). Reads per tick must not
grow with the number of coins (one call for every ticker, one for every balance); orders and
order/detail grow with the slices that are due, by design. Per-coin reads at plan creation
(range_units, daily candles for the ATR) happen once per plan.
"""
from __future__ import annotations

import os
import platform
import sys
import tempfile
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any, Callable, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from kairos.cli import main  # noqa: E402
from kairos.clock import FixedClock  # noqa: E402
from kairos.env import Env  # noqa: E402
from kairos.sim.exchange import SimConfig, SimExchange  # noqa: E402
from kairos.sim.market import MarketModel  # noqa: E402
from kairos.sim.store import SqliteStore  # noqa: E402

START = datetime(2026, 11, 23, tzinfo=timezone.utc)
COINS = ("BTC", "ETH", "XRP", "SOL", "ADA", "DOGE", "LINK", "AVAX", "DOT", "TRX", "XLM", "BCH", "ETC", "ATOM",
         "NEAR", "HBAR", "EOS", "SAND", "MANA", "SHIB")
ORDER_PATHS = ("order", "order/detail")
NO_RATE_LIMITS = {"private_rate_per_sec": None, "order_rate_per_sec": None, "public_rate_per_min": None}


class Counting:
    """WSGI middleware: requests per endpoint (chart intervals, one ticker vs all tickers told apart)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.calls: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        parts = str(environ.get("PATH_INFO", "")).strip("/").split("/")
        if parts[:2] == ["public", "v2"]:
            name = {"ticker_new": "ticker" if len(parts) > 4 else "tickers"}.get(parts[2], parts[2])
            if name == "chart":
                name += ":" + ("1w" if "interval=1w" in str(environ.get("QUERY_STRING")) else "1d")
        else:
            name = "/".join(parts[1:]).replace("account/", "")
        self.calls[name] += 1
        return self.app(environ, start_response)


def portfolio(n: int) -> dict[str, dict[str, float]]:
    """`n` coins with equal weights summing to exactly 1 (core: the first half)."""
    coins = COINS[:n]
    weight = (Decimal(1) / n).quantize(Decimal("0.000001"))
    weights = {c: weight for c in coins}
    weights[coins[-1]] += Decimal(1) - weight * n
    half = (n + 1) // 2
    return {"core": {c: float(weights[c]) for c in coins[:half]}, "satellite": {c: float(weights[c]) for c in coins[half:]}}


def run(home: Path, app: Counting, clock: FixedClock, *args: str) -> Counter[str]:
    app.calls = Counter()
    env = Env(stdout=StringIO(), stderr=StringIO(), environ={}, home=home, clock=clock, sim_app=app)
    code = main([*args, "--config", str(home / "config.yaml")], env=env)
    if code != 0:
        raise SystemExit(f"{args} exited {code}: {env.stderr.getvalue()}")  # type: ignore[attr-defined]
    return app.calls


def measure(n: int, model: MarketModel, root: Path) -> tuple[Counter[str], list[Counter[str]]]:
    home = root / f"coins{n}"
    home.mkdir()
    settings = {"mode": "mock", "strategy": {"portfolio": portfolio(n)}, "trading": {"max_daily_krw": 10_000_000_000}}
    (home / "config.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (home / "config.yaml").chmod(0o600)
    clock = FixedClock(START)
    app = Counting(SimExchange(model, SqliteStore(home / "sim.sqlite"), clock,
                               config=SimConfig(**NO_RATE_LIMITS, initial_krw=Decimal(100_000_000))))
    created = run(home, app, clock, "--quarterly-rebalance-twap")
    ticks = []
    for _ in range(4):
        clock.advance(minutes=15)
        ticks.append(run(home, app, clock, "--process-twap"))
    return created, ticks


def reads(calls: Counter[str]) -> int:
    return sum(v for k, v in calls.items() if k not in ORDER_PATHS)


def main_bench() -> None:
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("coins | create: reads (per-coin: range_units + chart:1d) orders details | per tick (avg of 4): reads orders details"
          " | read endpoints per tick")
    model = MarketModel()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (4, 8, 12, 16, 20):
            created, ticks = measure(n, model, Path(tmp))
            per_coin = created["range_units"] + created["chart:1d"]
            avg = {k: sum(t[k] for t in ticks) / len(ticks) for k in ("order", "order/detail")}
            tick_reads = [reads(t) for t in ticks]
            endpoints = sorted({k for t in ticks for k in t if k not in ORDER_PATHS})
            print(f"{n:>5} | {reads(created):>4} ({per_coin:>3}) {created['order']:>4} {created['order/detail']:>4}"
                  f" | {sum(tick_reads) / len(tick_reads):5.1f} {avg['order']:5.1f} {avg['order/detail']:5.1f}"
                  f" | {', '.join(endpoints)} (max {max(tick_reads)} per tick)")


if __name__ == "__main__":
    main_bench()
