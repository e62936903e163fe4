from __future__ import annotations

import math
from decimal import Decimal

import pandas as pd
import pytest

from kairos.coinone.models import Candle
from kairos.core.indicators import atr_percent, moving_average, true_ranges, wilder_atr_last
from kairos.core.series import sma, wilder_atr
from kairos.errors import DataError

NAN = math.nan
DAY_MS = 86_400_000
D = Decimal


def candles(rows: list[tuple[str, str, str]]) -> list[Candle]:
    """Daily candles oldest-first from (high, low, close) strings; open is irrelevant to ATR."""
    return [
        Candle(timestamp=i * DAY_MS, open=D(c), high=D(h), low=D(lo), close=D(c),
               target_volume=D(0), quote_volume=D(0))
        for i, (h, lo, c) in enumerate(rows)
    ]


def hlc(rows: list[tuple[str, str, str]]) -> tuple[list[Decimal], list[Decimal], list[Decimal]]:
    return [D(r[0]) for r in rows], [D(r[1]) for r in rows], [D(r[2]) for r in rows]


def same(actual: pd.Series, expected: list[float]) -> bool:
    """Element-wise exact equality where NaN equals NaN."""
    return len(actual) == len(expected) and all(
        (math.isnan(a) and math.isnan(e)) or a == e for a, e in zip(actual.tolist(), expected)
    )


# Five bars worked by hand (period 3):
#   TR[1] = max(11-10, |11-9.5|, |10-9.5|)   = 1.5
#   TR[2] = max(12-10.5, |12-10.5|, |10.5-10.5|) = 1.5
#   TR[3] = max(11.5-10, |11.5-11|, |10-11|) = 1.5
#   TR[4] = max(13-11, |13-11|, |11-11|)     = 2
#   ATR[3] = (1.5+1.5+1.5)/3 = 1.5 ; ATR[4] = (1.5*2 + 2)/3 = 5/3
SMALL = [("10", "9", "9.5"), ("11", "10", "10.5"), ("12", "10.5", "11"), ("11.5", "10", "11"), ("13", "11", "12.5")]

# XRP-like bars with one decimal, so float rounding is exercised. Expected values were produced
# once by TA-Lib 0.6.4's C `ATR` (python TA-Lib 0.6.8) and are compared with `==`, not approx.
XRP = [
    ("820.7", "794.5", "808.4"), ("816.0", "796.8", "805.6"), ("813.3", "770.8", "780.2"),
    ("804.5", "775.6", "803.1"), ("815.2", "759.8", "770.2"), ("784.9", "720.4", "734.9"),
    ("755.4", "732.5", "746.2"), ("754.1", "709.1", "710.0"), ("713.6", "687.5", "688.0"),
    ("694.6", "672.9", "685.5"), ("696.4", "678.0", "686.8"), ("704.9", "682.6", "698.0"),
    ("747.6", "685.4", "732.7"), ("752.6", "729.3", "747.9"), ("749.0", "720.6", "732.1"),
    ("744.8", "719.0", "724.8"), ("770.7", "724.8", "758.0"), ("771.7", "729.0", "736.0"),
    ("777.4", "734.9", "771.4"), ("793.1", "767.4", "781.4"),
]
TALIB_XRP_14 = [NAN] * 14 + [
    34.342857142857156, 33.7326530612245, 34.60174927113704, 35.18019575177011,
    35.70303891235796, 34.988536132903825,
]
TALIB_XRP_3 = [NAN] * 3 + [
    30.200000000000006, 38.60000000000003, 47.23333333333335, 39.12222222222223, 41.08148148148148,
    36.08765432098766, 31.29176954732512, 26.99451303155007, 25.429675354366697, 37.686450236244475,
    32.89096682416301, 31.39397788277533, 29.529318588516873, 34.98621239234461, 37.55747492822976,
    39.204983285486506, 34.70332219032435,
]
# period 1 is TA-Lib's special case: the raw true range from the second bar on.
TALIB_XRP_1_HEAD = [NAN, 19.200000000000045, 42.5, 28.899999999999977]


@pytest.mark.parametrize("values, period, expected", [
    ([1, 2, 3, 4, 5], 3, [NAN, NAN, 2.0, 3.0, 4.0]),  # (1+2+3)/3, (2+3+4)/3, (3+4+5)/3
    ([D("1.5"), D("2.5"), D("4")], 2, [NAN, 2.0, 3.25]),  # (1.5+2.5)/2, (2.5+4)/2
    ([7, 8], 1, [7.0, 8.0]),  # period 1 is the identity
    ([1, 2], 3, [NAN, NAN]),  # shorter than the period: all warm-up
    ([], 3, []),
])
def test_sma_table(values: list[object], period: int, expected: list[float]) -> None:
    assert same(sma(values, period), expected)


def test_sma_keeps_series_index_and_returns_float() -> None:
    index = pd.date_range("2024-01-01", periods=4, freq="W")
    result = sma(pd.Series([D("10"), D("20"), D("30"), D("50")], index=index), 2)
    assert list(result.index) == list(index)
    assert result.dtype == float
    assert same(result, [NAN, 15.0, 25.0, 40.0])  # (10+20)/2, (20+30)/2, (30+50)/2


