"""Moving average and Wilder's ATR: float Series for reports, exact Decimal twins for decisions.

The pandas versions serve charts and backtests; live decisions use `moving_average` and
`atr_percent`, which follow the same recurrences in Decimal so a decision never depends on
float rounding. Tests hold the two in agreement.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Sequence, Union

import numpy as np
import pandas as pd

from kairos.coinone.models import Candle
from kairos.errors import DataError

Numbers = Union[Sequence[object], pd.Series]


def _as_float_series(values: Numbers) -> pd.Series:
    """A float Series keeping the caller's index; Decimals are converted only here, for display maths."""
    if isinstance(values, pd.Series):
        return values.astype(float)
    return pd.Series([float(v) for v in values], dtype=float)  # type: ignore[arg-type]


def _check_period(period: int) -> None:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"period must be a positive integer, got {period!r}")


def sma(values: Numbers, period: int) -> pd.Series:
    """Simple moving average as a float Series aligned with `values`, NaN during warm-up."""
    _check_period(period)
    series = _as_float_series(values)
    return series.rolling(window=period, min_periods=period).mean()


def wilder_atr(high: Numbers, low: Numbers, close: Numbers, period: int = 14) -> pd.Series:
    """Wilder's ATR, bit-for-bit TA-Lib `ATR` (C library 0.6.x): first value at index `period`."""
    _check_period(period)
    h, lo, c = (_as_float_series(x) for x in (high, low, close))
    if not len(h) == len(lo) == len(c):
        raise ValueError(f"high/low/close lengths differ: {len(h)}, {len(lo)}, {len(c)}")
    out = _wilder_recurrence(h.to_numpy(), lo.to_numpy(), c.to_numpy(), period)
    return pd.Series(out, index=h.index, dtype=float)


def _wilder_recurrence(h: np.ndarray, lo: np.ndarray, c: np.ndarray, period: int) -> np.ndarray:
    """Plain loop on purpose: TA-Lib sums sequentially, and matching it bit for bit beats vectorising.

    TA-Lib >= 0.8 rewrote the smoothing step as a fused multiply-add; it then differs from this
    (classic) form in the last bits only (~1e-15 relative), which no decision can notice.
    """
    out = np.full(len(h), math.nan)
    if len(h) < period + 1:
        return out
    tr = [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(h))]
    total = 0.0
    for value in tr[:period]:
        total += value
    prev = total / period
    out[period] = prev
    for i in range(period + 1, len(h)):
        prev = (prev * (period - 1) + tr[i - 1]) / period
        out[i] = prev
    return out


def moving_average(values: Sequence[Decimal], period: int) -> Decimal:
    """Exact mean of the last `period` values; DataError when fewer are given."""
    _check_period(period)
    if len(values) < period:
        raise DataError(f"moving average of {period} needs {period} values, got {len(values)}")
    window = values[len(values) - period:]
    return sum(window, Decimal(0)) / period


def true_ranges(candles: Sequence[Candle]) -> list[Decimal]:
    """True range of each candle after the first (it needs the previous close)."""
    return [
        max(cur.high - cur.low, abs(cur.high - prev.close), abs(cur.low - prev.close))
        for prev, cur in zip(candles, candles[1:])
    ]


def wilder_atr_last(candles: Sequence[Candle], period: int = 14) -> Decimal:
    """Wilder's ATR at the last candle, in Decimal (candles oldest-first)."""
    _check_period(period)
    needed = period + 1  # one extra bar: the first true range needs a previous close
    if len(candles) < needed:
        raise DataError(f"ATR({period}) needs at least {needed} candles, got {len(candles)}")
    _check_oldest_first(candles)
    tr = true_ranges(candles)
    atr = sum(tr[:period], Decimal(0)) / period
    for value in tr[period:]:
        atr = (atr * (period - 1) + value) / period
    return atr


def atr_percent(candles: Sequence[Candle], period: int = 14) -> Decimal:
    """Wilder's ATR at the last candle divided by the last close (0.05 means 5 %)."""
    atr = wilder_atr_last(candles, period)
    last_close = candles[-1].close
    if last_close <= 0:
        raise DataError(f"last close must be positive to express ATR as a percentage, got {last_close}")
    return atr / last_close


def _check_oldest_first(candles: Sequence[Candle]) -> None:
    # The exchange returns newest-first; a reversed series would give a plausible but wrong ATR.
    for prev, cur in zip(candles, candles[1:]):
        if cur.timestamp <= prev.timestamp:
            raise ValueError(
                f"candles must be oldest-first without duplicates; timestamp {cur.timestamp} "
                f"follows {prev.timestamp}"
            )
