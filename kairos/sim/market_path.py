"""How the simulated market moves: daily closes for every coin at once, minute bars on demand.

Daily layer (built once per `PathGenerator`, all coins, 2015-01-01 .. 2036-01-01, ~30 ms):

    log P_i(day) = beta_i * (cycle(day) + common(day)) + idio_i(day), shifted so P_i(2026-01-01 00:00) = level_i

- `cycle` is a deterministic, cosine-eased curve through the stylised anchors in `_CYCLE` (a ~4-year
  boom/bust rhythm: 2017 boom, 2018 bust, 2020-21 boom, 2022 bust, 2024-25 boom, 2026 bust, …).
  It is a shape, not price history.
- `common` and `idio_i` are mean-reverting (Ornstein-Uhlenbeck) sums of Student-t(5) shocks, so
  daily returns are fat-tailed and correlated through `beta`, while the cycle still dominates on
  multi-year horizons.
- A two-state Markov chain (calm / volatile, shared by all coins) scales every day's shocks.
  In the calm state BTC's 14-day ATR is ~3 % of price; in the volatile state ~7 %.
- Calibration: the whole log path of each coin is shifted by one constant so that its price at
  the calibration instant (the close of 2025-12-31) equals `CoinSpec.level` exactly (before the tick
  rounding). Nothing else is fitted.

Minute layer (per coin and block of `BLOCK_DAYS` days, generated on demand and cached by the caller):
a Brownian bridge with that day's volatility from the day's open (the previous close) to its close,
1,440 one-minute steps, plus small wicks and a U-shaped intraday volume profile. Every candle of
every interval is aggregated from these minute bars, so intervals agree exactly.

Numbers are integers until the Decimal edge: prices in 1e-4 KRW units already rounded DOWN to the
KRW tick grid, quote volume in 1e-4 KRW, target volume in 1e-8 coin (1e-4 for coins priced < 100 KRW,
to stay inside int64). Seeds come from `numpy.random.SeedSequence` keyed by the model seed, a
purpose tag and a SHA-256 of the symbol, so a coin's path does not depend on which other coins exist,
and nothing depends on Python's `hash()`. Bit-identical output assumes the pinned numpy (its
generator streams) and the same float math library; a tick-level difference on another platform is
possible in principle, never within one machine.
"""
from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from datetime import date
from typing import Sequence

import numpy as np

from kairos.coinone.models import KRW_TICKS
from kairos.sim.market_coins import CoinSpec

MINUTE_MS = 60_000
DAY_MS = 86_400_000
DAY_MINUTES = 1_440
PRICE_SCALE = 10_000  # prices are int64 counts of 0.0001 KRW, the finest KRW tick
QUOTE_DECIMALS = 4
_EPOCH = date(1970, 1, 1).toordinal()
FIRST_DAY = date(2015, 1, 1).toordinal() - _EPOCH  # epoch day numbers
END_DAY = date(2036, 1, 1).toordinal() - _EPOCH  # exclusive: the model covers times before this day
CALIBRATION_DAY = date(2026, 1, 1).toordinal() - _EPOCH
N_DAYS = END_DAY - FIRST_DAY
BLOCK_DAYS = 8

MARKET_VOL = 0.50  # annualised volatility of the common factor
CALM_MULT, VOLATILE_MULT = 0.70, 1.60  # long-run mean variance multiplier ~1.0 at 25 % volatile days
P_CALM_TO_VOLATILE, P_VOLATILE_TO_CALM = 1 / 120, 1 / 40  # mean spells: 120 calm days, 40 volatile
COMMON_HALF_LIFE, IDIO_HALF_LIFE = 120.0, 365.0  # days; pull of the OU parts back to the cycle
T_DF = 5
WICK = 0.5  # minute wick size, in minute-sigmas
_TAG_COMMON, _TAG_COIN, _TAG_MINUTE = 1, 2, 3

