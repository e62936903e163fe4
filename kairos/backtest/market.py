"""What the backtest knows about each coin on a given day, using only candles completed before that day.

- price on day d: the open of d's candle (= the previous close; known at 00:00 UTC), else the last close;
- tradable on day d: at least `min_days` completed daily candles before d (enough for the 14-day ATR that
  picks the TWAP schedule and the 20-day σ and volume that price market impact). Before that the coin
  counts as not listed yet and its weight stays in KRW;
- ATR% (the live `atr_percent_over` on the last `atr_candles` completed candles), σ (sample standard deviation of
  the last 20 daily log returns) and V (mean KRW turnover of the last 20 days), cached per (coin, day);
- a matrix of closes (forward-filled over gaps, 0 before the first candle) for the daily equity curve.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Callable, Sequence

import numpy as np

from kairos.backtest.data import History, day_of, iso
from kairos.coinone.models import Candle
from kairos.core.indicators import atr_percent_over
from kairos.errors import DataError

VOL_WINDOW = 20  # days of log returns (σ) and of KRW turnover (V) behind the impact term


def _dec(value: float) -> Decimal:
    """A float statistic as a Decimal, through its shortest repr (deterministic)."""
    return Decimal(repr(float(value)))


class CoinSeries:
    """One coin's daily candles with float arrays for fast windows."""

    def __init__(self, coin: str, candles: Sequence[Candle]) -> None:
        self.coin = coin
        self.candles = list(candles)
        self.days = np.array([day_of(c.timestamp) for c in self.candles], dtype=np.int64)
        self.close = np.array([float(c.close) for c in self.candles], dtype=float)
        self.turnover = np.array([float(c.quote_volume) for c in self.candles], dtype=float)

    def before(self, day: int) -> int:
        """How many candles were completed before `day` (also: the index of day's candle, if any)."""
        return int(np.searchsorted(self.days, day, side="left"))

    def price(self, day: int) -> Decimal | None:
        """Open of `day`'s candle, else the last close before it; None before the first candle."""
        i = self.before(day)
        if i < len(self.candles) and self.days[i] == day:
            return self.candles[i].open
        return self.candles[i - 1].close if i > 0 else None


class MarketData:
    """Prices and statistics per coin and day, no look-ahead (see the module docstring)."""

    def __init__(self, history: History, coins: Sequence[str], *, atr_period: int, end_day: int,
                 atr_candles: int = 100) -> None:
        self.coins = tuple(coins)
        self.atr_period = atr_period
        self.atr_candles = atr_candles
        self.min_days = max(atr_period + 1, VOL_WINDOW + 1)
        self.series = {c: CoinSeries(c, history.candles.get(c) or ()) for c in self.coins}
        firsts = [s.days[0] for s in self.series.values() if len(s.days)]
        if not firsts:
            raise DataError("no daily candles for any coin")
        self.first_day = int(min(firsts))
        self.end_day = end_day
        self.closes = self._close_matrix()
        self._cache: dict[tuple[str, str, int], Decimal] = {}

    def _close_matrix(self) -> np.ndarray:
        days = np.arange(self.first_day, self.end_day + 1)
        matrix = np.zeros((len(days), len(self.coins)))
        for j, coin in enumerate(self.coins):
            s = self.series[coin]
            if not len(s.days):
                continue
            last = np.searchsorted(s.days, days, side="right") - 1  # last candle on or before each day
            matrix[:, j] = np.where(last >= 0, s.close[np.maximum(last, 0)], 0.0)
        return matrix

    def close_rows(self, first: int, stop: int) -> np.ndarray:
        """Closes of days [first, stop) for every coin (columns in `self.coins` order)."""
        return self.closes[first - self.first_day: stop - self.first_day]

    def first_tradable(self, coin: str) -> int | None:
        """The first day the coin is tradable, or None when its history never gets long enough."""
        s = self.series[coin]
        if len(s.days) < self.min_days:
            return None
        return int(s.days[self.min_days - 1]) + 1

    def tradable(self, coin: str, day: int) -> bool:
        """True once the coin has `min_days` completed candles before `day`."""
        first = self.first_tradable(coin)
        return first is not None and first <= day

    def price(self, coin: str, day: int) -> Decimal:
        """The price used to value and trade on `day` (DataError when there is none)."""
        value = self.series[coin].price(day)
        if value is None:
            raise DataError(f"{coin}: no price on {iso(day)} (its first candle is later)")
        return value

    def atr_pct(self, coin: str, day: int) -> Decimal:
        """Wilder ATR% of the last `atr_candles` completed candles, as the live TWAP planner computes it."""
        return self._cached("atr", coin, day, self._atr)

    def sigma(self, coin: str, day: int) -> Decimal:
        """Daily volatility: sample std of the last 20 completed daily log returns."""
        return self._cached("sigma", coin, day, self._sigma)

    def adv(self, coin: str, day: int) -> Decimal:
        """Average daily KRW turnover over the last 20 completed days (must be positive)."""
        return self._cached("adv", coin, day, self._adv)

    def _cached(self, kind: str, coin: str, day: int, compute: Callable[[str, int], Decimal]) -> Decimal:
        key = (kind, coin, day)
        if key not in self._cache:
            self._cache[key] = compute(coin, day)
        return self._cache[key]

    def _window_end(self, coin: str, day: int, size: int) -> int:
        i = self.series[coin].before(day)
        if i < size:
            raise DataError(f"{coin}: {i} completed daily candles before {iso(day)}, need {size}")
        return i

    def _atr(self, coin: str, day: int) -> Decimal:
        i = self._window_end(coin, day, self.atr_period + 1)
        start = max(0, i - self.atr_candles)  # the live rule: the last atr_candles completed candles (all, if fewer)
        return atr_percent_over(self.series[coin].candles[start:i], self.atr_period, self.atr_candles)

    def _sigma(self, coin: str, day: int) -> Decimal:
        i = self._window_end(coin, day, VOL_WINDOW + 1)
        returns = np.diff(np.log(self.series[coin].close[i - VOL_WINDOW - 1:i]))
        return _dec(np.std(returns, ddof=1))

    def _adv(self, coin: str, day: int) -> Decimal:
        i = self._window_end(coin, day, VOL_WINDOW)
        value = float(np.mean(self.series[coin].turnover[i - VOL_WINDOW:i]))
        if value <= 0:
            raise DataError(f"{coin}: no KRW turnover in the {VOL_WINDOW} days before {iso(day)}; "
                            f"cannot price market impact")
        return _dec(value)
