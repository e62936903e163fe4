"""Market data of the simulated Coinone exchange: prices, candles, tickers and order books.

`MarketModel` answers for any minute from a coin's listing up to 2035-12-31 23:59 UTC, deterministically
from its seed: the same (seed, coins, arguments) give the same Decimals in every process.
How the path is made and calibrated is in `kairos.sim.market_path`; the coin table is
`kairos.sim.market_coins`.

Time conventions (our choice; Coinone does not document them):
- All buckets are UTC. Intraday intervals are aligned to the epoch (so to 00:00 UTC), daily candles
  start at 00:00 UTC, weekly candles on Monday 00:00 UTC, monthly (`1mon`) on the 1st at 00:00 UTC.
- A candle's `timestamp` is its open time. Listing times are floored to 00:00 UTC; the first weekly
  or monthly candle keeps its calendar open time but aggregates only minutes from the listing on.
- The market trades once per minute. At `now_ms` the minute containing it counts as traded: `price`
  is that minute's close, and the newest candle, when still open, is PARTIAL: it aggregates the
  minutes before `now_ms` plus the current one.
- `candles(end_ms=…)` returns the candle containing `end_ms` as the newest; page backwards with
  `end_ms = oldest_timestamp - 1` for contiguous, non-overlapping batches.

Output: Decimal prices on the KRW tick grid (rounded down), target volume to 8 decimals (4 for coins
below 100 KRW), quote volume to 4 decimals. Small Decimals may print in exponent form; serialise with
`kairos.money.plain`.
"""
from __future__ import annotations

import functools
import math
import statistics
from datetime import datetime, timezone
from decimal import Decimal
from typing import Sequence


from kairos.coinone.models import KRW_TICKS
from kairos.core.costs import DEFAULT_IMPACT_Y
from kairos.money import ZERO, round_down
from kairos.sim.market_coins import DEFAULT_COINS, CoinSpec
from kairos.sim.market_path import (
    BLOCK_DAYS, DAY_MINUTES, DAY_MS, END_DAY, FIRST_DAY, MINUTE_MS, PRICE_SCALE, QUOTE_DECIMALS, Bars,
    PathGenerator, rng_for, symbol_key,
)

__all__ = ["INTERVALS", "CoinSpec", "DEFAULT_COINS", "DEFAULT_SEED", "MarketModel", "candle_start"]

DEFAULT_SEED = 20240601
INTERVALS: dict[str, int] = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "10m": 600_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "1d": DAY_MS,
    "1w": 7 * DAY_MS, "1mon": 30 * DAY_MS,  # 1mon is a calendar month; 30 days is only its nominal size
}
WEEK_MS = 7 * DAY_MS
_MONDAY_MS = 4 * DAY_MS  # 1970-01-01 was a Thursday; 1970-01-05 a Monday
_TAG_BOOK = 4
_PRICE_ONE = Decimal(1)
_FINEST = Decimal("0.0001")
_QTY_PLACES = Decimal("0.00000001")
GAP_GROWTH = 1.1  # each level's gap to the next is 10 % wider than the last (half the spread at the touch) ...
GAP_GROWTH_LEVELS = 40  # ... up to level 40 (45 × the first gap); then constant: a 50-level BTC book reaches ~9 %
_GROWTH = [Decimal(repr(round(GAP_GROWTH ** min(j, GAP_GROWTH_LEVELS), 6))) for j in range(1024)]
LIQUIDITY_DAYS = 20  # the backtest's VOL_WINDOW: σ and V of the book from the same 20 days


