"""`--backtest` end to end through kairos.cli.main, in-process: mock mode over the simulator's history,
the offline rerun from the cache, user CSVs, and every refusal with its exit code."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest

from backtest import run_cli, utc, weekly_steps, write_csv
from kairos.backtest.report import width
from kairos.clock import FixedClock
from kairos.sim.factory import paper_exchange

NOW = utc(2026, 11, 26, 7)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class CountingApp:
    """The simulator WSGI app, counting every request that reaches it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.model, self.calls = inner, inner.model, 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.calls += 1
        return self.inner(environ, start_response)


def test_mock_backtest_over_the_simulator_history_then_offline_rerun(tmp_path: Path) -> None:
    chart = tmp_path / "bt.png"
    code, out, err = run_cli(tmp_path, "--backtest", "--chart", str(chart), clock=FixedClock(NOW))
    assert code == 0, err
    assert chart.read_bytes()[:8] == PNG_MAGIC and chart.stat().st_size > 20_000
    header = next(line for line in out.splitlines() if "BTC 보유" in line)
    for name in ("전략", "BTC 보유", "고정 70/30", "동일비중 보유"):
        assert name in header
    costs = next(line for line in out.splitlines() if "비용 (KRW)" in line).split()[-4:]  # one per portfolio
    assert all(c.replace(",", "").isdigit() and int(c.replace(",", "")) > 0 for c in costs)
    assert "기간: 2019-11-04 ~ 2026-11-25" in out  # 200 weeks after BTC's first simulated week (2016-01-04)
    assert "SOL 2021-06-28부터" in out and "이번에 거래소에서 받은 코인 4개" in out
    assert all(line.startswith("[모의 거래소]") for line in out.splitlines())

    # Second run: the cache covers every day, so the simulator must not see a single request.
    counting = CountingApp(paper_exchange(tmp_path / "data" / "mock" / "mock_exchange.sqlite", clock=FixedClock(NOW)))
    code, again, err = run_cli(tmp_path, "--backtest", "--lang", "en", clock=FixedClock(NOW), sim_app=counting)
    assert code == 0, err
    assert counting.calls == 0
    assert "0 coin(s) fetched from the exchange this run" in again
    final_ko = next(line for line in out.splitlines() if "최종 자산" in line).split()[-4:]
    final_en = next(line for line in again.splitlines() if "Final equity" in line).split()[-4:]
    assert final_ko == final_en  # same data, same numbers: reproducible
    for text in (out, again):  # the tables fit a 100-column terminal (Hangul counted two wide), tag included
        lines = text.splitlines()
        tables = [l for l in lines if "%" in l or "CAGR" in l or any(n in l for n in ("Strategy", "전략"))]
        assert tables and max(width(l) for l in tables) <= 100, max(tables, key=width)
    header = next(line for line in again.splitlines() if "Equal-weight hold" in line)
    assert "Static 70/30  " in header and "70/30Equal" not in header  # cells never run together


def test_csv_data_backtest_with_json(tmp_path: Path) -> None:
    data = tmp_path / "mydata"
    data.mkdir()
    # 260 weeks: flat 200 weeks, then a ramp to 2× and a crash to 0.5×, then a recovery.
    prices = [1000] * 200 + [1000 + 50 * i for i in range(20)] + [500] * 20 + [1200] * 20
    for coin, scale in (("BTC", 100_000), ("ETH", 5_000), ("XRP", 3), ("SOL", 200)):
        write_csv(data / f"{coin}.csv", weekly_steps(date(2019, 1, 7), [p * scale for p in prices]))
    code, out, err = run_cli(tmp_path, "--backtest", "--data", str(data), "--json", "--capital", "50,000,000")
    assert code == 0, err
    doc = json.loads(out)["backtest"]
    assert doc["source"] == f"csv:{data}" and doc["capital"] == "50000000" and doc["cache"] is None
    assert set(doc["metrics"]) == {"strategy", "btc_hold", "static", "equal_weight"}
    assert [f["regime"] for f in doc["flips"]] == ["risk_off", "risk_on"]
    assert doc["metrics"]["strategy"]["costs_krw"] > 0 and doc["metrics"]["strategy"]["flips"] == 2
    assert doc["robustness"][0]["start"] == doc["start"]


