"""Moving average and Wilder's ATR in exact Decimal, for decisions.

No pandas or numpy here: the weekly analysis and the TWAP tick import this module, and must start
fast. The float Series twins for charts live in `kairos.core.series`; tests hold the two in agreement.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Sequence

from kairos.coinone.models import Candle
from kairos.errors import DataError


def _check_period(period: int) -> None:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"period must be a positive integer, got {period!r}")


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


def atr_percent_over(candles: Sequence[Candle], period: int, history: int) -> Decimal:
    """Wilder's ATR% over the last `history` completed candles (all of them when fewer exist).

    Wilder's smoothing remembers its start: over 15 candles it is a plain 14-day mean, which lands on
    the other side of a 5 % threshold from TA-Lib's ATR on a long series on 6–11 % of days. With ~100
    candles the start no longer matters (its weight is (13/14)^86 < 0.2 %), and the value equals
    TA-Lib's ATR over the same candles. The live planner and the backtest both call this.
    """
    window = candles[-history:] if len(candles) > history else candles
    return atr_percent(window, period)


def _check_oldest_first(candles: Sequence[Candle]) -> None:
    # The exchange returns newest-first; a reversed series would give a plausible but wrong ATR.
    for prev, cur in zip(candles, candles[1:]):
        if cur.timestamp <= prev.timestamp:
            raise ValueError(
                f"candles must be oldest-first without duplicates; timestamp {cur.timestamp} "
                f"follows {prev.timestamp}"
            )
