from __future__ import annotations

from decimal import Decimal

import pytest

from kairos.coinone.models import Balance
from kairos.core.allocation import CoinPosition, Valuation, crypto_ratio, target_weights, value_portfolio
from kairos.core.types import Regime
from kairos.errors import DataError

D = Decimal
ON, OFF = Regime.RISK_ON, Regime.RISK_OFF
WEIGHTS = {"BTC": D("0.40"), "ETH": D("0.30"), "XRP": D("0.15"), "SOL": D("0.15")}
UNIVERSE = ["BTC", "ETH", "XRP", "SOL"]


def bal(currency: str, available: str, limit: str = "0") -> Balance:
    return Balance(currency=currency, available=D(available), limit=D(limit))


# --- crypto_ratio / target_weights ------------------------------------------------------------

@pytest.mark.parametrize("regime, expected", [(ON, D("0.70")), (OFF, D("0.30"))])
def test_crypto_ratio(regime: Regime, expected: Decimal) -> None:
    assert crypto_ratio(regime, D("0.70"), D("0.30")) == expected


@pytest.mark.parametrize("on, off", [("1.01", "0.3"), ("0.7", "-0.1")])
def test_crypto_ratio_rejects_ratios_outside_0_1(on: str, off: str) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        crypto_ratio(ON, D(on), D(off))


@pytest.mark.parametrize("regime, expected", [
    # risk-on 0.70: BTC 0.70×0.40 = 0.28, ETH 0.70×0.30 = 0.21, XRP/SOL 0.70×0.15 = 0.105, KRW 1−0.70
    (ON, {"BTC": D("0.28"), "ETH": D("0.21"), "XRP": D("0.105"), "SOL": D("0.105"), "KRW": D("0.30")}),
    # risk-off 0.30: BTC 0.30×0.40 = 0.12, ETH 0.09, XRP/SOL 0.045, KRW 0.70
    (OFF, {"BTC": D("0.12"), "ETH": D("0.09"), "XRP": D("0.045"), "SOL": D("0.045"), "KRW": D("0.70")}),
])
def test_target_weights_design_example(regime: Regime, expected: dict[str, Decimal]) -> None:
    weights = target_weights(regime, WEIGHTS, D("0.70"), D("0.30"))
    assert weights == expected
    assert list(weights) == ["BTC", "ETH", "XRP", "SOL", "KRW"]  # config order, KRW last
    assert sum(weights.values()) == 1


def test_target_weights_accepts_sums_within_tolerance() -> None:
    # thirds sum to 0.999999999999 (1e-12 short of 1): inside the 1e-9 tolerance
    thirds = {"A": D("0.333333333333"), "B": D("0.333333333333"), "C": D("0.333333333333")}
    assert target_weights(ON, thirds, D("0.6"), D("0.3"))["A"] == D("0.1999999999998")  # 0.6 × 0.333333333333


