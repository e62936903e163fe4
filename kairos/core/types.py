"""Value types shared by the pure core (regimes, order intents)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Word(StrEnum):
    """An enum whose members are their text: equal to it, hashed like it (a dict keyed by the text finds
    the member), and printed as it (`f"{Side.BUY}"` is `BUY`)."""

    __hash__ = str.__hash__


class Regime(Word):
    RISK_ON = "risk_on"
    RISK_OFF = "risk_off"


class Side(Word):
    BUY = "BUY"
    SELL = "SELL"


@dataclass(frozen=True)
class OrderIntent:
    """One order the planner wants. Units are explicit and checked.

    A BUY is sized in KRW (`amount_krw`), a SELL in coin (`qty`). The other field must be None,
    so a KRW number can never travel as a quantity.
    """

    target: str
    side: Side
    amount_krw: Decimal | None
    qty: Decimal | None
    price: Decimal  # reference price used for sizing (ticker last)
    est_krw: Decimal  # KRW value of the order at `price`

    def __post_init__(self) -> None:
        if self.side is Side.BUY:
            if self.amount_krw is None or self.qty is not None:
                raise ValueError(f"{self.target} BUY must be sized by amount_krw only")
            if self.amount_krw <= 0:
                raise ValueError(f"{self.target} BUY amount must be positive")
        else:
            if self.qty is None or self.amount_krw is not None:
                raise ValueError(f"{self.target} SELL must be sized by qty only")
            if self.qty <= 0:
                raise ValueError(f"{self.target} SELL qty must be positive")
        if self.price <= 0:
            raise ValueError(f"{self.target}: reference price must be positive")
