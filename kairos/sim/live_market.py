"""The market model of paper trading: Coinone's real public data, read when the paper account needs it.

Paper mode (`mode: paper`) answers every private request from the simulator's own account and
matching code (`SimExchange`), with this object in place of the synthetic `MarketModel`: a MARKET
order walks the real order book read at that moment (up to 16 levels, Coinone's largest book
size), the `limit_price` guard and the quantity unit apply as on the exchange, and the markets'
rules (quantity unit, price ticks) are the real ones. Nothing here sends a private request.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kairos.coinone.models import KRW_TICKS, TickTable

log = logging.getLogger("kairos.paper")

BOOK_SIZE = 16  # the deepest book Coinone serves (sizes 5, 10, 15, 16)


@dataclass(frozen=True)
class LiveSpec:
    qty_unit: Decimal


class LiveMarket:
    """What `SimExchange` asks of a market model, answered from the real public API through `client`."""

    def __init__(self, client: Any) -> None:
        self.client = client  # a CoinoneClient without credentials: public paths only
        self._markets: dict[str, Any] | None = None
        self._ticks: dict[str, TickTable] = {}
        self.books_read = 0

    @property
    def markets(self) -> dict[str, Any]:
        if self._markets is None:
            self._markets = self.client.markets()
        return self._markets

    @property
    def coins(self) -> tuple[str, ...]:
        return tuple(self.markets)

    def listed_ms(self, coin: str) -> int:
        return 0

    def spec(self, coin: str) -> LiveSpec:
        return LiveSpec(self.markets[coin.upper()].qty_unit)

    def ticks(self, coin: str) -> TickTable:
        """The market's real price ticks (range_units), read once per run."""
        coin = coin.upper()
        if coin not in self._ticks:
            try:
                self._ticks[coin] = self.client.range_units(coin)
            except Exception as exc:  # the grid check then uses the documented KRW table
                log.warning("paper: range_units of %s unavailable (%s); using the documented KRW ticks", coin, exc)
                self._ticks[coin] = KRW_TICKS
        return self._ticks[coin]

    def book(self, coin: str, now_ms: int, levels: int = 15) -> tuple[list[tuple[Decimal, Decimal]],
                                                                     list[tuple[Decimal, Decimal]]]:
        """(bids descending, asks ascending) of the real book, read now."""
        book = self.client.orderbook(coin.upper(), size=BOOK_SIZE)
        self.books_read += 1
        bids = sorted(((l.price, l.qty) for l in book.bids), key=lambda l: -l[0])[:levels]
        asks = sorted(((l.price, l.qty) for l in book.asks), key=lambda l: l[0])[:levels]
        return bids, asks

    def price(self, coin: str, now_ms: int) -> Decimal:
        return self.client.ticker(coin.upper()).last

    def candles(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("paper trading fills MARKET orders only; resting orders are not simulated")
