"""Moving average and Wilder's ATR as float pandas Series, for charts and reports.

Decisions never use these: `kairos.core.indicators` has the exact Decimal versions (same
recurrences), which tests hold in agreement with these.
"""
from __future__ import annotations

import math
from typing import Sequence, Union

import numpy as np
import pandas as pd

from kairos.core.indicators import _check_period

Numbers = Union[Sequence[object], pd.Series]


def _as_float_series(values: Numbers) -> pd.Series:
    """A float Series keeping the caller's index; Decimals are converted only here, for display maths."""
    if isinstance(values, pd.Series):
        return values.astype(float)
    return pd.Series([float(v) for v in values], dtype=float)  # type: ignore[arg-type]


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
