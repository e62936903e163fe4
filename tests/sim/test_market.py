"""The simulated market data model: determinism, candle algebra, listing, paging, ticker, book, shape."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from kairos.coinone.models import KRW_TICKS
from kairos.sim.market import DEFAULT_COINS, INTERVALS, CoinSpec, MarketModel, candle_start, next_start

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
REPO = Path(__file__).resolve().parents[2]
OHLC = ("open", "high", "low", "close")


def ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=timezone.utc).timestamp() * 1000)


NOW = ms(2026, 11, 26, 7, 30, 27) + 123  # a Thursday, mid-minute
LATER = ms(2027, 3, 1, 13, 0)  # exactly on a minute, hour and month boundary


@pytest.fixture(scope="module")
def model() -> MarketModel:
    return MarketModel()


def digest(model: MarketModel) -> str:
    """A fingerprint of prices, candles, tickers and books at a few instants."""
    parts = []
    for symbol in ("BTC", "SOL", "SHIB"):
        parts.append(model.price(symbol, NOW))
        parts.append(model.candles(symbol, "1h", NOW, size=30))
        parts.append(model.candles(symbol, "1w", LATER, size=5))
        parts.append(model.ticker(symbol, NOW))
        parts.append(model.book(symbol, NOW, levels=5))
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()


def aggregate(fine: list[dict]) -> dict:
    """What a coarse candle must be, given its fine candles (newest first, as returned)."""
    ordered = fine[::-1]
    return {"open": ordered[0]["open"], "high": max(c["high"] for c in fine), "low": min(c["low"] for c in fine),
            "close": ordered[-1]["close"], "target_volume": sum(c["target_volume"] for c in fine),
            "quote_volume": sum(c["quote_volume"] for c in fine)}


def without_timestamp(candle: dict) -> dict:
    return {k: v for k, v in candle.items() if k != "timestamp"}


# -- the coin table -------------------------------------------------------------------------------

def test_default_coins_cover_the_required_markets() -> None:
    symbols = {c.symbol for c in DEFAULT_COINS}
    assert len(DEFAULT_COINS) >= 20
    assert {"BTC", "ETH", "XRP", "SOL", "ADA", "DOGE", "TRX", "LINK", "DOT", "AVAX", "SHIB"} <= symbols
    listed = {c.symbol: c.listed for c in DEFAULT_COINS}
    assert max(listed["BTC"], listed["ETH"], listed["XRP"]) <= datetime(2017, 1, 2, tzinfo=timezone.utc)
    assert listed["SOL"] > max(listed["BTC"], listed["ETH"], listed["XRP"])


def test_interval_table_and_bucket_starts() -> None:
    assert list(INTERVALS) == ["1m", "3m", "5m", "10m", "15m", "30m", "1h", "2h", "4h", "6h", "1d", "1w", "1mon"]
    assert candle_start("1w", NOW) == ms(2026, 11, 23)  # Monday 00:00 UTC
    assert candle_start("1d", NOW) == ms(2026, 11, 26)
    assert candle_start("4h", NOW) == ms(2026, 11, 26, 4)
    assert candle_start("1mon", NOW) == ms(2026, 11, 1)
    assert next_start("1mon", ms(2026, 12, 1)) == ms(2027, 1, 1)


@pytest.mark.parametrize("symbol", [c.symbol for c in DEFAULT_COINS])
def test_price_is_calibrated_to_the_level_at_2026(model: MarketModel, symbol: str) -> None:
    level = model.spec(symbol).level
    price = model.price(symbol, ms(2026, 1, 1))
    assert abs(price / level - 1) < Decimal("0.02"), (price, level)


# -- determinism ----------------------------------------------------------------------------------

def test_two_fresh_instances_agree_and_the_seed_matters() -> None:
    assert digest(MarketModel()) == digest(MarketModel())
    assert MarketModel(seed=7).price("BTC", NOW) != MarketModel().price("BTC", NOW)


def test_another_process_computes_the_same_data(model: MarketModel) -> None:
    code = "import sys; sys.path.insert(0, sys.argv[1]); import test_market as t; print(t.digest(t.MarketModel()))"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == digest(model)


# -- candles ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fine, coarse, count, end", [
    ("1m", "1h", 60, ms(2026, 11, 25, 14, 59)),
    ("1m", "3m", 3, ms(2026, 11, 26, 7, 2)),
    ("5m", "30m", 6, ms(2026, 11, 26, 0, 29)),
    ("1h", "1d", 24, ms(2026, 11, 24, 23)),
    ("1h", "6h", 6, ms(2022, 3, 3, 17)),
    ("1d", "1w", 7, ms(2026, 11, 22)),  # Sunday: the week Mon 16 .. Sun 22
    ("1d", "1w", 7, ms(2018, 1, 7)),
    ("1d", "1mon", 28, ms(2026, 2, 28)),
    ("1d", "1mon", 31, ms(2021, 12, 31)),
])
def test_complete_candles_aggregate_their_finer_candles(model: MarketModel, fine: str, coarse: str,
                                                         count: int, end: int) -> None:
    fine_rows, _ = model.candles("BTC", fine, NOW, end_ms=end, size=count)
    [coarse_row], _ = model.candles("BTC", coarse, NOW, end_ms=end, size=1)
    assert len(fine_rows) == count
    assert fine_rows[-1]["timestamp"] == coarse_row["timestamp"]
    assert without_timestamp(coarse_row) == aggregate(fine_rows)


@pytest.mark.parametrize("fine, coarse, count", [
    ("1m", "1h", 31),  # 07:00 .. 07:30, the last one partial
    ("1h", "1d", 8),
    ("1d", "1w", 4),  # Mon .. Thu
    ("1d", "1mon", 26),
])
def test_the_partial_newest_candle_aggregates_what_has_traded(model: MarketModel, fine: str, coarse: str,
                                                              count: int) -> None:
    fine_rows, _ = model.candles("ETH", fine, NOW, size=count)
    [coarse_row], _ = model.candles("ETH", coarse, NOW, size=1)
    assert fine_rows[-1]["timestamp"] == coarse_row["timestamp"] == candle_start(coarse, NOW)
    assert without_timestamp(coarse_row) == aggregate(fine_rows)
    assert coarse_row["close"] == model.price("ETH", NOW)


def test_the_newest_minute_counts_as_traded_and_grows_with_time(model: MarketModel) -> None:
    [early], _ = model.candles("BTC", "1h", NOW, size=1)
    [later], _ = model.candles("BTC", "1h", NOW + 10 * MIN, size=1)
    [minute], _ = model.candles("BTC", "1m", NOW, size=1)
    assert early["timestamp"] == later["timestamp"] == ms(2026, 11, 26, 7)
    assert early["open"] == later["open"] and early["quote_volume"] < later["quote_volume"]
    assert minute["timestamp"] == ms(2026, 11, 26, 7, 30) and minute["close"] == model.price("BTC", NOW)
    assert model.price("BTC", NOW) == model.price("BTC", ms(2026, 11, 26, 7, 30))


@pytest.mark.parametrize("interval", list(INTERVALS))
def test_no_candle_lies_in_the_future(model: MarketModel, interval: str) -> None:
    rows, _ = model.candles("XRP", interval, NOW, size=5)
    assert rows[0]["timestamp"] == candle_start(interval, NOW)
    assert all(r["timestamp"] <= NOW for r in rows)
    assert [r["timestamp"] for r in rows] == sorted((r["timestamp"] for r in rows), reverse=True)
    assert model.candles("XRP", interval, NOW, end_ms=NOW + 400 * DAY, size=5) == (rows, False)


@pytest.mark.parametrize("interval, first_open", [
    ("1d", ms(2021, 6, 7)), ("1h", ms(2021, 6, 7)), ("1w", ms(2021, 6, 7)), ("1mon", ms(2021, 6, 1)),
])
def test_no_candles_before_listing(model: MarketModel, interval: str, first_open: int) -> None:
    listed = model.listed_ms("SOL")
    assert listed == ms(2021, 6, 7)
    rows, is_last = model.candles("SOL", interval, ms(2021, 6, 9, 12), size=500)
    assert is_last and rows[-1]["timestamp"] == first_open
    assert model.candles("SOL", interval, NOW, end_ms=listed - 1) == ([], True)
    assert not model.candles("SOL", interval, NOW, size=2)[1]


def test_a_mid_week_listing_opens_partial_weekly_and_monthly_candles() -> None:
    new = CoinSpec("NEW", datetime(2024, 5, 15, 12, tzinfo=timezone.utc), Decimal("5000"), 0.9, 1.2,
                   Decimal("0.0001"), Decimal("10"), Decimal("3000000"))
    model = MarketModel(coins=[new])
    assert model.listed_ms("NEW") == ms(2024, 5, 15)  # floored to 00:00 UTC, a Wednesday
    days, _ = model.candles("NEW", "1d", ms(2024, 6, 10), end_ms=ms(2024, 5, 19), size=10)
    weeks, is_last = model.candles("NEW", "1w", ms(2024, 6, 10), end_ms=ms(2024, 5, 19), size=10)
    assert is_last and len(days) == 5 and len(weeks) == 1
    assert weeks[0]["timestamp"] == ms(2024, 5, 13)
    assert without_timestamp(weeks[0]) == aggregate(days)
    months, _ = model.candles("NEW", "1mon", ms(2024, 6, 10), size=10)
    may, _ = model.candles("NEW", "1d", ms(2024, 6, 10), end_ms=ms(2024, 5, 31), size=40)
    assert [m["timestamp"] for m in months] == [ms(2024, 6, 1), ms(2024, 5, 1)]
    assert without_timestamp(months[1]) == aggregate(may)


def test_a_coin_path_does_not_depend_on_the_other_coins(model: MarketModel) -> None:
    alone = MarketModel(coins=[model.spec("ETH")])
    assert alone.candles("ETH", "1h", NOW, size=48) == model.candles("ETH", "1h", NOW, size=48)


def test_before_listing_there_is_no_price(model: MarketModel) -> None:
    assert not model.is_listed("SOL", ms(2021, 6, 6, 23, 59)) and model.is_listed("SOL", ms(2021, 6, 7))
    with pytest.raises(ValueError):
        model.price("SOL", ms(2021, 6, 6, 23, 59))
    assert model.candles("SOL", "1d", ms(2021, 6, 6, 23, 59)) == ([], True)
    assert model.price("SOL", ms(2021, 6, 7)) > 0


@pytest.mark.parametrize("symbol, interval, size", [("BTC", "1h", 100), ("BTC", "1mon", 7), ("SOL", "1w", 120)])
def test_paging_backwards_is_contiguous_and_reaches_the_listing(model: MarketModel, symbol: str, interval: str,
                                                                size: int) -> None:
    stamps, end, is_last, batches = [], None, False, 0
    while not is_last and batches < 4:
        rows, is_last = model.candles(symbol, interval, NOW, end_ms=end, size=size)
        stamps += [r["timestamp"] for r in rows]
        end, batches = rows[-1]["timestamp"] - 1, batches + 1
    assert len(stamps) == len(set(stamps))
    assert all(next_start(interval, older) == newer for newer, older in zip(stamps, stamps[1:]))
    if symbol == "SOL":
        assert is_last and stamps[-1] <= model.listed_ms("SOL") < next_start(interval, stamps[-1])


@pytest.mark.parametrize("symbol", ["BTC", "DOGE", "SHIB", "SOL"])
@pytest.mark.parametrize("interval", ["1m", "15m", "1d", "1w"])
def test_candle_prices_are_on_the_tick_grid(model: MarketModel, symbol: str, interval: str) -> None:
    rows, _ = model.candles(symbol, interval, NOW, size=60)
    decimals = 8 if model.spec(symbol).level >= 100 else 4
    for row in rows:
        assert all(KRW_TICKS.is_on_grid(row[k]) and row[k] > 0 for k in OHLC)
        assert row["low"] <= min(row["open"], row["close"]) <= max(row["open"], row["close"]) <= row["high"]
        assert row["quote_volume"] > 0 and row["target_volume"] > 0
        assert -row["target_volume"].as_tuple().exponent == decimals


# -- ticker ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("symbol, now", [("BTC", NOW), ("SHIB", LATER), ("SOL", ms(2021, 6, 7, 10, 5))])
def test_ticker_matches_the_last_1440_one_minute_candles(model: MarketModel, symbol: str, now: int) -> None:
    ticker = model.ticker(symbol, now)
    minutes, _ = model.candles(symbol, "1m", now, size=1440)
    expected = aggregate(minutes)
    assert ticker["timestamp"] == now
    assert ticker["last"] == model.price(symbol, now) == expected["close"]
    assert (ticker["first"], ticker["high"], ticker["low"]) == (expected["open"], expected["high"], expected["low"])
    assert ticker["quote_volume"] == expected["quote_volume"]
    assert ticker["target_volume"] == expected["target_volume"]
    before, _ = model.candles(symbol, "1m", now, end_ms=now - DAY, size=1440)
    if before:
        assert ticker["yesterday_last"] == before[0]["close"] and ticker["yesterday_first"] == before[-1]["open"]
        assert ticker["yesterday_quote_volume"] == aggregate(before)["quote_volume"]
    else:
        assert ticker["yesterday_last"] == ticker["yesterday_quote_volume"] == 0


@pytest.mark.parametrize("symbol, low, high", [
    ("BTC", Decimal("7e8"), Decimal("3e10")), ("XRP", Decimal("3e8"), Decimal("3e10")),
    ("SHIB", Decimal("7e6"), Decimal("1.4e9")),  # Coinone-like: the seed's figures × 0.14 (market_coins)
])
def test_daily_turnover_is_plausible(model: MarketModel, symbol: str, low: Decimal, high: Decimal) -> None:
    assert low < model.ticker(symbol, NOW)["quote_volume"] < high


# -- order book ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("symbol", ["BTC", "ETH", "XRP", "DOGE", "SHIB", "SOL"])
def test_book_brackets_the_last_price_on_the_grid(model: MarketModel, symbol: str) -> None:
    spec = model.spec(symbol)
    last = model.price(symbol, NOW)
    bids, asks = model.book(symbol, NOW)
    assert len(bids) == len(asks) == 15
    assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True)
    assert [p for p, _ in asks] == sorted({p for p, _ in asks})
    assert bids[0][0] < last <= asks[0][0]
    spread = asks[0][0] - bids[0][0]
    assert KRW_TICKS.tick_for(last) <= spread <= max(3 * last * spec.spread_bps / 10000, 2 * KRW_TICKS.tick_for(last))
    for price, qty in bids + asks:
        assert KRW_TICKS.is_on_grid(price) and qty > 0 and qty % spec.qty_unit == 0
    near = sum(p * q for p, q in bids[:5] + asks[:5])
    far = sum(p * q for p, q in bids[-5:] + asks[-5:])
    assert far > near


@pytest.mark.parametrize("symbol", ["BTC", "ETH", "XRP", "SOL"])
@pytest.mark.parametrize("share", ["0.0005", "0.005", "0.05"])  # of a day's turnover
def test_walking_the_book_costs_what_the_backtests_square_root_law_charges(model: MarketModel, symbol: str,
                                                                            share: str) -> None:
    """The simulator and the backtest agree: walking q KRW costs Y·σ·√(q/V) beyond the touch on average
    (σ, V as the book measures them), within the book's ±25 % size noise and its tick grid."""
    from kairos.core.costs import CostModel, impact_rate

    sigma, adv = model.liquidity(symbol, NOW)
    q = adv * Decimal(share)
    ratios = []
    for minute in range(0, 60 * 24 * 5, 97):  # many books: the noise averages out
        now = NOW + minute * MIN
        asks = model.book(symbol, now, levels=50)[1]
        left, qty = q, Decimal(0)
        for price, size in asks:
            take = min(size, left / price)
            qty, left = qty + take, left - take * price
            if left <= 0:
                break
        assert left <= 0, "the 50-level book holds the order"
        walked = (q / qty) / asks[0][0] - 1
        ratios.append(float(walked / impact_rate(CostModel(), q, sigma, adv)))
    mean = sum(ratios) / len(ratios)
    assert 0.85 < mean < 1.15, mean


