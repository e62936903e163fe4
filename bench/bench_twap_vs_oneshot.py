"""Execution benchmark: implementation shortfall of one-shot vs TWAP schedules on the simulated market with
impact (`kairos.sim.impact`), over many random start times. Prints figures; asserts nothing.

Run: python bench/bench_twap_vs_oneshot.py [--starts 200] [--seed 1] [--workers 4]

For each coin (BTC, and SOL as the thin coin), size (10 M, 100 M, 1,000 M KRW) and start time (uniform
over 2024-01-01 .. 2026-09-30, seeded), a fresh account buys `size` KRW with market orders through the
real client and the simulator's matching, on schedules:

    one-shot · ATR-chosen (12×30 min if the 14-day Wilder ATR% ≤ 5 %, else 24×60: the product's rule)
    12×30 min · 24×60 min · 6×60 min · 48×30 min

Implementation shortfall (IS) = average price paid / arrival mid − 1, in bps, fees excluded (the same
0.2 % for every schedule). It includes the market's drift while a schedule runs, so a slow schedule
carries timing noise. "Impact" is the same measured against the mid the market would have had without
us at each order (`MarketModel.book`: drift excluded; the walk, the book our earlier slices emptied and the
shift they left included). For each schedule: mean, median, p95 of IS, and the mean of the paired difference schedule −
one-shot with its 95 % confidence interval (normal approximation, same start times). "Model" is what
`kairos.core.costs.leg_cost` (the backtest's cost) predicts for the impact part with σ, V at the start.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from kairos.clock import FixedClock, to_ms  # noqa: E402
from kairos.coinone.auth import Credentials  # noqa: E402
from kairos.coinone.client import CoinoneClient  # noqa: E402
from kairos.coinone.models import Candle, OrderRequest  # noqa: E402
from kairos.core.costs import CostModel, leg_cost  # noqa: E402
from kairos.core.indicators import atr_percent_over  # noqa: E402
from kairos.schema import Secret  # noqa: E402
from kairos.sim.adapter import SimAdapter  # noqa: E402
from kairos.sim.exchange import SimConfig, SimExchange  # noqa: E402
from kairos.sim.market import MarketModel  # noqa: E402
from kairos.sim.store import MemoryStore  # noqa: E402

COINS = ("BTC", "SOL")
SIZES = (10_000_000, 100_000_000, 1_000_000_000)
SCHEDULES = {"one-shot": (1, 0), "ATR-chosen": None, "12x30": (12, 30), "24x60": (24, 60), "6x60": (6, 60),
             "48x30": (48, 30)}
FIRST, LAST = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2026, 9, 30, tzinfo=timezone.utc)
BPS = 10_000
NO_LIMITS = {"private_rate_per_sec": None, "order_rate_per_sec": None, "public_rate_per_min": None}


def starts(n: int, seed: int) -> list[datetime]:
    rng = random.Random(seed)
    span = int((LAST - FIRST).total_seconds() // 60)
    return [FIRST + timedelta(minutes=rng.randrange(span)) for _ in range(n)]


def atr_schedule(model: MarketModel, coin: str, at: datetime) -> tuple[int, int]:
    day = to_ms(at) // 86_400_000 * 86_400_000
    rows, _ = model.candles(coin, "1d", to_ms(at), end_ms=day - 1, size=100)
    candles = [Candle(r["timestamp"], r["open"], r["high"], r["low"], r["close"], r["target_volume"], r["quote_volume"])
               for r in reversed(rows)]
    return (12, 30) if atr_percent_over(candles, 14, 100) <= Decimal("0.05") else (24, 60)


def run(model: MarketModel, coin: str, size: int, at: datetime, slices: int, interval: int) -> tuple[float, float]:
    """(IS bps vs the arrival mid, impact bps vs the untouched market's mid) of one schedule from a fresh account."""
    clock = FixedClock(at)
    exchange = SimExchange(model, MemoryStore(), clock, sleep=lambda s: None,
                           config=SimConfig(initial_krw=Decimal(size) * 2, match_levels=120, **NO_LIMITS))
    session = requests.Session()
    session.mount("https://bench.invalid", SimAdapter(exchange))
    client = CoinoneClient(session, "https://bench.invalid",
                           credentials=Credentials(Secret(exchange.config.access_token), Secret(exchange.config.secret_key)))
    arrival = client.orderbook(coin, 5).mid
    spent = qty = own_cost = Decimal(0)
    for k in range(slices):
        amount = Decimal(size) / slices
        bids, asks = model.book(coin, to_ms(clock.now()), levels=1)  # the market without us: drift, no impact
        before = (bids[0][0] + asks[0][0]) / 2
        order = client.order_detail(coin, order_id=client.place_order(OrderRequest(
            side="BUY", target=coin, type="MARKET", amount=amount.quantize(Decimal(1)), user_order_id=f"b-{k}")))
        traded = order.traded_amount or Decimal(0)
        spent, qty = spent + traded, qty + order.executed_qty
        own_cost += traded - order.executed_qty * before
        clock.advance(minutes=interval)
    average = spent / qty
    return float((average / arrival - 1) * BPS), float(own_cost / (qty * arrival) * BPS)


def task(args: tuple[str, int, list[datetime]]) -> dict:
    coin, size, times = args
    model = MarketModel()
    out: dict = {"coin": coin, "size": size, "is": {}, "impact": {}, "model": {}}
    for name, schedule in SCHEDULES.items():
        rows, predicted = [], []
        for at in times:
            slices, interval = schedule or atr_schedule(model, coin, at)
            rows.append(run(model, coin, size, at, slices, interval))
            sigma, adv = model.liquidity(coin, to_ms(at))
            cost = leg_cost(CostModel(), Decimal(size), slices, sigma, adv, interval_minutes=interval or None)
            predicted.append(float(cost.impact_rate * BPS))
        out["is"][name] = [r[0] for r in rows]
        out["impact"][name] = [r[1] for r in rows]
        out["model"][name] = statistics.fmean(predicted)
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def report(result: dict, n: int) -> None:
    print(f"\n{result['coin']} {result['size'] / 1e6:,.0f} M KRW  ({n} starts; bps, fees excluded)")
    print(f"  {'schedule':<11}{'IS mean':>9}{'median':>9}{'p95':>9}{'sd':>8}{'impact':>9}{'model':>8}"
          f"{'Δ vs one-shot [95% CI]':>30}")
    base = result["is"]["one-shot"]
    for name in SCHEDULES:
        values = result["is"][name]
        diff = [a - b for a, b in zip(values, base)]
        mean_d = statistics.fmean(diff)
        half = 1.96 * statistics.stdev(diff) / math.sqrt(len(diff)) if len(diff) > 1 and name != "one-shot" else 0.0
        ci = "" if name == "one-shot" else f"{mean_d:+8.1f} [{mean_d - half:+7.1f}, {mean_d + half:+7.1f}]"
        print(f"  {name:<11}{statistics.fmean(values):9.1f}{statistics.median(values):9.1f}{p95(values):9.1f}"
              f"{statistics.stdev(values):8.1f}{statistics.fmean(result['impact'][name]):9.1f}"
              f"{result['model'][name]:8.1f}{ci:>30}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    times = starts(args.starts, args.seed)
    began = time.perf_counter()
    jobs = [(coin, size, times) for coin in COINS for size in SIZES]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(task, jobs))
    print(f"execution benchmark: {len(jobs)} cases × {len(SCHEDULES)} schedules × {args.starts} starts "
          f"(seed {args.seed}) in {time.perf_counter() - began:.0f} s")
    for result in results:
        report(result, args.starts)


if __name__ == "__main__":
    main()
