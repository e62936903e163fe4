"""Is a quote good enough to act on? A pure check of one coin's ticker against its own book.

A price is trusted only when the best bid and best ask are both positive, the bid is below the ask,
and `last` lies within `max_deviation` of the mid. Valuation then uses the mid. One bad quote stops
that coin for that run — never the account, never the other coins (DESIGN §3).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class QuoteCheck:
    coin: str
    trusted: bool
    mid: Decimal | None  # None when the book itself is unusable
    problem: str | None = None  # why it is not trusted (English, one clause)


def check_quote(coin: str, bid: Decimal | None, ask: Decimal | None, last: Decimal, max_deviation: Decimal) -> QuoteCheck:
    """Trust `coin`'s quote only if its book is sane and `last` agrees with it."""
    if bid is None or ask is None:
        return QuoteCheck(coin, False, None, "the ticker carries no best bid/ask")
    if bid <= 0 or ask <= 0:
        return QuoteCheck(coin, False, None, f"best bid {bid} / best ask {ask} is not positive")
    if bid >= ask:
        return QuoteCheck(coin, False, None, f"best bid {bid} is not below best ask {ask}")
    mid = (bid + ask) / 2
    deviation = abs(last - mid) / mid
    if deviation > max_deviation:
        return QuoteCheck(coin, False, mid, f"last {last} is {deviation * 100:.1f}% from the book's mid {mid} "
                                            f"(limit {(max_deviation * 100).normalize():f}%)")
    return QuoteCheck(coin, True, mid)
