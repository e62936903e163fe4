"""Inputs you can trust, through the CLI: a price is acted on only when its own book agrees with it, and
one odd row in a ~200-row list never stops the coins that are fine."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Callable

from tests.commands.conftest import Kairos

Rewrite = Callable[[dict[str, Any]], None]


class Tamper:
    """The simulator, with chosen public answers rewritten on the way out (the exchange's bugs, not ours)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rewrites: dict[str, list[Rewrite]] = {}

    def on(self, path_prefix: str, rewrite: Rewrite) -> None:
        """Rewrite answers on paths starting with `path_prefix` (exactly that path when it ends with $)."""
        self.rewrites.setdefault(path_prefix, []).append(rewrite)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"]
        rewrites = [r for prefix, rs in self.rewrites.items()
                    if (path == prefix[:-1] if prefix.endswith("$") else path.startswith(prefix)) for r in rs]
        if not rewrites:
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"], captured["headers"] = status, headers

        body = json.loads(b"".join(self.app(environ, keep)))
        for rewrite in rewrites:
            rewrite(body)
        payload = json.dumps(body).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(payload)))])
        return [payload]


def scale_last(coin: str, factor: Decimal) -> Rewrite:
    def rewrite(body: dict[str, Any]) -> None:
        for row in body.get("tickers", []):
            if row["target_currency"].upper() == coin:
                row["last"] = str(Decimal(row["last"]) * factor)
    return rewrite


def absurd_bid(coin: str) -> Rewrite:
    def rewrite(body: dict[str, Any]) -> None:
        for row in body.get("tickers", []):
            if row["target_currency"].upper() == coin:
                row["best_bids"][0]["price"] = "0.0001"
    return rewrite


def odd_row(key: str, row: dict[str, Any]) -> Rewrite:
    def rewrite(body: dict[str, Any]) -> None:
        body.setdefault(key, []).append(row)
    return rewrite


def break_field(key: str, coin: str, field: str) -> Rewrite:
    def rewrite(body: dict[str, Any]) -> None:
        for row in body.get(key, []):
            if row["target_currency"].upper() == coin:
                row[field] = None
    return rewrite


def run(k: Kairos, tamper: Tamper, *args: str):  # noqa: ANN201 - the conftest Result
    return k(*args, "--lang", "en", sim_app=tamper)


# ---- 1. one bad price ------------------------------------------------------------------------------------------
def test_one_bad_last_price_makes_no_rebalance_plan(kairos: Kairos) -> None:
    tamper = Tamper(kairos.app)
    tamper.on("/public/v2/ticker_new", scale_last("SOL", Decimal(20)))  # SOL's last ×20, its book untouched
    result = run(kairos, tamper, "--quarterly-rebalance")
    assert result.code == 1
    assert "no rebalance plan: SOL price not trusted" in result.err and "from the book's mid" in result.err
    assert kairos.orders() == []  # the bug: it sold 2.96 SOL and bought 2.2 M KRW of the others
    # nothing recorded (not even the first regime: inputs first): the quarter is still to do
    assert not kairos.state_file.exists() or kairos.state()["rebalance"]["last_quarter"] is None
    assert kairos.alerts("system_error")  # and the operator hears of it


def test_btcs_last_alone_cannot_flip_the_regime(kairos: Kairos) -> None:
    assert kairos("--weekly-analysis").code == 0
    season = kairos.state()["season"]
    tamper = Tamper(kairos.app)
    tamper.on("/public/v2/ticker_new", scale_last("BTC", Decimal(2)))  # far above the band if it were believed
    kairos.step(days=7)
    result = run(kairos, tamper, "--weekly-analysis")
    assert result.code == 1 and "no decision: BTC price not trusted" in result.err
    assert kairos.state()["season"] == season and kairos.orders() == []


