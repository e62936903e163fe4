"""Paper trading on the real market, end to end: the standalone simulator (its own process, its own price
path) plays Coinone's public API; the CLI runs `mode: paper` as separate processes. The paper account
must fill against *that* order book, never send it a private request, and carry a whole quarter."""
from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import requests

from tests.reliability.harness import START, Install, SimProcess, finished, merge

SHORT = {"execution": {"calm": {"slices": 3, "interval_minutes": 15}, "volatile": {"slices": 4, "interval_minutes": 15}}}
TARGETS = {"BTC": Decimal("0.12"), "ETH": Decimal("0.09"), "XRP": Decimal("0.045"), "SOL": Decimal("0.045")}  # risk-off


class Paper:
    """A paper installation pointed at the simulator as if it were api.coinone.co.kr."""

    def __init__(self, root: Path, **settings: Any) -> None:
        self.sim = SimProcess(root / "market" / "exchange.sqlite", quiet=False).start()
        self.now = START
        base = merge({"mode": "paper", "language": "en", "exchange": {"base_url": self.sim.url}, **SHORT}, settings)
        self.install = Install(root / "home", base)

    def cli(self, *args: str) -> Any:
        self.sim.set_clock(self.now)
        result = self.install.run(*args, now=self.now)
        assert result.code == 0, result.err
        return result

    def state(self) -> dict[str, Any]:
        return json.loads((self.install.home / "data" / "paper" / "state.json").read_text(encoding="utf-8"))

    def account(self, sql: str) -> list[tuple]:
        con = sqlite3.connect(f"file:{self.install.home / 'data' / 'paper' / 'paper_exchange.sqlite'}?mode=ro", uri=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def book(self, coin: str) -> dict[str, Any]:
        return requests.get(f"{self.sim.url}/public/v2/orderbook/KRW/{coin}", params={"size": 16}, timeout=10).json()

    def close(self) -> None:
        self.sim.stop()


def walk_buy(asks: list[dict[str, str]], amount: Decimal, unit: Decimal, ceiling: Decimal) -> tuple[Decimal, Decimal]:
    """(qty, KRW spent) of a market buy of `amount` KRW walking `asks` up to `ceiling`, qty in whole units."""
    qty = spent = Decimal(0)
    for level in asks:
        price, available = Decimal(level["price"]), Decimal(level["qty"])
        if price > ceiling:
            break
        take = min(available, ((amount - spent) / price).quantize(unit, rounding=ROUND_DOWN))
        if take <= 0:
            break
        qty, spent = qty + take, spent + take * price
    return qty, spent


def test_paper_fills_walk_the_real_book_and_send_it_no_private_request(tmp_path: Path) -> None:
    paper = Paper(tmp_path)
    try:
        first = paper.cli("--quarterly-rebalance-twap")
        books = {coin: paper.book(coin) for coin in TARGETS}  # the same minute: the book the orders walked
        assert all(line.startswith("[PAPER]") for line in first.out.splitlines() if line)
        state = paper.state()
        assert state["installation"]["exchange"] == {"mode": "paper", "base_url": paper.sim.url, "key_fp": "none"}
        orders = [o for leg in state["plans"][0]["legs"] for o in leg["orders"]]
        assert len(orders) == 4
        markets = {m["target_currency"]: m for m in requests.get(f"{paper.sim.url}/public/v2/markets/KRW",
                                                                 timeout=10).json()["markets"]}
        for order in orders:
            asks = books[order["target"]]["asks"]
            qty, spent = walk_buy(asks, Decimal(order["amount_krw"]), Decimal(markets[order["target"]]["qty_unit"]),
                                  Decimal(order["limit_price"]))
            assert Decimal(order["executed_qty"]) == qty > 0, order["uoid"]
            assert Decimal(order["executed_krw"]) == spent
            assert Decimal(order["fee"]) == (spent * Decimal("0.002")).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
        assert paper.sim.orders() == []  # the "real exchange" holds no order of ours
        private = [line for line in paper.sim.request_log() if " /v2" in line]
        assert private == [] and any("/public/v2/orderbook/KRW/BTC" in l for l in paper.sim.request_log())
    finally:
        paper.close()


def test_a_whole_quarter_on_paper_reaches_its_targets(tmp_path: Path) -> None:
    paper = Paper(tmp_path, exchange={"access_token": "a-real-looking-key", "secret_key": "not-used"})
    try:
        weekly = paper.cli("--weekly-analysis")
        assert "paper mode uses no exchange keys" in weekly.err
        paper.cli("--quarterly-rebalance-twap")
        for _ in range(20):
            if finished(paper.state()):
                break
            paper.now += timedelta(minutes=15)
            paper.cli("--process-twap")
        assert finished(paper.state()) and paper.state()["plans"][-1]["status"] == "completed"
        report = paper.cli("--performance-report", "1", "--json")
        assert json.loads(report.out)["mode"] == "paper"
        # what the paper account executed, per plan leg, against the leg's planned total
        executed: dict[str, Decimal] = {}
        for (raw,) in paper.account("SELECT data FROM orders"):
            order = json.loads(raw)
            executed[order["user_order_id"]] = Decimal(order["traded_amount"] if order["side"] == "BUY"
                                                       else order["executed_qty"])
        state = paper.state()
        plan = state["plans"][-1]
        for leg in plan["legs"]:
            prefix = f"k1-{state['installation']['id']}-{plan['plan_id']}-{leg['target'].lower()}-"
            done = sum((v for k, v in executed.items() if k.startswith(prefix)), Decimal(0))
            price = Decimal(plan["arrival"][leg["target"]])
            unit_value = Decimal(leg["qty_unit"]) * price
            tolerance = max(Decimal(leg["min_order_krw"]), unit_value) if leg["unit"] == "krw" else \
                max(Decimal(leg["min_order_krw"]) / price, Decimal(leg["qty_unit"]))
            total = Decimal(leg["total"])
            # within one minimum order (or one quantity unit, when that is worth more) of the plan's target
            assert done <= total and total - done <= tolerance, (leg["target"], done, total)
        assert [l for l in paper.sim.request_log() if " /v2" in l] == [] and paper.sim.orders() == []
    finally:
        paper.close()


def test_reset_paper_starts_again_with_paper_initial_krw(tmp_path: Path) -> None:
    paper = Paper(tmp_path, paper={"initial_krw": 3_000_000})
    try:
        paper.cli("--quarterly-rebalance-twap")
        assert paper.install.run("--reset-paper", now=paper.now).code == 2  # asks for --yes
        done = paper.cli("--reset-paper", "--yes")
        assert "[PAPER]" in done.out
        assert not (paper.install.home / "data" / "paper" / "state.json").exists()
        status = paper.cli("--system-status")
        assert "KRW available 3,000,000" in status.out
    finally:
        paper.close()


def test_a_backtest_in_paper_mode_uses_the_exchanges_own_daily_candles(tmp_path: Path) -> None:
    paper = Paper(tmp_path)
    try:
        result = paper.cli("--backtest", "--start", "2024-01-01", "--end", "2026-06-30", "--json")
        report = json.loads(result.out)
        assert report["mode"] == "paper"
        charts = [l for l in paper.sim.request_log() if l.startswith("GET /public/v2/chart/KRW/BTC")]
        assert charts and all("interval=1d" in l for l in charts)  # read from the (simulated) exchange, then cached
        assert [l for l in paper.sim.request_log() if " /v2" in l] == []
    finally:
        paper.close()


def test_preflight_on_paper_reads_the_real_markets_and_the_local_account_only(tmp_path: Path) -> None:
    paper = Paper(tmp_path)
    try:
        out = paper.cli("--preflight").out
        for expected in ("API keys: not needed for paper trading", "Balances: readable (KRW available 10,000,000",
                         "BTC: MARKET orders allowed", "Fees: BTC 0.20%", "Data directory: empty so far"):
            assert expected in out, expected
        assert "❌" not in out and all(line.startswith("[PAPER]") for line in out.splitlines() if line)
        private = [line for line in paper.sim.request_log() if " /v2" in line]
        assert private == []  # the "real exchange" saw public requests only
    finally:
        paper.close()
