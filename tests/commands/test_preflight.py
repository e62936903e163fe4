"""--preflight: read-only checks before going live, each ✅/⚠️/❌ with what to do, in both languages.

Live mode runs against the simulator mounted on `exchange.base_url` (the real client, real signing), so
each finding — a refused IP, a secret that must be upper-cased, a market without MARKET orders, a data
directory of another exchange — is the exchange's own answer.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.store import SqliteStore
from tests.commands.conftest import NO_RATE_LIMITS, Kairos

LIVE_URL = "https://api.coinone.example"
SIM_TOKEN, SIM_SECRET = "sim-access-token-0000", "sim-secret-key-0000"


class Recording:
    """The simulator, recording every path it answers (to prove preflight only reads)."""

    def __init__(self, app: Any) -> None:
        self.app, self.paths = app, []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.paths.append(environ["PATH_INFO"])
        return self.app(environ, start_response)


def live(k: Kairos, **sim: Any) -> Recording:
    """A live-mode config for `k` and a simulated live exchange (its own account) configured by `sim`."""
    (k.home / "live").mkdir(exist_ok=True)
    app = SimExchange(k.app.model, SqliteStore(k.home / "live" / "exchange.sqlite"), k.clock,
                      config=SimConfig(**{**NO_RATE_LIMITS, **sim}))
    k.configure(mode="live", exchange={"base_url": LIVE_URL, "access_token": SIM_TOKEN, "secret_key": SIM_SECRET})
    return Recording(app)


def test_a_ready_account_passes_every_check_and_only_reads(kairos: Kairos) -> None:
    exchange = live(kairos)
    result = kairos("--preflight", "--lang", "en", live_app=exchange)
    assert result.code == 0, result.out + result.err
    out = result.out
    for expected in ("API keys: configured (values hidden)", "Server IP: accepted",
                     "Signature: accepted (exchange.secret_key_case: as_issued)", "Balances: readable (KRW available 10,000,000",
                     "BTC: MARKET orders allowed · minimum order 5,000 KRW", "Fees: BTC 0.20%",
                     "Data directory: empty so far", "Overall: ready for live trading"):
        assert expected in out, expected
    assert "❌" not in out and all(line.startswith("[LIVE]") for line in out.splitlines() if line)
    writes = [p for p in exchange.paths if p.startswith("/v2.1/order") and p != "/v2.1/order/active_orders"]
    assert writes == [] and not (kairos.home / "data" / "live" / "state.json").exists()


def test_a_secret_that_must_be_upper_cased_is_found_and_the_setting_named(kairos: Kairos) -> None:
    exchange = live(kairos, secret_key_case="upper")
    result = kairos("--preflight", "--lang", "en", live_app=exchange)
    assert result.code == 1
    assert ("❌ Signature: refused as configured (as_issued) but accepted the other way — set "
            "exchange.secret_key_case: upper in the config") in result.out
    kairos.configure(exchange={"secret_key_case": "upper"})
    fixed = kairos("--preflight", "--lang", "en", live_app=exchange)
    assert fixed.code == 0 and "Signature: accepted (exchange.secret_key_case: upper)" in fixed.out
    assert kairos("--balance", "--lang", "en", live_app=exchange).code == 0  # every private call signs that way


def test_a_wrong_secret_fails_both_forms(kairos: Kairos) -> None:
    exchange = live(kairos)
    kairos.configure(exchange={"secret_key": "not-the-secret"})
    result = kairos("--preflight", "--lang", "ko", live_app=exchange)
    assert result.code == 1 and "❌ 서명: 두 형식(그대로/대문자) 모두 거부됨" in result.out
    assert "not-the-secret" not in result.out + result.err


class IpRefused:
    """Coinone's answer when the key is bound to other IP addresses: error 10 on every private call."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ["PATH_INFO"].startswith("/v2.1/"):
            return self.app(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"result": "error", "error_code": "10", "error_msg": "IP not allowed"}).encode()]


@pytest.mark.parametrize("lang, text", [("en", "❌ Server IP: not allowed (Coinone error 10) — add this server's public IP"),
                                        ("ko", "❌ 서버 IP: 거부됨 (코인원 오류 10) — 코인원 웹 → API 관리에서")])
def test_a_refused_ip_says_where_to_add_it(kairos: Kairos, lang: str, text: str) -> None:
    exchange = live(kairos)
    result = kairos("--preflight", "--lang", lang, live_app=IpRefused(exchange))
    assert result.code == 1 and text in result.out


class NoMarketOrders:
    """The markets list with `coin` accepting only limit orders (upper-case, as one client's mock writes them)."""

    def __init__(self, app: Any, coin: str) -> None:
        self.app, self.coin = app, coin

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ["PATH_INFO"].startswith("/public/v2/markets/"):
            return self.app(environ, start_response)
        seen: dict[str, Any] = {}
        body = json.loads(b"".join(self.app(environ, lambda status, headers, *a: seen.update(status=status))))
        for row in body.get("markets", []):
            if row["target_currency"] == self.coin:
                row["order_types"] = ["LIMIT"]
        start_response(seen["status"], [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


def test_missing_keys_stop_at_the_config_load_with_the_key_named(kairos: Kairos) -> None:
    exchange = live(kairos)
    kairos.configure(exchange={"access_token": None, "secret_key": None})
    result = kairos("--preflight", "--lang", "en", live_app=exchange)
    assert result.code == 2 and "exchange.access_token: required in live mode" in result.err


def test_a_market_without_market_orders_fails_its_line(kairos: Kairos) -> None:
    exchange = live(kairos)
    result = kairos("--preflight", "--lang", "en", live_app=NoMarketOrders(exchange, "XRP"))
    assert result.code == 1
    assert "❌ XRP: MARKET orders not accepted (order_types: LIMIT) — KAIROS-1 places MARKET orders only" in result.out
    assert "✅ BTC: MARKET orders allowed" in result.out  # the other coins are still checked


def test_a_data_directory_of_another_exchange_fails_the_binding_check(kairos: Kairos) -> None:
    exchange = live(kairos)
    assert kairos("--weekly-analysis", live_app=exchange).code == 0  # binds data/live/ to this exchange and key
    ok = kairos("--preflight", "--lang", "en", live_app=exchange)
    assert "✅ Data directory: bound to this exchange and key" in ok.out
    kairos.configure(exchange={"base_url": "https://api.other.example"})
    moved = kairos("--preflight", "--lang", "en", live_app=exchange)
    assert moved.code == 1
    assert "❌ Data directory: data directory" in moved.out and "belongs to live https://api.coinone.example" in moved.out


def test_json_is_one_document_with_every_check(kairos: Kairos) -> None:
    exchange = live(kairos)
    doc = json.loads(kairos("--preflight", "--json", live_app=exchange).out)
    keys = {c["key"] for c in doc["checks"]}
    assert doc["ready"] is True and {"keys", "ip", "signature", "balances", "fees", "binding", "market:BTC"} <= keys


def test_mock_mode_runs_the_same_checks_against_the_simulator(kairos: Kairos) -> None:
    result = kairos("--preflight")
    assert result.code == 0 and "모의 거래소 (연습용 점검)" in result.out and "서명: 승인됨" in result.out