@pytest.mark.parametrize("weights, message", [
    ({"BTC": D("0.5"), "ETH": D("0.4")}, "sum to 1, got 0.9"),
    ({"BTC": D("0.6"), "ETH": D("0.400000002")}, "sum to 1"),  # 2e-9 over
    ({}, "sum to 1, got 0"),
    ({"BTC": D("1.2"), "ETH": D("-0.2")}, "ETH must not be negative"),
    ({"BTC": D("0.5"), "KRW": D("0.5")}, "KRW cannot be a coin weight"),
])
def test_target_weights_rejects_bad_coin_weights(weights: dict[str, Decimal], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        target_weights(ON, weights, D("0.7"), D("0.3"))


# --- value_portfolio ------------------------------------------------------------------------

PRICES = {"BTC": D("100000000"), "ETH": D("5000000"), "XRP": D("800"), "SOL": D("250000"), "DOGE": D("300")}


def test_value_portfolio_by_hand() -> None:
    balances = {
        "KRW": bal("KRW", "1000000", "500000"),  # 1,500,000 in total, 500,000 locked in an open buy
        "BTC": bal("BTC", "0.01", "0.005"),  # 0.015 × 100,000,000 = 1,500,000
        "ETH": bal("ETH", "0.2"),  # 0.2 × 5,000,000 = 1,000,000
        "XRP": bal("XRP", "0", "0"),  # 0
        "DOGE": bal("DOGE", "1000"),  # outside the universe: listed, not valued
        "ADA": bal("ADA", "0"),  # outside and empty: not even listed
    }
    v = value_portfolio(balances, PRICES, UNIVERSE)
    assert v.total == D("4000000")  # 1,500,000 + 1,500,000 + 1,000,000 + 0 + 0 (SOL absent)
    assert (v.krw_total, v.krw_available) == (D("1500000"), D("1000000"))
    assert v.coins["BTC"] == CoinPosition("BTC", D("0.015"), D("0.01"), D("100000000"), D("1500000"))
    assert v.coins["BTC"].qty_locked == D("0.005")
    assert v.coins["SOL"] == CoinPosition("SOL", D(0), D(0), D("250000"), D(0))  # absent → qty 0
    assert v.outside == {"DOGE": D("1000")}
    assert v.universe == ("BTC", "ETH", "XRP", "SOL")


def test_current_weights_include_krw() -> None:
    balances = {"KRW": bal("KRW", "2000000"), "BTC": bal("BTC", "0.02"), "ETH": bal("ETH", "0.4")}
    v = value_portfolio(balances, PRICES, UNIVERSE)
    # total = 2,000,000 + 0.02×100,000,000 (2,000,000) + 0.4×5,000,000 (2,000,000) = 6,000,000
    assert v.weights() == {"BTC": D(1) / 3, "ETH": D(1) / 3, "XRP": D(0), "SOL": D(0), "KRW": D(1) / 3}
    assert v.weight("KRW") == D(2000000) / D(6000000)


def test_weight_of_an_empty_account_is_zero_and_unknown_coin_is_an_error() -> None:
    v = value_portfolio({}, PRICES, UNIVERSE)
    assert v.total == 0
    assert v.weights() == {"BTC": 0, "ETH": 0, "XRP": 0, "SOL": 0, "KRW": 0}
    with pytest.raises(KeyError, match="DOGE"):
        v.weight("DOGE")


@pytest.mark.parametrize("prices, balances, message", [
    ({k: v for k, v in PRICES.items() if k != "ETH"}, {"ETH": bal("ETH", "1")}, "no price for ETH"),
    # no balance at all still needs a price: never value a universe coin at 0
    ({k: v for k, v in PRICES.items() if k != "SOL"}, {}, "no price for SOL"),
    ({**PRICES, "XRP": D(0)}, {}, "price of XRP must be positive, got 0"),
    ({**PRICES, "BTC": D(-1)}, {"BTC": bal("BTC", "1")}, "price of BTC must be positive"),
])
def test_missing_or_bad_price_is_a_data_error(prices: dict[str, Decimal], balances: dict[str, Balance], message: str) -> None:
    with pytest.raises(DataError, match=message):
        value_portfolio(balances, prices, UNIVERSE)


def test_outside_coins_need_no_price() -> None:
    v = value_portfolio({"PEPE": bal("PEPE", "5", "1")}, PRICES, UNIVERSE)
    assert v.outside == {"PEPE": D(6)}  # total qty, 5 available + 1 locked
    assert v.total == 0


@pytest.mark.parametrize("universe, message", [
    (["BTC", "KRW"], "quote currency KRW"),
    (["BTC", "BTC"], "twice"),
])
def test_value_portfolio_rejects_bad_universe(universe: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        value_portfolio({}, PRICES, universe)


def test_valuation_is_frozen() -> None:
    v: Valuation = value_portfolio({}, PRICES, UNIVERSE)
    with pytest.raises(AttributeError):
        v.total = D(1)  # type: ignore[misc]