def candle_start(interval: str, t_ms: int) -> int:
    """Open time of the `interval` candle containing `t_ms`."""
    if interval == "1mon":
        moment = datetime.fromtimestamp(t_ms // 1000, tz=timezone.utc)
        return _ms(moment.year, moment.month)
    if interval == "1w":
        return (t_ms - _MONDAY_MS) // WEEK_MS * WEEK_MS + _MONDAY_MS
    step = _step(interval)
    return t_ms // step * step


def next_start(interval: str, start_ms: int) -> int:
    """Open time of the candle after the one opening at `start_ms`."""
    if interval == "1mon":
        moment = datetime.fromtimestamp(start_ms // 1000, tz=timezone.utc)
        return _ms(moment.year + moment.month // 12, moment.month % 12 + 1)
    return start_ms + _step(interval)


def prev_start(interval: str, start_ms: int) -> int:
    """Open time of the candle before the one opening at `start_ms`."""
    if interval == "1mon":
        return candle_start("1mon", start_ms - 1)
    return start_ms - _step(interval)


def _ms(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=timezone.utc).timestamp()) * 1000


def _step(interval: str) -> int:
    try:
        return INTERVALS[interval]
    except KeyError:
        raise ValueError(f"unknown candle interval {interval!r}; expected one of {', '.join(INTERVALS)}") from None


def _price(units: int) -> Decimal:
    whole, frac = divmod(int(units), PRICE_SCALE)
    return Decimal(whole) if frac == 0 else Decimal(int(units)).scaleb(-4).normalize()


def _volume(units: int, decimals: int) -> Decimal:
    return Decimal(int(units)).scaleb(-decimals)


class MarketModel:
    """Deterministic market data for the simulated exchange (see the module docstring)."""

    def __init__(self, seed: int = DEFAULT_SEED, coins: Sequence[CoinSpec] = DEFAULT_COINS) -> None:
        specs = {c.symbol.upper(): c for c in coins}
        if len(specs) != len(coins) or not specs:
            raise ValueError("coins must be a non-empty sequence of distinct symbols")
        self.seed = seed
        self.coins: tuple[str, ...] = tuple(specs)
        self._specs = specs
        self._index = {symbol: i for i, symbol in enumerate(self.coins)}
        self._listed = {s: int(c.listed.timestamp() * 1000) // DAY_MS * DAY_MS for s, c in specs.items()}
        for symbol, listed in self._listed.items():
            if not FIRST_DAY * DAY_MS <= listed < END_DAY * DAY_MS:
                raise ValueError(f"{symbol}: listing must fall in 2015-01-01 .. 2035-12-31")
        self._gen = PathGenerator(seed, tuple(specs.values()))
        self._block = functools.lru_cache(maxsize=64)(self._gen.block)

    # -- lookups -------------------------------------------------------------------------------------

    def spec(self, symbol: str) -> CoinSpec:
        """The CoinSpec of `symbol` (KeyError if unknown)."""
        return self._specs[self._symbol(symbol)]

    def listed_ms(self, symbol: str) -> int:
        """Listing time (00:00 UTC of the listing day), epoch ms."""
        return self._listed[self._symbol(symbol)]

    def is_listed(self, symbol: str, now_ms: int) -> bool:
        """True when `symbol` trades at `now_ms` (known symbol, listed, inside the modelled years)."""
        key = symbol.upper()
        return key in self._listed and self._listed[key] <= now_ms < END_DAY * DAY_MS

    def _symbol(self, symbol: str) -> str:
        key = symbol.upper()
        if key not in self._specs:
            raise KeyError(f"unknown coin {symbol!r}")
        return key

    def _check(self, symbol: str, now_ms: int) -> tuple[str, int]:
        key = self._symbol(symbol)
        if not self._listed[key] <= now_ms < END_DAY * DAY_MS:
            raise ValueError(f"{key} has no market data at {now_ms} ms (listed {self._listed[key]}, "
                             f"model ends {END_DAY * DAY_MS})")
        return key, self._index[key]

    # -- bars --------------------------------------------------------------------------------------

    def _minutes(self, coin: int, m0: int, m1: int) -> Bars:
        """Minute bars for epoch minutes [m0, m1)."""
        parts = []
        for day in range(m0 // DAY_MINUTES, (m1 - 1) // DAY_MINUTES + 1):
            rel = day - FIRST_DAY
            rows = self._block(coin, rel // BLOCK_DAYS).part(rel % BLOCK_DAYS)
            lo = max(m0 - day * DAY_MINUTES, 0)
            hi = min(m1 - day * DAY_MINUTES, DAY_MINUTES)
            parts.append(rows.part(slice(lo, hi)))
        return Bars.concat(parts)

    def _span(self, coin: int, t0_ms: int, t1_ms: int, daily: bool) -> Bars:
        """Bars for [t0_ms, t1_ms): one per minute, or one per day (a partial last day allowed)."""
        if not daily:
            return self._minutes(coin, t0_ms // MINUTE_MS, t1_ms // MINUTE_MS)
        d0, d_end = t0_ms // DAY_MS, t1_ms // DAY_MS
        parts = [self._gen.days(coin, d0 - FIRST_DAY, d_end - FIRST_DAY)]
        if t1_ms % DAY_MS:
            parts.append(self._minutes(coin, d_end * DAY_MINUTES, t1_ms // MINUTE_MS).reduce([0]))
        return Bars.concat(parts)

    def _window(self, coin: int, t0_ms: int, t1_ms: int) -> Bars | None:
        """One bar aggregating the minutes of [t0_ms, t1_ms), or None when empty."""
        if t1_ms <= t0_ms:
            return None
        return self._minutes(coin, t0_ms // MINUTE_MS, t1_ms // MINUTE_MS).reduce([0])

    # -- public API --------------------------------------------------------------------------------

    def price(self, symbol: str, now_ms: int) -> Decimal:
        """Last trade price at `now_ms`: the close of its minute, on the KRW tick grid."""
        key, coin = self._check(symbol, now_ms)
        minute = now_ms // MINUTE_MS
        return _price(self._minutes(coin, minute, minute + 1).close[0])

    def candles(self, symbol: str, interval: str, now_ms: int, end_ms: int | None = None,
                size: int = 200) -> tuple[list[dict], bool]:
        """Up to `size` candles, newest first, the newest containing min(end_ms, now_ms); and is_last."""
        _step(interval)
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        key = self._symbol(symbol)
        listed = self._listed[key]
        anchor = now_ms if end_ms is None else min(end_ms, now_ms)
        if anchor < listed:  # includes asking before the coin is listed at all
            return [], True
        coin = self._check(key, now_ms)[1]
        starts = [candle_start(interval, anchor)]
        while len(starts) < size and starts[-1] > listed:
            starts.append(prev_start(interval, starts[-1]))
        starts.reverse()
        is_last = starts[0] <= listed
        t0 = max(starts[0], listed)
        t1 = min(next_start(interval, starts[-1]), (now_ms // MINUTE_MS + 1) * MINUTE_MS)
        daily = interval in ("1d", "1w", "1mon")
        unit = DAY_MS if daily else MINUTE_MS
        bars = self._span(coin, t0, t1, daily).reduce([(max(s, listed) - t0) // unit for s in starts])
        decimals = self._gen.volume_decimals(coin)
        out = [self._candle(starts[k], bars, k, decimals) for k in range(len(starts) - 1, -1, -1)]
        return out, is_last

    @staticmethod
    def _candle(timestamp: int, bars: Bars, k: int, decimals: int) -> dict:
        return {"timestamp": timestamp, "open": _price(bars.open[k]), "high": _price(bars.high[k]),
                "low": _price(bars.low[k]), "close": _price(bars.close[k]),
                "target_volume": _volume(bars.target[k], decimals),
                "quote_volume": _volume(bars.quote[k], QUOTE_DECIMALS)}

    def ticker(self, symbol: str, now_ms: int) -> dict:
        """24-hour figures ending with the current minute, and the same for the 24 hours before."""
        key, coin = self._check(symbol, now_ms)
        listed = self._listed[key]
        end = (now_ms // MINUTE_MS + 1) * MINUTE_MS
        out: dict = {"timestamp": now_ms}
        out.update(self._ticker_part(coin, max(end - DAY_MS, listed), end, ""))
        out.update(self._ticker_part(coin, max(end - 2 * DAY_MS, listed), end - DAY_MS, "yesterday_"))
        return out

    def _ticker_part(self, coin: int, t0: int, t1: int, prefix: str) -> dict:
        bar = self._window(coin, t0, t1)
        names = ("first", "high", "low", "last", "quote_volume", "target_volume")
        if bar is None:
            return {prefix + name: ZERO for name in names}
        decimals = self._gen.volume_decimals(coin)
        values = (_price(bar.open[0]), _price(bar.high[0]), _price(bar.low[0]), _price(bar.close[0]),
                  _volume(bar.quote[0], QUOTE_DECIMALS), _volume(bar.target[0], decimals))
        return {prefix + name: value for name, value in zip(names, values)}

    def book(self, symbol: str, now_ms: int,
             levels: int = 15) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """(bids descending, asks ascending) around the current price; fixed within a minute.

        The depth follows the square-root law of `kairos.core.costs`: within a distance δ of the touch each
        side holds V·(2δ/(3·Y·σ))² KRW (σ, V: the coin's last 20 completed days, as the backtest measures
        them), so walking q KRW costs Y·σ·√(q/V) on average — the backtest's own cost. Level gaps start at
        half the spread and widen by GAP_GROWTH per level (a 50-level book reaches ~10 %); sizes carry
        ±25 % noise."""
        if levels < 1:
            raise ValueError(f"levels must be positive, got {levels}")
        key, coin = self._check(symbol, now_ms)
        spec = self._specs[key]
        last = self.price(key, now_ms)
        sigma, adv = self.liquidity(key, now_ms)
        # One uniform draw for the touch, then four per level (ask gap, bid gap, ask size, bid size), for one
        # level more than asked (its price bounds the last level's share): a 5-level book is the first five
        # levels of the 15-level one.
        n = levels + 1
        draws = rng_for(self.seed, _TAG_BOOK, symbol_key(key), now_ms // MINUTE_MS).random(1 + 4 * n)
        per_level = draws[1:].reshape(n, 4)
        spread = max(KRW_TICKS.tick_for(last), last * spec.spread_bps / 10000)
        ask = max(KRW_TICKS.round_up(last + spread * _fraction(draws[0])), last)
        bid = min(KRW_TICKS.round_down(ask - spread), _tick_below(last))
        gap = spread / 2
        asks, bids = [ask], [bid]
        for j in range(1, n):
            step = gap * _GROWTH[j]
            asks.append(max(KRW_TICKS.round_up(asks[-1] + step * _fraction(0.5 + per_level[j, 0])),
                            asks[-1] + KRW_TICKS.tick_for(asks[-1])))
            below = _tick_below(bids[-1])
            lower = bids[-1] - step * _fraction(0.5 + per_level[j, 1])
            if below > 0 and lower > 0:
                bids.append(min(KRW_TICKS.round_down(lower), below))
        mid = (ask + bid) / 2
        scale = adv * (2 / (3 * DEFAULT_IMPACT_Y * sigma)) ** 2  # D(δ) = scale · δ²
        unit = max(spec.qty_unit, _QTY_PLACES)

        def side(prices: list[Decimal], sign: int, column: int) -> list[tuple[Decimal, Decimal]]:
            distance = [(p - prices[0]) * sign / mid for p in prices]
            out, low = [], ZERO
            for j in range(min(levels, len(prices))):
                high = (distance[j] + distance[j + 1]) / 2 if j + 1 < len(prices) else distance[j] + (distance[j] - low)
                krw = scale * (high * high - low * low) * _fraction(0.75 + 0.5 * per_level[j, column])
                qty = round_down(krw / prices[j], unit)
                out.append((prices[j], qty if qty > 0 else unit))
                low = high
            return out
        return ([lv for lv in side(bids, -1, 3) if lv[0] > 0], side(asks, 1, 2))

    def liquidity(self, symbol: str, now_ms: int) -> tuple[Decimal, Decimal]:
        """(σ, V): std of the last 20 completed daily log returns and their mean KRW turnover (the backtest's rule)."""
        key = self._symbol(symbol)
        return self._liquidity(key, now_ms // DAY_MS)

    @functools.lru_cache(maxsize=256)
    def _liquidity(self, key: str, day: int) -> tuple[Decimal, Decimal]:
        rows, _ = self.candles(key, "1d", day * DAY_MS, end_ms=day * DAY_MS - 1, size=LIQUIDITY_DAYS + 1)
        rows.reverse()  # oldest first
        closes = [float(r["close"]) for r in rows if r["close"] > 0]
        returns = [math.log(b / a) for a, b in zip(closes, closes[1:])]
        spec = self._specs[key]
        floor = spec.annual_vol / math.sqrt(365) / 4  # a flat or new market still has a finite book
        sigma = max(statistics.stdev(returns) if len(returns) >= 2 else 0.0, floor)
        turnover = [float(r["quote_volume"]) for r in rows[-LIQUIDITY_DAYS:]]
        adv = max(statistics.fmean(turnover) if turnover else 0.0, float(spec.turnover_krw) / 100)
        return _fraction_exact(sigma), Decimal(round(adv))

    def daily_atr_hint(self, symbol: str, now_ms: int, days: int = 14) -> Decimal:
        """Simple-average true range of the last `days` completed daily candles, as a ratio of the last close."""
        rows, _ = self.candles(symbol, "1d", now_ms, end_ms=now_ms // DAY_MS * DAY_MS - 1, size=days + 1)
        rows.reverse()
        ranges = [max(r["high"], p["close"]) - min(r["low"], p["close"]) for p, r in zip(rows, rows[1:])]
        if not ranges:
            return ZERO
        return (sum(ranges) / len(ranges) / rows[-1]["close"]).quantize(Decimal("0.000001"))


def _fraction_exact(value: float) -> Decimal:
    """A float as a Decimal with 9 significant places (σ of the book)."""
    return Decimal(f"{value:.9g}")


def _fraction(value: float) -> Decimal:
    """A float factor as a short Decimal (6 places), so Decimal arithmetic stays exact and cheap."""
    return Decimal(round(value * 1_000_000)) / 1_000_000


def _tick_below(price: Decimal) -> Decimal:
    """The next price on the KRW grid below `price` (which is on the grid)."""
    if price <= _FINEST:
        return ZERO
    return price - KRW_TICKS.tick_for(price - _FINEST)
