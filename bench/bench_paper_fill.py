"""Paper fills vs the book's own walk: does a paper MARKET order cost what the public order book says?

Starts the standalone simulator (`python -m kairos.sim`, its own process) as the "real" public API, builds the
paper-mode client exactly as the CLI does (`kairos.wiring`), and for 10 M and 100 M KRW market buys of BTC and
of a thin coin prints: the levels the order walked, the paper average fill, the average of an independent walk
of the book read just before, their difference, and the cost against the mid. Asserts nothing.

    .venv/bin/python bench/bench_paper_fill.py
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import urllib.request
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kairos.clock import FixedClock, parse_iso  # noqa: E402
from kairos.coinone.models import OrderRequest  # noqa: E402
from kairos.context import Context  # noqa: E402
from kairos.env import Env  # noqa: E402
from kairos.redact import GLOBAL  # noqa: E402
from kairos.settings import load  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NOW = "2026-11-23T00:00:00+00:00"


def walk(asks: list[dict[str, str]], amount: Decimal, unit: Decimal, ceiling: Decimal) -> tuple[Decimal, Decimal, int]:
    qty = spent = Decimal(0)
    levels = 0
    for level in asks:
        price, size = Decimal(level["price"]), Decimal(level["qty"])
        if price > ceiling:
            break
        take = min(size, ((amount - spent) / price).quantize(unit, rounding=ROUND_DOWN))
        if take <= 0:
            break
        qty, spent, levels = qty + take, spent + take * price, levels + 1
    return qty, spent, levels


def get(url: str) -> dict:
    return json.loads(urllib.request.urlopen(url, timeout=10).read())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--coins", default="BTC,SOL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sim = subprocess.Popen([sys.executable, "-m", "kairos.sim", "--port", "0", "--state", f"{tmp}/sim.sqlite",
                                "--quiet"], cwd=REPO, stdout=subprocess.PIPE, text=True)
        try:
            url = sim.stdout.readline().split()[-1]  # type: ignore[union-attr]
            clock = urllib.request.Request(f"{url}/__sim__/clock", method="POST",
                                           data=json.dumps({"now_ms": int(parse_iso(NOW, what="NOW").timestamp() * 1000)}).encode(),
                                           headers={"X-SIM-ADMIN": "sim-access-token-0000"})
            urllib.request.urlopen(clock).read()
            config = Path(tmp) / "config.yaml"
            config.write_text(f"mode: paper\nexchange:\n  base_url: {url}\npaper:\n  initial_krw: 1000000000\n"
                              f"trading:\n  max_order_krw: 1000000000\n", encoding="utf-8")
            env = Env(io.StringIO(), io.StringIO(), {}, Path(tmp), clock=FixedClock(parse_iso(NOW, what="NOW")))
            ctx = Context(env, load(str(config), {}, Path(tmp)), argparse.Namespace(), GLOBAL)
            client = ctx.client
            markets = {m["target_currency"]: m for m in get(f"{url}/public/v2/markets/KRW")["markets"]}
            print("| coin | order | levels walked | paper avg fill | book walk avg | |difference| | cost vs mid |")
            print("|---|---|---|---|---|---|---|")
            for coin in args.coins.split(","):
                unit = Decimal(markets[coin]["qty_unit"])
                for amount in (Decimal(10_000_000), Decimal(100_000_000)):
                    book = get(f"{url}/public/v2/orderbook/KRW/{coin}?size=16")
                    best_ask, best_bid = Decimal(book["asks"][0]["price"]), Decimal(book["bids"][0]["price"])
                    mid = (best_ask + best_bid) / 2
                    ceiling = client.range_units(coin).round_down(best_ask * Decimal("1.01"))
                    qty, spent, levels = walk(book["asks"], amount, unit, ceiling)
                    uoid = f"bench-{coin.lower()}-{int(amount)}"
                    order_id = client.place_order(OrderRequest.market_buy(coin, amount, ceiling, uoid))
                    order = client.order_detail(coin, order_id=order_id)
                    paper_avg = order.average_executed_price
                    walk_avg = spent / qty if qty else Decimal(0)
                    diff = abs(paper_avg - walk_avg) / walk_avg * 10_000 if walk_avg else Decimal(0)
                    cost = (paper_avg - mid) / mid * 10_000
                    print(f"| {coin} | {amount / 1_000_000:,.0f} M KRW | {levels} | {paper_avg:,.2f} | {walk_avg:,.2f} "
                          f"| {diff:.3f} bps | {cost:.1f} bps ({order.status}, filled {order.executed_krw:,.0f} KRW) |")
        finally:
            sim.terminate()
            sim.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