@pytest.mark.parametrize("period", [0, -1, 2.5, True])
def test_sma_rejects_bad_period(period: object) -> None:
    with pytest.raises(ValueError, match="period"):
        sma([1, 2, 3], period)  # type: ignore[arg-type]


@pytest.mark.parametrize("rows, period, expected", [
    (SMALL, 3, [NAN, NAN, NAN, 1.5, 5 / 3]),
    (SMALL, 4, [NAN, NAN, NAN, NAN, 1.625]),  # (1.5+1.5+1.5+2)/4
    (SMALL, 1, [NAN, 1.5, 1.5, 1.5, 2.0]),
    (SMALL, 5, [NAN] * 5),  # 5 bars < period+1: all NaN, no exception
    (SMALL[:1], 1, [NAN]),
    (XRP, 14, TALIB_XRP_14),
    (XRP, 3, TALIB_XRP_3),
    (XRP[:4], 1, TALIB_XRP_1_HEAD),
])
def test_wilder_atr_matches_talib_exactly(rows: list[tuple[str, str, str]], period: int, expected: list[float]) -> None:
    assert same(wilder_atr(*hlc(rows), period=period), expected)


def test_wilder_atr_keeps_series_index() -> None:
    h, lo, c = (pd.Series(x, index=list("abcde")) for x in hlc(SMALL))
    result = wilder_atr(h, lo, c, period=3)
    assert list(result.index) == list("abcde")
    assert result["e"] == 5 / 3


def test_wilder_atr_rejects_ragged_input() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        wilder_atr([1, 2, 3], [1, 2], [1, 2, 3], period=1)


@pytest.mark.parametrize("values, period, expected", [
    ([D(1), D(2), D(3), D(4), D(5)], 3, D(4)),  # (3+4+5)/3
    ([D("0.1")] * 3, 3, D("0.1")),  # exact in Decimal; float gives 0.10000000000000002
    ([D("100"), D("101")], 1, D("101")),
    ([D("95000000"), D("96000000")], 2, D("95500000")),
])
def test_moving_average_is_exact(values: list[Decimal], period: int, expected: Decimal) -> None:
    assert moving_average(values, period) == expected


def test_moving_average_too_few_values_is_a_data_error() -> None:
    with pytest.raises(DataError, match="needs 3 values, got 2"):
        moving_average([D(1), D(2)], 3)


def test_true_ranges_by_hand() -> None:
    assert true_ranges(candles(SMALL)) == [D("1.5"), D("1.5"), D("1.5"), D("2")]


@pytest.mark.parametrize("rows, period, expected", [
    (SMALL, 3, D(2) / 15),  # ATR 5/3 over last close 12.5 = 5/37.5 = 2/15
    (SMALL, 4, D("0.13")),  # ATR 1.625 / 12.5 = 0.13
    (SMALL, 1, D("0.16")),  # TR 2 / 12.5
])
def test_atr_percent_by_hand(rows: list[tuple[str, str, str]], period: int, expected: Decimal) -> None:
    assert abs(atr_percent(candles(rows), period) - expected) < D("1e-25")


@pytest.mark.parametrize("rows, period", [(XRP, 14), (XRP, 3), (XRP, 1), (SMALL, 3)])
def test_decimal_twin_agrees_with_float_series(rows: list[tuple[str, str, str]], period: int) -> None:
    exact = wilder_atr_last(candles(rows), period)
    series = wilder_atr(*hlc(rows), period=period)
    assert math.isclose(float(exact), series.iloc[-1], rel_tol=1e-9)
    close = float(rows[-1][2])
    assert math.isclose(float(atr_percent(candles(rows), period)), series.iloc[-1] / close, rel_tol=1e-9)


def test_decimal_twin_agrees_over_a_long_series() -> None:
    # 120 deterministic bars whose ranges wander (prices 1000..1400); 14-day ATR on every prefix.
    rows = []
    for i in range(120):
        mid = 1000 + (i * 37) % 400
        rows.append((str(mid + 5 + i % 7), str(mid - 3 - i % 5), str(mid + (i % 3) - 1)))
    series = wilder_atr(*hlc(rows), period=14)
    for end in (15, 16, 60, 120):
        exact = wilder_atr_last(candles(rows[:end]), 14)
        assert math.isclose(float(exact), series.iloc[end - 1], rel_tol=1e-9)


@pytest.mark.parametrize("count, period, message", [
    (14, 14, "ATR\\(14\\) needs at least 15 candles, got 14"),
    (0, 14, "needs at least 15 candles, got 0"),
    (3, 3, "ATR\\(3\\) needs at least 4 candles, got 3"),
])
def test_atr_percent_too_few_candles(count: int, period: int, message: str) -> None:
    rows = (XRP * 2)[:count]
    with pytest.raises(DataError, match=message):
        atr_percent(candles(rows), period)


def test_atr_percent_refuses_newest_first() -> None:
    with pytest.raises(ValueError, match="oldest-first"):
        atr_percent(list(reversed(candles(SMALL))), 3)


def test_atr_percent_refuses_zero_last_close() -> None:
    rows = SMALL[:-1] + [("1", "0", "0")]
    with pytest.raises(DataError, match="last close must be positive"):
        atr_percent(candles(rows), 3)
