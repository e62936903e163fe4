"""Timings of the simulated market data model (kairos.sim.market). Prints figures; asserts nothing.

Run: python bench/bench_sim_market.py   (budgets: first price < 0.3 s, later price < 2 ms,
all BTC daily candles cold < 1.5 s, 260 weekly BTC candles cold < 1.5 s)
"""
from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kairos.sim.market import MarketModel  # noqa: E402

NOW = int(datetime(2026, 11, 26, 7, 30, tzinfo=timezone.utc).timestamp() * 1000)
MIN = 60_000


def timed(label: str, fn: Callable[[], object], repeat: int = 1, budget: float | None = None) -> object:
    start = time.perf_counter()
    for _ in range(repeat):
        result = fn()
    per_call = (time.perf_counter() - start) / repeat
    note = "" if budget is None else f"  (budget {budget * 1000:.0f} ms: {'ok' if per_call < budget else 'OVER'})"
    print(f"{label:<58} {per_call * 1000:9.2f} ms{note}")
    return result


def all_daily(model: MarketModel, symbol: str) -> int:
    """Page through every daily candle as a client would (500 per request)."""
    count, end, is_last = 0, None, False
    while not is_last:
        rows, is_last = model.candles(symbol, "1d", NOW, end_ms=end, size=500)
        count, end = count + len(rows), rows[-1]["timestamp"] - 1
    return count


def main() -> None:
    model = MarketModel()
    timed("first price() of one coin (builds the daily layer)", lambda: model.price("BTC", NOW), budget=0.3)
    timed("price() same minute, warm", lambda: model.price("BTC", NOW), repeat=1000, budget=0.002)
    minutes = iter(range(1, 10**6))
    timed("price() moving minute by minute, warm block", lambda: model.price("BTC", NOW + next(minutes) * MIN),
          repeat=1000, budget=0.002)
    days = iter(range(1, 10**6))
    timed("price() jumping a day per call (new minute block each 8)",
          lambda: model.price("ETH", NOW - next(days) * 86_400_000), repeat=200)
    count = timed("all BTC daily candles since listing, cold, paged by 500",
                  lambda: all_daily(MarketModel(), "BTC"), budget=1.5)
    print(f"{'':<58} ({count} candles, includes the daily layer)")
    fresh = MarketModel()
    fresh.price("ETH", NOW)
    timed("all BTC daily candles, one call, cold minute data", lambda: fresh.candles("BTC", "1d", NOW, size=5000))
    timed("  … again, warm", lambda: fresh.candles("BTC", "1d", NOW, size=5000))
    timed("260 weekly BTC candles, cold (fresh model)", lambda: MarketModel().candles("BTC", "1w", NOW, size=260),
          budget=1.5)
    timed("1mon BTC candles since listing, warm", lambda: fresh.candles("BTC", "1mon", NOW, size=500))
    timed("200 x 1m candles, warm", lambda: model.candles("BTC", "1m", NOW, size=200), repeat=50)
    timed("500 x 6h candles, cold (125 days of minute blocks)", lambda: model.candles("XRP", "6h", NOW, size=500))
    timed("tickers for all 20 coins, cold minute blocks",
          lambda: [model.ticker(c, NOW) for c in model.coins if model.is_listed(c, NOW)])
    timed("tickers for all 20 coins, warm", lambda: [model.ticker(c, NOW) for c in model.coins], repeat=20)
    timed("book(15 levels), warm price", lambda: model.book("BTC", NOW), repeat=200)


if __name__ == "__main__":
    main()