def test_book_is_fixed_within_a_minute_and_moves_after(model: MarketModel) -> None:
    assert model.book("BTC", NOW) == model.book("BTC", ms(2026, 11, 26, 7, 30, 59))
    assert model.book("BTC", NOW, levels=5)[1] == model.book("BTC", NOW)[1][:5]
    assert model.book("BTC", NOW) != model.book("BTC", NOW + 5 * MIN)


# -- shape of the path -------------------------------------------------------------------------------

def test_btc_is_both_well_above_and_well_below_its_200_week_average(model: MarketModel) -> None:
    ratios = []
    for year, month in [(y, m) for y in (2024, 2025, 2026, 2027) for m in range(1, 13, 2)]:
        rows, _ = model.candles("BTC", "1w", ms(year, month, 1), size=201)
        closes = [r["close"] for r in rows[1:]]  # the 200 completed weeks
        assert len(closes) == 200
        ratios.append(rows[0]["close"] / (sum(closes) / 200))
    assert any(r > Decimal("1.05") for r in ratios) and any(r < Decimal("0.95") for r in ratios)
    assert any(Decimal("0.95") <= r <= Decimal("1.05") for r in ratios)  # it passes through the band


def test_btc_atr_is_sometimes_calm_and_sometimes_wild(model: MarketModel) -> None:
    rows, _ = model.candles("BTC", "1d", LATER, size=9 * 365)
    days = rows[::-1]
    true_ranges = [max(d["high"], p["close"]) - min(d["low"], p["close"]) for p, d in zip(days, days[1:])]
    atr_pct = [sum(true_ranges[i - 14:i]) / 14 / days[i]["close"] for i in range(14, len(true_ranges), 7)]
    assert min(atr_pct) < Decimal("0.04") and max(atr_pct) > Decimal("0.06")
    assert Decimal("0.1") < sum(a > Decimal("0.05") for a in atr_pct) / len(atr_pct) < Decimal("0.6")
    hint = model.daily_atr_hint("BTC", LATER)
    completed = true_ranges[-15:-1]  # days[-1] is today's partial candle
    assert hint == (sum(completed) / 14 / days[-2]["close"]).quantize(Decimal("0.000001"))


def test_coins_move_together(model: MarketModel) -> None:
    def returns(symbol: str) -> list[float]:
        rows, _ = model.candles(symbol, "1d", LATER, size=400)
        closes = [float(r["close"]) for r in rows[::-1]]
        return [b / a - 1 for a, b in zip(closes, closes[1:])]
    btc, eth = returns("BTC"), returns("ETH")
    mb, me = sum(btc) / len(btc), sum(eth) / len(eth)
    cov = sum((a - mb) * (b - me) for a, b in zip(btc, eth))
    corr = cov / (sum((a - mb) ** 2 for a in btc) * sum((b - me) ** 2 for b in eth)) ** 0.5
    assert 0.4 < corr < 0.95


# -- bad input ------------------------------------------------------------------------------------------

def test_bad_input_is_refused(model: MarketModel) -> None:
    with pytest.raises(KeyError):
        model.price("NOPE", NOW)
    with pytest.raises(ValueError):
        model.candles("BTC", "2d", NOW)
    with pytest.raises(ValueError):
        model.price("BTC", ms(2036, 1, 1))
    assert model.price("btc", ms(2035, 12, 31, 23, 59)) > 0