def test_a_bad_quote_skips_that_coins_slice_and_never_closes_its_leg(kairos: Kairos) -> None:
    assert kairos("--quarterly-rebalance-twap").code == 0
    tamper = Tamper(kairos.app)
    tamper.on("/public/v2/ticker_new", absurd_bid("SOL"))  # one absurd bid: the minimum slice looked huge
    sol_before = len(kairos.orders("-sol-"))
    for _ in range(3):
        kairos.step(minutes=30)
        assert run(kairos, tamper, "--process-twap").code == 0
    [sol] = [l for l in kairos.plan()["legs"] if l["target"] == "SOL"]
    assert sol["status"] == "active" and len(kairos.orders("-sol-")) == sol_before  # no slice, not "done"
    assert sol["waiting"]["code"] == "untrusted_price"
    assert len(kairos.orders("-btc-")) > 1  # the other coins went on
    assert len(kairos.alerts("twap_stalled")) == 1  # one warning, not one per tick
    kairos.step(minutes=30)
    assert kairos("--process-twap").code == 0  # the quote is sane again: SOL resumes
    assert len(kairos.orders("-sol-")) == sol_before + 1


# ---- 2. one odd row ----------------------------------------------------------------------------------------------
JUNK_TICKER = {"quote_currency": "KRW", "target_currency": "JUNK", "timestamp": 0, "last": None,
               "best_asks": [], "best_bids": []}
JUNK_MARKET = {"quote_currency": "KRW", "target_currency": "JUNK", "min_order_amount": "5000"}  # no qty_unit


def test_an_unreadable_row_of_another_coin_is_skipped(kairos: Kairos) -> None:
    tamper = Tamper(kairos.app)
    tamper.on("/public/v2/ticker_new/KRW$", odd_row("tickers", JUNK_TICKER))  # the list of all, not one coin's
    tamper.on("/public/v2/markets/KRW$", odd_row("markets", JUNK_MARKET))
    assert run(kairos, tamper, "--weekly-analysis").code == 0
    result = run(kairos, tamper, "--quarterly-rebalance-twap")
    assert result.code == 0, result.err
    assert len(kairos.plan()["legs"]) == 4
    log = (kairos.home / "logs" / "kairos.log").read_text(encoding="utf-8")
    assert "tickers: 1 unreadable row(s) skipped: JUNK" in log and "markets: 1 unreadable row(s) skipped: JUNK" in log


def test_an_unreadable_row_of_a_traded_coin_names_the_coin_and_the_field(kairos: Kairos) -> None:
    tamper = Tamper(kairos.app)
    tamper.on("/public/v2/markets", break_field("markets", "SOL", "qty_unit"))
    result = run(kairos, tamper, "--quarterly-rebalance-twap")
    assert result.code == 1
    assert "SOL/KRW market rules unreadable" in result.err and "qty_unit" in result.err
    assert kairos.orders() == []
    tamper = Tamper(kairos.app)
    tamper.on("/public/v2/ticker_new", break_field("tickers", "XRP", "last"))
    result = run(kairos, tamper, "--quarterly-rebalance-twap")
    assert result.code == 1 and "no usable ticker for XRP" in result.err and "last" in result.err


# ---- 6. inputs first, then changes ---------------------------------------------------------------------------------
def test_a_forced_rebalance_that_cannot_read_its_inputs_leaves_the_running_plan(kairos: Kairos) -> None:
    from kairos.sim.faults import Fault

    assert kairos("--quarterly-rebalance-twap").code == 0
    plan = kairos.plan()
    for path, kind in (("/public/v2/ticker_new*", "http_5xx"), ("/public/v2/chart*", "malformed_json")):
        kairos.app.faults.add(Fault(kind, path=path, count=50))
        result = kairos("--quarterly-rebalance-twap", "--force", "--lang", "en")
        assert result.code == 1, result.err
        kairos.app.faults.clear()
        plans = kairos.plans()
        assert [p["status"] for p in plans] == ["active"] and plans[0]["plan_id"] == plan["plan_id"], path
    kairos.step(minutes=30)
    assert kairos("--process-twap").code == 0 and kairos.plan()["status"] == "active"  # and it goes on