# Stylised market level (BTC-like KRW) at anchor dates; cosine-eased in log space between them.
_CYCLE = (
    ("2015-01-01", 0.35e6), ("2015-08-20", 0.27e6), ("2016-06-15", 0.80e6), ("2016-08-05", 0.65e6),
    ("2017-06-10", 3.3e6), ("2017-07-15", 2.3e6), ("2017-12-17", 22e6), ("2018-02-06", 7.5e6),
    ("2018-05-05", 11e6), ("2018-12-15", 3.8e6), ("2019-06-26", 14e6), ("2020-03-13", 6e6),
    ("2020-12-31", 32e6), ("2021-04-14", 75e6), ("2021-07-20", 37e6), ("2021-11-10", 82e6),
    ("2022-06-18", 25e6), ("2022-11-21", 21e6), ("2023-07-01", 40e6), ("2023-09-11", 33e6),
    ("2024-03-14", 100e6), ("2024-08-05", 75e6), ("2024-12-17", 150e6), ("2025-04-07", 110e6),
    ("2025-10-06", 175e6), ("2026-01-01", 130e6), ("2026-11-20", 60e6), ("2027-06-01", 80e6),
    ("2027-10-01", 70e6), ("2028-06-01", 120e6), ("2029-10-15", 380e6), ("2030-11-20", 130e6),
    ("2031-09-01", 180e6), ("2033-10-15", 600e6), ("2034-11-20", 220e6), ("2036-01-31", 350e6),
)
_ANCHOR_DAYS = np.array([date.fromisoformat(d).toordinal() - _EPOCH for d, _ in _CYCLE], dtype=float)
_ANCHOR_LOGS = np.log(np.array([v for _, v in _CYCLE]))

# KRW tick table in integer units: _TICK_FROM[k] is where _TICK_UNITS[k + 1] starts.
_TICK_FROM = np.array([int(u.range_min * PRICE_SCALE) for u in KRW_TICKS.units[1:]], dtype=np.int64)
_TICK_UNITS = np.array([int(u.price_unit * PRICE_SCALE) for u in KRW_TICKS.units], dtype=np.int64)
assert all(u.price_unit * PRICE_SCALE == int(u.price_unit * PRICE_SCALE) for u in KRW_TICKS.units)

_FRAC = np.arange(1, DAY_MINUTES + 1) / DAY_MINUTES
# Intraday activity: busiest around 00:00 UTC (09:00 KST) and 12:00-15:00 UTC (KST evening).
_HOURS = np.arange(DAY_MINUTES) / 60
_SEASON = 1 + 0.35 * np.cos(2 * np.pi * _HOURS / 24) + 0.25 * np.cos(2 * np.pi * (_HOURS - 13.5) / 12)


def price_units(prices: np.ndarray) -> np.ndarray:
    """Float KRW prices → int64 counts of 0.0001 KRW, rounded down to the KRW tick (at least 0.0001)."""
    units = np.maximum(np.floor(prices * PRICE_SCALE), 1).astype(np.int64)
    ticks = _TICK_UNITS[np.searchsorted(_TICK_FROM, units, side="right")]
    return units - units % ticks


def cycle_curve(days: np.ndarray) -> np.ndarray:
    """Log of the stylised market level at the start of each epoch day."""
    x = np.asarray(days, dtype=float)
    k = np.clip(np.searchsorted(_ANCHOR_DAYS, x, side="right") - 1, 0, len(_ANCHOR_DAYS) - 2)
    start, stop = _ANCHOR_DAYS[k], _ANCHOR_DAYS[k + 1]
    ease = (1 - np.cos(np.pi * np.clip((x - start) / (stop - start), 0.0, 1.0))) / 2
    return _ANCHOR_LOGS[k] + (_ANCHOR_LOGS[k + 1] - _ANCHOR_LOGS[k]) * ease


def symbol_key(symbol: str) -> int:
    """A stable 64-bit key for a symbol (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(symbol.upper().encode()).digest()[:8], "big")


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """An independent, reproducible generator for (seed, purpose, …)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *keys])))


def volume_decimals(spec: CoinSpec) -> int:
    """Decimals of target volume kept exactly; fewer for cheap coins so monthly sums fit in int64."""
    return 8 if spec.level >= 100 else 4