def test_csv_bad_rows_exit_2_with_one_line_each(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    good = weekly_steps(date(2024, 1, 1), [100] * 3)
    write_csv(data / "BTC.csv", good, extra_rows=["2024-02-01,1,1,1,abc,1", "2024-02-02,1,1,1,1,-3"])
    for coin in ("ETH", "XRP", "SOL"):
        write_csv(data / f"{coin}.csv", good)
    code, out, err = run_cli(tmp_path, "--backtest", "--data", str(data), "--lang", "en")
    assert code == 2 and out == ""
    lines = err.splitlines()
    # 3 weeks = 21 good rows after the header (rows 2..22), then the two bad ones
    assert lines[:2] == [f"{data}/BTC.csv row 23: close: expected a number, got 'abc'",
                         f"{data}/BTC.csv row 24: volume: must not be negative, got -3"]
    assert lines[-1].startswith("error: 2 problems in the CSV data, first: ")


def test_one_bad_row_is_the_error_line_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # --data data is relative to the working directory, as a user types it
    data = tmp_path / "data"
    data.mkdir()
    good = weekly_steps(date(2024, 1, 1), [100] * 3)
    for coin in ("BTC", "ETH", "XRP", "SOL"):
        write_csv(data / f"{coin}.csv", good, extra_rows=["2024-02-01,1,1,1,abc,1"] if coin == "BTC" else [])
    code, _, err = run_cli(tmp_path, "--backtest", "--data", "data")
    assert (code, err) == (2, "오류: data/BTC.csv row 23: close: expected a number, got 'abc'\n")


def test_too_little_history_says_how_much_there_is(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    for coin in ("BTC", "ETH", "XRP", "SOL"):
        write_csv(data / f"{coin}.csv", weekly_steps(date(2020, 1, 6), [100] * 150))
    code, out, err = run_cli(tmp_path, "--backtest", "--data", str(data), "--lang", "en")
    assert code == 1 and out == ""
    assert err == ("error: need 200 completed weekly candles of BTC/KRW for the 200-week MA, the data has 150 "
                   "(daily candles 2020-01-06 .. 2022-11-20); no backtest\n")


def test_start_before_the_first_possible_decision(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    for coin in ("BTC", "ETH", "XRP", "SOL"):
        write_csv(data / f"{coin}.csv", weekly_steps(date(2020, 1, 6), [100] * 210))
    code, _, err = run_cli(tmp_path, "--backtest", "--data", str(data), "--start", "2023-01-01", "--lang", "en")
    assert code == 1
    assert err == ("error: --start 2023-01-01: the 200-week MA needs 200 completed weeks of BTC/KRW before the first "
                   "decision; the data has 156 before 2023-01-02 (daily candles from 2020-01-06); "
                   "earliest start: 2023-11-06\n")


@pytest.mark.parametrize("args, message", [
    (["--start", "2020-02-30"], "--start: no such day '2020-02-30'"),
    (["--start", "20200101"], "--start: expected a date as YYYY-MM-DD, got '20200101'"),
    (["--end", "2021-01-01", "--start", "2022-01-01"], "--start 2022-01-01 is after --end 2021-01-01"),
    (["--capital", "abc"], "--capital: expected a number, got 'abc' (KRW, e.g. 10000000)"),
    (["--capital", "0"], "--capital: must be more than 0 and at most 1,000,000,000,000,000 KRW, got '0'"),
    (["--chart", "out.jpg"], "--chart: expected a .png file name, got 'out.jpg'"),
    (["--chart", "/no/such/dir/bt.png"], "--chart /no/such/dir/bt.png: folder /no/such/dir does not exist"),
])
def test_bad_flags_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    code, out, err = run_cli(tmp_path, "--backtest", "--lang", "en", *args)
    assert (code, out, err) == (2, "", f"error: {message}\n")
    assert not (tmp_path / "data" / "backtest_cache.sqlite").exists()  # refused before touching any data
