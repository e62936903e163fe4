"""Where history comes from: user CSVs (format, one-line errors per bad row), the SQLite cache, weekly candles."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from backtest import D, flat_day, weekly_steps, write_csv
from kairos.backtest.cache import CandleCache, load_daily
from kairos.backtest.csvdata import CsvError, load_dir, read_csv
from kairos.backtest.data import DAY_MS, from_date, weekly_from_daily
from kairos.coinone.models import Candle
from kairos.errors import ConfigError

DAY0 = from_date(date(2024, 1, 1))  # a Monday


# ---- CSV ---------------------------------------------------------------------------------------------
def test_csv_round_trip_any_row_order_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "BTC.csv"
    path.write_text("\ufeffDate, Close ,open,high,low,volume,note\n"
                    "2024-01-02,105,100,110,95,2.5,x\n"
                    "2024-01-01,100,90,101,89,1,\n", encoding="utf-8")
    first, second = read_csv(path, "data/BTC.csv")
    assert first == Candle(DAY0 * DAY_MS, D(90), D(101), D(89), D(100), D(1), D(100))
    assert (second.close, second.target_volume, second.quote_volume) == (D(105), D("2.5"), D("262.5"))


def test_bad_rows_give_one_line_each_naming_file_and_row(tmp_path: Path) -> None:
    write_csv(tmp_path / "BTC.csv", [flat_day(DAY0 + i, 100) for i in range(3)], extra_rows=[
        "2024-01-04,100,100,100,abc,1",  # row 5: the header is row 1, then three good rows
        "2024-01-05,100,90,110,95",  # row 6: a field missing
        "2024-01-06,100,120,110,100,1",  # row 7: open (and close) 100 below the low 110
        "2024/01/07,100,100,100,100,1",  # row 8: bad date
        "2024-01-02,100,100,100,100,1",  # row 9: a day given twice
        "2024-01-10,-5,100,100,100,1",  # row 10: negative price
    ])
    with pytest.raises(CsvError) as caught:
        read_csv(tmp_path / "BTC.csv", "data/BTC.csv")
    assert caught.value.problems == [
        "data/BTC.csv row 5: close: expected a number, got 'abc'",
        "data/BTC.csv row 6: expected 6 fields, got 5",
        "data/BTC.csv row 7: open 100 is outside low 110 .. high 120",
        "data/BTC.csv row 8: date: expected YYYY-MM-DD, got '2024/01/07'",
        "data/BTC.csv row 9: date: 2024-01-02 already given in row 3",
        "data/BTC.csv row 10: open: must be positive, got '-5'",
    ]
    assert all("\n" not in p for p in caught.value.problems)
    assert isinstance(caught.value, ConfigError) and caught.value.exit_code == 2


def test_missing_files_and_header_problems_are_listed_together(tmp_path: Path) -> None:
    (tmp_path / "BTC.csv").write_text("day,open,high,low,close\n2024-01-01,1,1,1,1\n", encoding="utf-8")
    with pytest.raises(CsvError) as caught:
        load_dir(tmp_path, ("BTC", "ETH"), "mydata")
    assert caught.value.problems == [
        "mydata/BTC.csv row 1: header lacks date, volume (expected date,open,high,low,close,volume, "
        "got day,open,high,low,close)",
        "mydata/ETH.csv: not found (--data needs one SYMBOL.csv per coin: BTC, ETH)",
    ]
    assert str(caught.value).startswith("2 problems in the CSV data, first: mydata/BTC.csv row 1")


# ---- weekly candles from daily ---------------------------------------------------------------------
def test_weekly_candles_aggregate_monday_to_sunday() -> None:
    days = [Candle((DAY0 + i) * DAY_MS, D(10 + i), D(20 + i), D(5 + i), D(11 + i), D(1), D(100)) for i in range(10)]
    first, second = weekly_from_daily(days)
    assert (first.timestamp, first.open, first.close, first.high, first.low, first.quote_volume) == (
        DAY0 * DAY_MS, D(10), D(17), D(26), D(5), D(700))
    assert (second.timestamp, second.open, second.close, second.quote_volume) == ((DAY0 + 7) * DAY_MS, D(17), D(20), D(300))


# ---- cache -------------------------------------------------------------------------------------------
class FakeChart:
    """Stands in for CoinoneClient.chart: serves `days` per coin, newest `count`, counting calls."""

    def __init__(self, days: dict[str, list[Candle]]) -> None:
        self.days = days
        self.calls: list[tuple[str, int]] = []

    def chart(self, target: str, interval: str, count: int, end_ms: int | None = None) -> list[Candle]:
        assert interval == "1d" and end_ms is None
        self.calls.append((target, count))
        return self.days[target][-count:]


class NoNetwork:
    def chart(self, target: str, interval: str, count: int, end_ms: int | None = None) -> list[Candle]:
        raise AssertionError(f"network call for {target}")


def test_second_run_is_offline_and_later_runs_fetch_only_new_days(tmp_path: Path) -> None:
    cache = CandleCache(tmp_path / "cache.sqlite")
    series = {c: [flat_day(DAY0 + i, 100 + i) for i in range(40)] for c in ("BTC", "ETH")}
    today = DAY0 + 39  # day 39's candle is still open: never cached
    fake = FakeChart(series)
    first, fetched = load_daily(cache, lambda: fake, "mock:seed=1", ("BTC", "ETH"), today, today - 1)
    assert fetched == 2 and [len(first[c]) for c in ("BTC", "ETH")] == [39, 39]
    assert fake.calls[0][1] > 4000  # the first fetch asks for everything back to 2013 (paged by the client)

    # Same day again: the cache covers it, the client is never even built.
    def no_client() -> NoNetwork:
        raise AssertionError("client built")
    again, fetched = load_daily(cache, no_client, "mock:seed=1", ("BTC", "ETH"), today, today - 1)
    assert fetched == 0 and again == first

    # Three days later: one call per coin for the days since the last check (+ today's open candle).
    later = FakeChart({c: s + [flat_day(DAY0 + 40 + i, 200) for i in range(3)] for c, s in series.items()})
    newer, fetched = load_daily(cache, lambda: later, "mock:seed=1", ("BTC", "ETH"), today + 3, today + 2)
    assert later.calls == [("BTC", 5), ("ETH", 5)]
    assert len(newer["BTC"]) == 42 and newer["BTC"][-1].close == D(200)

    # An --end already covered needs no call either, and returns only days up to it.
    upto, fetched = load_daily(cache, no_client, "mock:seed=1", ("BTC",), today + 10, DAY0 + 9)
    assert fetched == 0 and upto["BTC"][-1].timestamp == (DAY0 + 9) * DAY_MS


def test_sources_never_mix(tmp_path: Path) -> None:
    cache = CandleCache(tmp_path / "cache.sqlite")
    today = DAY0 + 30
    load_daily(cache, lambda: FakeChart({"BTC": [flat_day(DAY0 + i, 1) for i in range(30)]}),
               "mock:seed=1", ("BTC",), today, today - 1)
    real = FakeChart({"BTC": [flat_day(DAY0 + i, 50_000_000) for i in range(30)]})
    got, fetched = load_daily(cache, lambda: real, "coinone:https://api.coinone.co.kr", ("BTC",), today, today - 1)
    assert fetched == 1 and {c.close for c in got["BTC"]} == {D(50_000_000)}
    assert {c.close for c in cache.candles("mock:seed=1", "BTC")} == {D(1)}


def test_kst_aligned_daily_candles_are_labelled_with_their_kst_date(tmp_path: Path) -> None:
    cache = CandleCache(tmp_path / "cache.sqlite")
    kst = [Candle((DAY0 + i) * DAY_MS - 9 * 3_600_000, D(1), D(1), D(1), D(1), D(1), D(1)) for i in range(5)]
    got, _ = load_daily(cache, lambda: FakeChart({"BTC": kst}), "coinone:x", ("BTC",), DAY0 + 4, DAY0 + 3)
    # Each candle opens at 15:00 UTC the day before its KST date. At 00:00 UTC on day 4 the candle of KST day 4
    # (opened 15:00 UTC on day 3) is still open, so KST days 0..3 are kept, relabelled 00:00 UTC of those dates.
    assert [c.timestamp for c in got["BTC"]] == [(DAY0 + i) * DAY_MS for i in range(4)]


def test_weekly_steps_helper_builds_flat_weeks() -> None:
    candles = weekly_steps(date(2024, 1, 1), [D(1), Decimal(2)])
    assert len(candles) == 14 and candles[7].open == D(2) and candles[6].close == D(1)