@dataclass(frozen=True)
class Bars:
    """OHLCV as parallel int64 arrays (see the module docstring for units)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    target: np.ndarray
    quote: np.ndarray

    def __len__(self) -> int:
        return len(self.open)

    def part(self, index: slice | int) -> Bars:
        return Bars(*(a[index] for a in self._arrays()))

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return self.open, self.high, self.low, self.close, self.target, self.quote

    @staticmethod
    def concat(parts: Sequence[Bars]) -> Bars:
        if len(parts) == 1:
            return parts[0]
        return Bars(*(np.concatenate(arrays) for arrays in zip(*(p._arrays() for p in parts))))

    def reduce(self, starts: Sequence[int] | np.ndarray) -> Bars:
        """Aggregate consecutive groups beginning at `starts` (ascending, first 0) into one bar each."""
        idx = np.asarray(starts, dtype=np.intp)
        last = np.append(idx[1:], len(self)) - 1
        return Bars(self.open[idx], np.maximum.reduceat(self.high, idx), np.minimum.reduceat(self.low, idx),
                    self.close[last], np.add.reduceat(self.target, idx), np.add.reduceat(self.quote, idx))

    def reduce_rows(self) -> Bars:
        """Aggregate each row of 2-D arrays (one day of minutes per row) into one bar."""
        return Bars(self.open[:, 0], self.high.max(axis=1), self.low.min(axis=1), self.close[:, -1],
                    self.target.sum(axis=1), self.quote.sum(axis=1))


@dataclass(frozen=True)
class DailyPaths:
    """Daily layer for every coin; day index 0 is FIRST_DAY."""

    log_price: np.ndarray  # (coins, N_DAYS + 1): log KRW at the start of each day (and the end of the last)
    sigma: np.ndarray  # (coins, N_DAYS): that day's log-return volatility
    turnover: np.ndarray  # (coins, N_DAYS): KRW traded that day
    volatile: np.ndarray  # (N_DAYS,): True on days of the volatile regime


def _regimes(uniform: np.ndarray) -> np.ndarray:
    out = np.empty(len(uniform), dtype=bool)
    state = False
    for k, u in enumerate(uniform.tolist()):
        state = u >= P_VOLATILE_TO_CALM if state else u < P_CALM_TO_VOLATILE
        out[k] = state
    return out


def _shocks(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_t(T_DF, n) * math.sqrt((T_DF - 2) / T_DF)


def _ou(eps: np.ndarray, half_life: float) -> np.ndarray:
    """x[0] = 0, x[t] = phi * x[t-1] + eps[t-1]; vectorised in chunks short enough to stay exact."""
    phi = 0.5 ** (1.0 / half_life)
    out = np.zeros(len(eps) + 1)
    prev = 0.0
    for c0 in range(0, len(eps), 256):
        chunk = eps[c0:c0 + 256]
        powers = phi ** np.arange(1, len(chunk) + 1)
        values = powers * (prev + np.cumsum(chunk / powers))
        out[c0 + 1:c0 + 1 + len(chunk)] = values
        prev = float(values[-1])
    return out


def build_daily(seed: int, specs: Sequence[CoinSpec]) -> DailyPaths:
    """The daily layer for `specs` (see the module docstring)."""
    rng = rng_for(seed, _TAG_COMMON)
    volatile = _regimes(rng.random(N_DAYS))
    mult = np.where(volatile, VOLATILE_MULT, CALM_MULT)
    market_daily = MARKET_VOL / math.sqrt(365)
    market = cycle_curve(np.arange(FIRST_DAY, END_DAY + 1)) + _ou(market_daily * mult * _shocks(rng, N_DAYS),
                                                                   COMMON_HALF_LIFE)
    rows = [_coin_daily(seed, spec, market, mult) for spec in specs]
    return DailyPaths(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                      np.array([r[2] for r in rows]), volatile)


def _coin_daily(seed: int, spec: CoinSpec, market: np.ndarray,
                mult: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = rng_for(seed, _TAG_COIN, symbol_key(spec.symbol))
    daily = spec.annual_vol / math.sqrt(365)
    from_market = spec.beta * MARKET_VOL / math.sqrt(365)
    idio = math.sqrt(max(daily ** 2 - from_market ** 2, (0.2 * daily) ** 2))
    raw = spec.beta * market + _ou(idio * mult * _shocks(rng, N_DAYS), IDIO_HALF_LIFE)
    log_level = math.log(float(spec.level))
    log_price = raw - raw[CALIBRATION_DAY - FIRST_DAY] + log_level
    sigma = math.hypot(from_market, idio) * mult
    # Turnover grows with price (bull markets trade more), with volatility and with big daily moves.
    moves = np.abs(np.diff(log_price))
    turnover = (float(spec.turnover_krw) * np.exp(0.6 * (log_price[1:] - log_level)) * mult ** 0.8
                * (1 + 5 * moves) * np.exp(0.3 * rng.standard_normal(N_DAYS) - 0.045))
    return log_price, sigma, turnover


class PathGenerator:
    """Lazily built daily layer plus minute blocks and a per-coin cache of daily bars."""

    def __init__(self, seed: int, specs: Sequence[CoinSpec]) -> None:
        self.seed = seed
        self.specs = tuple(specs)
        self._keys = [symbol_key(s.symbol) for s in self.specs]
        self._decimals = [volume_decimals(s) for s in self.specs]
        self._daily: DailyPaths | None = None
        self._lock = threading.Lock()
        n_blocks = -(-N_DAYS // BLOCK_DAYS)
        self._day_bars = [Bars(*(np.zeros(N_DAYS, dtype=np.int64) for _ in range(6))) for _ in self.specs]
        self._filled = [np.zeros(n_blocks, dtype=bool) for _ in self.specs]

    def daily(self) -> DailyPaths:
        if self._daily is None:
            with self._lock:
                if self._daily is None:
                    self._daily = build_daily(self.seed, self.specs)
        return self._daily

    def block(self, coin: int, block: int) -> Bars:
        """Minute bars of days [block*BLOCK_DAYS, …) as 2-D arrays, one row per day (uncached)."""
        opens, highs, lows, closes, target, quote = self._raw_block(coin, block)
        bars = Bars(price_units(opens), price_units(highs), price_units(lows), price_units(closes), target, quote)
        self._store_days(coin, block, bars.reduce_rows())
        return bars

    def _fill_days(self, coin: int, block: int) -> None:
        # Rounding is monotone, so rounding each day's extremes equals the extremes of rounded minutes.
        opens, highs, lows, closes, target, quote = self._raw_block(coin, block)
        self._store_days(coin, block, Bars(price_units(opens[:, 0]), price_units(highs.max(axis=1)),
                                           price_units(lows.min(axis=1)), price_units(closes[:, -1]),
                                           target.sum(axis=1), quote.sum(axis=1)))

    def _raw_block(self, coin: int, block: int) -> tuple[np.ndarray, ...]:
        """Float minute prices and int64 volumes of one block (see `block`)."""
        daily = self.daily()
        d0 = block * BLOCK_DAYS
        d1 = min(d0 + BLOCK_DAYS, N_DAYS)
        rng = rng_for(self.seed, _TAG_MINUTE, self._keys[coin], block)
        steps = rng.standard_normal((d1 - d0, DAY_MINUTES))
        uniform = rng.random((3, d1 - d0, DAY_MINUTES))  # wick up, wick down, volume noise (cheaper than normals)
        start = daily.log_price[coin, d0:d1, None]
        stop = daily.log_price[coin, d0 + 1:d1 + 1, None]
        sigma = daily.sigma[coin, d0:d1, None] / math.sqrt(DAY_MINUTES)
        walk = np.cumsum(steps, axis=1)
        path = np.empty((d1 - d0, DAY_MINUTES + 1))
        path[:, :1] = start
        path[:, 1:] = start + _FRAC * (stop - start) + (walk - _FRAC * walk[:, -1:]) * sigma
        path[:, -1:] = stop  # exact joins: each day opens at the previous close
        prices = np.exp(path)
        opens, closes = prices[:, :-1], prices[:, 1:]
        highs = np.maximum(opens, closes) * np.exp(2 * WICK * sigma * uniform[0])
        lows = np.minimum(opens, closes) * np.exp(-2 * WICK * sigma * uniform[1])
        weight = _SEASON * (0.3 + 1.4 * uniform[2]) * (1 + np.abs(np.diff(path, axis=1)) / sigma)
        quote = daily.turnover[coin, d0:d1, None] * weight / weight.sum(axis=1, keepdims=True)
        target = quote / ((opens + closes) / 2)
        return (opens, highs, lows, closes, np.floor(target * 10 ** self._decimals[coin]).astype(np.int64),
                np.floor(quote * 10 ** QUOTE_DECIMALS).astype(np.int64))

    def _store_days(self, coin: int, block: int, days: Bars) -> None:
        d0 = block * BLOCK_DAYS
        for mine, new in zip(self._day_bars[coin]._arrays(), days._arrays()):
            mine[d0:d0 + len(new)] = new
        self._filled[coin][block] = True

    def days(self, coin: int, d0: int, d1: int) -> Bars:
        """Daily bars of days [d0, d1) (indices from FIRST_DAY), generating missing blocks."""
        if d1 <= d0:
            return self._day_bars[coin].part(slice(0, 0))
        filled = self._filled[coin]
        for block in range(d0 // BLOCK_DAYS, (d1 - 1) // BLOCK_DAYS + 1):
            if not filled[block]:
                self._fill_days(coin, block)
        return self._day_bars[coin].part(slice(d0, d1))

    def volume_decimals(self, coin: int) -> int:
        return self._decimals[coin]
