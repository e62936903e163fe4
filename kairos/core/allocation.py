"""Target weights from the regime, and what the account holds now, valued in KRW.

Weights here are always shares of the TOTAL portfolio (coins + KRW), so targets and holdings
can be compared key by key, "KRW" included.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping, Sequence

from kairos.coinone.models import Balance
from kairos.core.types import Regime
from kairos.errors import DataError
from kairos.money import ONE, ZERO

QUOTE = "KRW"
WEIGHT_TOLERANCE = Decimal("1e-9")


def crypto_ratio(regime: Regime, risk_on_ratio: Decimal, risk_off_ratio: Decimal) -> Decimal:
    """Share of the whole portfolio that belongs in crypto under `regime`."""
    for name, ratio in (("risk_on_ratio", risk_on_ratio), ("risk_off_ratio", risk_off_ratio)):
        if not ZERO <= ratio <= ONE:
            raise ValueError(f"{name} must be between 0 and 1, got {ratio}")
    return risk_on_ratio if regime is Regime.RISK_ON else risk_off_ratio


def target_weights(
    regime: Regime, coin_weights: Mapping[str, Decimal], risk_on_ratio: Decimal, risk_off_ratio: Decimal
) -> dict[str, Decimal]:
    """Target share of the total portfolio per coin (crypto ratio × coin weight), plus "KRW"."""
    check_coin_weights(coin_weights)
    ratio = crypto_ratio(regime, risk_on_ratio, risk_off_ratio)
    weights = {coin: ratio * weight for coin, weight in coin_weights.items()}
    weights[QUOTE] = ONE - ratio
    return weights


def check_coin_weights(coin_weights: Mapping[str, Decimal]) -> None:
    """Raise ValueError unless the crypto-part weights are non-negative and sum to 1 (±1e-9)."""
    if QUOTE in coin_weights:
        raise ValueError(f"{QUOTE} cannot be a coin weight; it is the remainder")
    for coin, weight in coin_weights.items():
        if weight < 0:
            raise ValueError(f"weight of {coin} must not be negative, got {weight}")
    total = sum(coin_weights.values(), ZERO)
    if abs(total - ONE) > WEIGHT_TOLERANCE:
        raise ValueError(f"coin weights must sum to 1, got {total}")


@dataclass(frozen=True)
class CoinPosition:
    """One universe coin: quantities held, the price used, and the KRW value."""

    target: str
    qty_total: Decimal  # available + locked in open orders
    qty_available: Decimal
    price: Decimal
    value: Decimal  # qty_total × price

    @property
    def qty_locked(self) -> Decimal:
        """Quantity tied up in open orders: counted in value, not sellable."""
        return self.qty_total - self.qty_available


@dataclass(frozen=True)
class Valuation:
    """The account in KRW: universe coins valued, other coins only listed."""

    total: Decimal  # krw_total + Σ coin values
    krw_total: Decimal  # available + locked
    krw_available: Decimal
    coins: dict[str, CoinPosition]  # universe order
    outside: dict[str, Decimal]  # non-universe currency → total qty; never valued or traded

    @property
    def universe(self) -> tuple[str, ...]:
        """The universe coins, in configured order."""
        return tuple(self.coins)

    def weight(self, coin: str) -> Decimal:
        """Current share of the total of a universe coin or "KRW" (0 for an empty account)."""
        if coin == QUOTE:
            value = self.krw_total
        elif coin in self.coins:
            value = self.coins[coin].value
        else:
            raise KeyError(f"{coin} is not in the universe")
        return value / self.total if self.total > 0 else ZERO

    def weights(self) -> dict[str, Decimal]:
        """Current shares of the total for every universe coin and "KRW"."""
        return {name: self.weight(name) for name in (*self.coins, QUOTE)}


def value_portfolio(
    balances: Mapping[str, Balance], prices: Mapping[str, Decimal], universe: Sequence[str], quote: str = QUOTE
) -> Valuation:
    """Value KRW (available + locked) and every universe coin at its price; list the rest apart."""
    _check_universe(universe, quote)
    coins = {coin: _position(coin, balances.get(coin), prices) for coin in universe}
    krw = balances.get(quote)
    krw_total = krw.total if krw else ZERO
    outside = {
        currency: balance.total
        for currency, balance in balances.items()
        if currency != quote and currency not in coins and balance.total != 0
    }
    total = krw_total + sum((p.value for p in coins.values()), ZERO)
    return Valuation(total=total, krw_total=krw_total, krw_available=krw.available if krw else ZERO,
                     coins=coins, outside=outside)


def _check_universe(universe: Sequence[str], quote: str) -> None:
    if quote in universe:
        raise ValueError(f"the universe must not contain the quote currency {quote}")
    if len(set(universe)) != len(universe):
        raise ValueError(f"the universe lists a coin twice: {list(universe)}")


def _position(coin: str, balance: Balance | None, prices: Mapping[str, Decimal]) -> CoinPosition:
    # A missing price must abort, even for a zero balance: valuing at 0 would make the planner
    # buy the coin from scratch (or sell everything else) on a data glitch.
    price = prices.get(coin)
    if price is None:
        raise DataError(f"no price for {coin}; cannot value the portfolio")
    if price <= 0:
        raise DataError(f"price of {coin} must be positive, got {price}")
    qty_total = balance.total if balance else ZERO
    qty_available = balance.available if balance else ZERO
    return CoinPosition(target=coin, qty_total=qty_total, qty_available=qty_available,
                        price=price, value=qty_total * price)
