"""The simulated Coinone KRW markets: one `CoinSpec` per coin, with 2025-26-like KRW levels.

Only the shape matters: relative sizes, listing order, volatility and liquidity. None of the figures is
market data. `level` is the KRW price the path is scaled to at the calibration instant
(2026-01-01 00:00 UTC, see `kairos.sim.market_path`).

Liquidity, the one table the simulator's book and the backtest's cost model share (`kairos.core.costs`):
the book's depth follows the square-root law from each coin's σ and turnover V (`MarketModel.book`), so
`turnover_krw` sets how deep a book is. The figures are **assumptions meant to resemble Coinone, not
measurements**: Coinone's KRW volume is a fraction of Upbit's, so the seed's turnovers (which gave BTC
≈ 11.9 bn KRW within ±1 %, 84 % of Upbit's published 14.1 bn) are all scaled by one factor,
COINONE_SCALE = 0.14, which puts BTC at ≈ 1.4 bn KRW within ±1 % (about a tenth of Upbit) and keeps the
coins' relative liquidity. ETH, XRP and SOL come out thinner than BTC (`bench/bench_sim_market.py`
prints each coin's depth). `spread_bps` is the quoted spread; the resilience and permanent-impact
parameters are the cost model's (`CostModel`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal


@dataclass(frozen=True)
class CoinSpec:
    """One simulated KRW market."""

    symbol: str
    listed: datetime  # aware UTC; floored to 00:00 UTC of that day
    level: Decimal  # KRW price at the calibration instant
    annual_vol: float  # long-run annualised volatility of daily log returns
    beta: float  # loading on the common market factor (and on the market cycle)
    qty_unit: Decimal
    spread_bps: Decimal  # best ask - best bid, in basis points of the last price (at least one tick)
    turnover_krw: Decimal = Decimal("280000000")  # typical KRW traded per day near the calibration date

    def __post_init__(self) -> None:
        if self.listed.tzinfo is None:
            raise ValueError(f"{self.symbol}: listed must be an aware datetime")
        if self.level <= 0 or self.qty_unit <= 0 or self.turnover_krw <= 0:
            raise ValueError(f"{self.symbol}: level, qty_unit and turnover_krw must be positive")
        if not (0 < self.annual_vol < 5) or not (0 <= self.beta < 5) or self.spread_bps < 0:
            raise ValueError(f"{self.symbol}: annual_vol, beta or spread_bps out of range")


COINONE_SCALE = Decimal("0.14")  # Coinone's turnover as a share of the seed's (Upbit-like) figures; see above


def _coin(symbol: str, listed: str, level: str, vol: float, beta: float, spread_bps: str,
          seed_turnover_krw: str, qty_unit: str = "0.0001") -> CoinSpec:
    year, month, day = (int(part) for part in listed.split("-"))
    return CoinSpec(symbol, datetime(year, month, day, tzinfo=timezone.utc), Decimal(level), vol, beta,
                    Decimal(qty_unit), Decimal(spread_bps), Decimal(seed_turnover_krw) * COINONE_SCALE)


# symbol, listed, level (KRW), annual vol, beta, spread bps, the seed's KRW turnover per day (× COINONE_SCALE)
DEFAULT_COINS: tuple[CoinSpec, ...] = (
    _coin("BTC", "2016-01-04", "130000000", 0.55, 1.00, "2", "40000000000"),
    _coin("ETH", "2016-08-01", "4500000", 0.70, 1.15, "3", "20000000000"),
    _coin("ETC", "2016-08-01", "25000", 0.85, 1.00, "10", "1500000000"),
    _coin("XRP", "2017-01-02", "3000", 0.85, 1.10, "3", "35000000000"),
    _coin("BCH", "2017-08-07", "800000", 0.80, 1.00, "8", "2000000000"),
    _coin("EOS", "2018-03-05", "1000", 0.85, 1.00, "12", "1000000000"),
    _coin("XLM", "2018-06-04", "400", 0.80, 1.00, "10", "2500000000"),
    _coin("TRX", "2018-09-03", "420", 0.65, 0.80, "10", "2000000000"),
    _coin("ADA", "2019-03-04", "1000", 0.85, 1.20, "6", "6000000000"),
    _coin("ATOM", "2019-05-06", "6000", 0.85, 1.10, "10", "1200000000"),
    _coin("LINK", "2019-09-02", "30000", 0.90, 1.20, "8", "3000000000"),
    _coin("DOGE", "2020-08-03", "300", 1.00, 1.20, "5", "8000000000"),
    _coin("DOT", "2020-09-07", "6000", 0.85, 1.15, "10", "1500000000"),
    _coin("AVAX", "2020-12-07", "35000", 0.95, 1.30, "10", "2000000000"),
    _coin("SAND", "2021-02-01", "400", 1.00, 1.30, "12", "1500000000"),
    _coin("MANA", "2021-02-01", "400", 1.00, 1.30, "12", "1000000000"),
    _coin("NEAR", "2021-04-05", "4000", 0.95, 1.25, "10", "1500000000"),
    _coin("SOL", "2021-06-07", "250000", 0.95, 1.30, "5", "8000000000"),
    _coin("HBAR", "2021-09-06", "250", 0.90, 1.10, "10", "2500000000"),
    _coin("SHIB", "2021-10-04", "0.02", 1.05, 1.30, "50", "1000000000", qty_unit="1"),
)
