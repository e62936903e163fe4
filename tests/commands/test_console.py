"""--balance and --orders: the operator's first screens, in both languages and as JSON."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.commands.conftest import Kairos


@pytest.mark.parametrize("lang, words", [("ko", ("보유 자산", "사용 가능", "합계", "진행 중 TWAP")),
                                         ("en", ("Holdings", "available", "Total", "Active TWAP"))])
def test_balance_shows_holdings_weights_open_orders_and_the_plan(kairos: Kairos, lang: str, words: tuple) -> None:
    assert kairos("--quarterly-rebalance-twap").code == 0
    result = kairos("--balance", "--lang", lang)
    assert result.code == 0, result.err
    for word in words:
        assert word in result.out
    btc = [l for l in result.out.splitlines() if " BTC " in l][0]
    assert f"{kairos.balance('BTC').normalize():f}" in btc  # what the exchange holds, to its unit
    data = json.loads(kairos("--balance", "--json").out)
    coins = {c["coin"]: c for c in data["coins"]}
    assert Decimal(coins["BTC"]["available"]) == kairos.balance("BTC") and Decimal(coins["BTC"]["target"]) == Decimal("0.12")
    total = Decimal(data["krw"]["available"]) + sum(Decimal(c["value"]) for c in coins.values())
    assert abs(total - Decimal(data["total_krw"])) < Decimal("0.01")
    assert data["plans"][0]["plan_id"] == kairos.plan()["plan_id"] and data["open_orders"] == []


def test_orders_lists_the_ledger_with_words_for_statuses(kairos: Kairos) -> None:
    assert kairos("--quarterly-rebalance").code == 0
    en = kairos("--orders", "7", "--lang", "en")
    assert en.code == 0 and "Orders (last 7 days, 4)" in en.out
    assert "CANCELED_UNDER_PRODUCT_UNIT" not in en.out  # a successful buy never reads like a failure
    rows = json.loads(kairos("--orders", "--json").out)["orders"]
    assert len(rows) == 4 and {r["target"] for r in rows} == {"BTC", "ETH", "XRP", "SOL"}
    assert all(Decimal(r["executed_qty"]) > 0 for r in rows)
    ko = kairos("--orders")
    assert "주문 내역 (최근 30일, 4건)" in ko.out and "매수" in ko.out


def test_orders_on_a_fresh_installation_says_so(kairos: Kairos) -> None:
    result = kairos("--orders", "--lang", "en")
    assert result.code == 0 and "No order recorded" in result.out
    assert json.loads(kairos("--orders", "--json").out)["orders"] == []


def test_no_tracking_error_alert_before_the_first_rebalance_then_one_after(kairos: Kairos) -> None:
    assert kairos("--weekly-analysis").code == 0  # a brand-new account: 100 % KRW, far from 30 % crypto
    assert kairos.alerts("tracking_error") == []
    assert kairos("--quarterly-rebalance").code == 0  # at the targets now
    kairos.set_krw(Decimal(100_000_000))  # a large deposit: KRW far above its target
    kairos.step(days=7)
    assert kairos("--weekly-analysis").code == 0
    assert len(kairos.alerts("tracking_error")) == 1


@pytest.mark.parametrize("lang, mark", [("ko", "[실거래] "), ("en", "[LIVE] ")])
def test_live_lines_carry_their_own_tag(tmp_path, lang: str, mark: str) -> None:
    import io

    from kairos.output import Output

    stream = io.StringIO()
    Output(stream, lang=lang, mode="live").say("one\ntwo")
    assert stream.getvalue().splitlines() == [mark + "one", mark + "two"]


@pytest.mark.parametrize("args", [("--quarterly-rebalance",), ("--quarterly-rebalance-twap",),
                                  ("--quarterly-rebalance", "--dry-run"), ("--quarterly-rebalance-twap", "--dry-run"),
                                  ("--process-twap",), ("--twap-status",), ("--clear-failed-twap",),
                                  ("--reset-mock",)])
def test_json_prints_one_document_on_every_path_even_nothing_to_do(kairos: Kairos, args: tuple) -> None:
    assert kairos("--quarterly-rebalance").code == 0  # done this quarter: the next ones have nothing to do
    kairos.step(minutes=15)
    result = kairos(*args, "--json", "--lang", "en")
    document = json.loads(result.out)  # exactly one JSON document, whatever the path
    assert isinstance(document, dict) and document["simulated"] is True
    if result.code != 0:
        assert document["exit_code"] == result.code and document["error"]


def test_the_log_tells_what_happened_with_iso_timestamps(kairos: Kairos) -> None:
    import re

    assert kairos("--weekly-analysis").code == 0
    assert kairos("--quarterly-rebalance-twap").code == 0
    log = (kairos.home / "logs" / "kairos.log").read_text(encoding="utf-8")
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
    assert all(re.match(stamp + " ", line) for line in log.splitlines() if line and not line.startswith(" "))
    assert re.search(r"weekly decision: risk_off \(price \d+", log)
    assert "TWAP plan tw-" in log and "started (quarterly, risk_off)" in log
    assert re.search(r"order k1-\w+-tw-[\w-]+-btc-s000-a1: BUY BTC \d+ KRW \(limit [\d.]+\) → submitted", log)
    assert re.search(r"order k1-\w+-tw-[\w-]+-btc-s000-a1 \([\w-]+\): CANCELED_UNDER_PRODUCT_UNIT, executed", log)
    assert "alert weekly_analysis (info)" in log


def test_verbose_copies_the_log_to_stderr(kairos: Kairos) -> None:
    result = kairos("--weekly-analysis", "--verbose")
    assert result.code == 0 and "INFO kairos.season" in result.err and "weekly decision" in result.err


def test_the_cron_output_file_rotates_with_the_log(kairos: Kairos) -> None:
    kairos.configure(logging={"max_bytes": 10_000, "backups": 2})
    logs = kairos.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "cron.log").write_text("x" * 20_000, encoding="utf-8")
    assert kairos("--twap-status").code == 0
    assert not (logs / "cron.log").exists() and (logs / "cron.log.1").stat().st_size == 20_000


def test_show_config_names_each_source_and_never_a_secret(kairos: Kairos) -> None:
    kairos.configure(exchange={"access_token": "${MY_TOKEN}", "secret_key": "plain-secret-123"},
                     execution={"atr_candles": 120})
    result = kairos("--show-config", "--lang", "en", environ={"MY_TOKEN": "token-from-env-456"})
    assert result.code == 0, result.err
    assert "plain-secret-123" not in result.out + result.err and "token-from-env-456" not in result.out + result.err
    lines = {l.split("] ", 1)[-1].split(" = ")[0].strip(): l for l in result.out.splitlines() if " = " in l}
    assert "120" in lines["execution.atr_candles"] and "[file]" in lines["execution.atr_candles"]
    assert "set (hidden)" in lines["exchange.access_token"] and "[environment ${MY_TOKEN}]" in lines["exchange.access_token"]
    assert "[default]" in lines["execution.atr_period"]
    data = json.loads(kairos("--show-config", "--json", environ={"MY_TOKEN": "x"}).out)
    rows = {r["key"]: r for r in data["settings"]}
    assert rows["mode"]["source"] == "file" and rows["language"]["source"] == "default"
    assert data["home"] == str(kairos.home) and data["data_dir"] == str(kairos.home / "data" / "mock")


@pytest.mark.parametrize("lang, title, line", [("ko", "주간 시장 계절 분석", "200주 이동평균"),
                                               ("en", "Weekly season analysis", "vs 200-week MA")])
def test_alerts_speak_the_configured_language(kairos: Kairos, lang: str, title: str, line: str) -> None:
    from tests.notify import SlackServer

    with SlackServer() as slack:
        kairos.configure(language=lang, notifications={"slack": {"enabled": True, "webhook_url": slack.url}})
        assert kairos("--weekly-analysis").code == 0
        assert kairos("--quarterly-rebalance-twap").code == 0
    text = json.dumps(slack.bodies, ensure_ascii=False)
    assert title in text and line in text
    started = "TWAP tw-20261123t0000-1 시작 (분기 리밸런싱, 위험회피" if lang == "ko" else \
        "TWAP tw-20261123t0000-1 started (quarterly rebalance, risk-off"
    assert started in text
    assert "risk_off" not in text  # regimes as words, not identifiers
