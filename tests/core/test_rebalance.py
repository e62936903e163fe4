from __future__ import annotations

from decimal import Decimal

import pytest

from kairos.coinone.models import Balance, MarketRules
from kairos.core.allocation import Valuation, target_weights, value_portfolio
from kairos.core.rebalance import RebalancePlan, plan_rebalance
from kairos.core.types import OrderIntent, Regime, Side
from kairos.errors import DataError

D = Decimal
MIN = D("5000")
FEE = D("0.002")
WEIGHTS = {"BTC": D("0.40"), "ETH": D("0.30"), "XRP": D("0.15"), "SOL": D("0.15")}
UNIVERSE = ("BTC", "ETH", "XRP", "SOL")
PRICES = {"BTC": D("140000000"), "ETH": D("5000000"), "XRP": D("3000"), "SOL": D("250000")}
QTY_UNITS = {"BTC": "0.0001", "ETH": "0.0001", "XRP": "1", "SOL": "0.001"}


def rules(**overrides: MarketRules) -> dict[str, MarketRules]:
    base = {c: MarketRules(target=c, qty_unit=D(u), min_order_krw=MIN, max_order_krw=D("1e9")) for c, u in QTY_UNITS.items()}
    return {**base, **overrides}


def valuation(krw: str = "0", krw_locked: str = "0", prices: dict[str, Decimal] = PRICES, **coins: str) -> Valuation:
    """Balances from `COIN="available[/locked]"`, valued by the real value_portfolio."""
    balances = {"KRW": Balance("KRW", D(krw), D(krw_locked))}
    for coin, spec in coins.items():
        available, _, locked = spec.partition("/")
        balances[coin] = Balance(coin, D(available), D(locked or "0"))
    return value_portfolio(balances, prices, UNIVERSE)


def targets(**weights: str) -> dict[str, Decimal]:
    """Total-portfolio targets; unnamed universe coins get 0, KRW takes the rest."""
    out = {c: D(weights.get(c, "0")) for c in UNIVERSE}
    out["KRW"] = 1 - sum(out.values())
    return out


def plan(v: Valuation, t: dict[str, Decimal], drift: str = "0.01", fee: Decimal = FEE, **kw: MarketRules) -> RebalancePlan:
    return plan_rebalance(v, t, rules(**kw), drift_threshold=D(drift), fee_buffer=fee)


def sides(p: RebalancePlan) -> list[tuple[str, Side, Decimal | None, Decimal | None]]:
    return [(i.target, i.side, i.amount_krw, i.qty) for i in p.intents]


# --- realistic accounts -----------------------------------------------------------------------

def test_all_cash_10m_risk_on() -> None:
    # risk-on 70 %: BTC 10,000,000×0.28 = 2,800,000; ETH ×0.21 = 2,100,000; XRP, SOL ×0.105 = 1,050,000.
    # Buys total 7,000,000 ≤ budget 10,000,000×(1−0.002) = 9,980,000: the fee buffer does not bind.
    p = plan(valuation(krw="10000000"), target_weights(Regime.RISK_ON, WEIGHTS, D("0.70"), D("0.30")))
    assert sides(p) == [
        ("BTC", Side.BUY, D("2800000"), None), ("ETH", Side.BUY, D("2100000"), None),
        ("XRP", Side.BUY, D("1050000"), None), ("SOL", Side.BUY, D("1050000"), None),
    ]
    assert [i.est_krw for i in p.intents] == [D("2800000"), D("2100000"), D("1050000"), D("1050000")]
    assert [i.price for i in p.intents] == [PRICES[c] for c in UNIVERSE]
    assert (p.total, p.krw_after_sells, p.buy_budget) == (D("10000000"), D("10000000"), D("9980000"))
    assert p.buy_krw == D("7000000") and p.sell_krw == 0
    assert not any(r.capped for r in p.rows)
    btc = p.row("BTC")
    assert (btc.current_weight, btc.target_weight, btc.target_value, btc.delta_krw) == (0, D("0.28"), D("2800000"), D("2800000"))


def test_all_cash_10m_all_crypto_is_trimmed_by_the_fee_buffer() -> None:
    # crypto 100 %: wanted BTC 4,000,000, ETH 3,000,000, XRP 1,500,000, SOL 1,500,000 = 10,000,000,
    # budget 9,980,000 → every buy × 0.998: 3,992,000 / 2,994,000 / 1,497,000 / 1,497,000.
    p = plan(valuation(krw="10000000"), target_weights(Regime.RISK_ON, WEIGHTS, D("1"), D("0.3")))
    assert [i.amount_krw for i in p.buys] == [D("3992000"), D("2994000"), D("1497000"), D("1497000")]
    assert p.buy_krw == D("9980000")
    assert all(r.capped for r in p.rows)


def test_risk_off_flip_sells_first_and_buys_with_proceeds() -> None:
    # Held at risk-on targets, total 10,000,000: BTC 0.02×140,000,000 = 2,800,000; ETH 0.42×5,000,000 =
    # 2,100,000; XRP 350×3,000 = 1,050,000; SOL 4.2×250,000 = 1,050,000; KRW 3,000,000.
    v = valuation(krw="3000000", BTC="0.02", ETH="0.42", XRP="350", SOL="4.2")
    p = plan(v, target_weights(Regime.RISK_OFF, WEIGHTS, D("0.70"), D("0.30")))
    # risk-off targets: BTC 1,200,000 (delta −1,600,000 → 1,600,000/140,000,000 = 0.011428… → 0.0114),
    # ETH 900,000 (−1,200,000 → 0.24), XRP 450,000 (−600,000 → 200), SOL 450,000 (−600,000 → 2.4)
    assert sides(p) == [
        ("BTC", Side.SELL, None, D("0.0114")), ("ETH", Side.SELL, None, D("0.24")),
        ("XRP", Side.SELL, None, D("200")), ("SOL", Side.SELL, None, D("2.4")),
    ]
    # est: 0.0114×140,000,000 = 1,596,000; 1,200,000; 600,000; 600,000 → proceeds 3,996,000
    assert p.sell_krw == D("3996000")
    assert p.krw_after_sells == D("3000000") + D("3996000") * D("0.998")  # = 6,988,008


# --- drift and minimum order ---------------------------------------------------------------

@pytest.mark.parametrize("krw, btc_weight, drift, action, reason", [
    # total 10,000,000, BTC 0: delta = total × weight. drift 1 % → threshold 100,000
    ("10000000", "0.0099999", "0.01", "HOLD", "below_drift"),  # delta 99,999 < 100,000
    ("10000000", "0.01", "0.01", "BUY", None),  # delta 100,000 is not below the threshold
    # drift 0 % → threshold = min order 5,000
    ("10000000", "0.0004999", "0", "HOLD", "below_min_order"),  # delta 4,999
    ("10000000", "0.0005", "0", "BUY", None),  # delta 5,000
    # small account: 1 % of 100,000 = 1,000 < 5,000, so the minimum order decides
    ("100000", "0.04", "0.01", "HOLD", "below_min_order"),  # delta 4,000
    ("100000", "0.05", "0.01", "BUY", None),  # delta 5,000
])
def test_threshold_table(krw: str, btc_weight: str, drift: str, action: str, reason: str | None) -> None:
    row = plan(valuation(krw=krw), targets(BTC=btc_weight), drift=drift).row("BTC")
    assert (row.action, row.skip_reason) == (action, reason)
    assert (row.order_krw > 0) is (action == "BUY")


def test_sell_rounds_down_to_qty_unit() -> None:
    # KRW 1,000,000 + BTC 0.1×96,000,000 (9,600,000) = 10,600,000; target BTC 0.5 → 5,300,000;
    # delta −4,300,000 → 4,300,000/96,000,000 = 0.0447916… → round down to 0.0001 → 0.0447
    v = valuation(krw="1000000", prices={**PRICES, "BTC": D("96000000")}, BTC="0.1")
    p = plan(v, targets(BTC="0.5"))
    assert sides(p) == [("BTC", Side.SELL, None, D("0.0447"))]
    assert p.intents[0].est_krw == D("4291200")  # 0.0447 × 96,000,000


def test_buy_rounds_down_to_whole_krw() -> None:
    # total 1,000,000.9 KRW; BTC target 0.5 → delta 500,000.45 → amount 500,000
    p = plan(valuation(krw="1000000.9"), targets(BTC="0.5"))
    assert p.buys[0].amount_krw == D("500000")


def test_sell_below_min_order_after_rounding_is_skipped() -> None:
    # KRW 70,000 + XRP 10×3,000 (30,000) = 100,000; XRP target 0.245 → 24,500; delta −5,500 passes the
    # 5,000 threshold, but 5,500/3,000 = 1.83 → 1 XRP (qty_unit 1) = 3,000 KRW < 5,000 minimum
    p = plan(valuation(krw="70000", XRP="10"), targets(XRP="0.245"), drift="0")
    assert (p.row("XRP").action, p.row("XRP").skip_reason) == ("HOLD", "below_min_order")
    assert not p.has_orders


def test_min_qty_blocks_a_sell() -> None:
    # same −4,300,000 delta as above (0.0447 BTC) but the market wants at least 0.05 BTC
    v = valuation(krw="1000000", prices={**PRICES, "BTC": D("96000000")}, BTC="0.1")
    strict = MarketRules("BTC", D("0.0001"), MIN, D("1e9"), min_qty=D("0.05"))
    assert plan(v, targets(BTC="0.5"), BTC=strict).row("BTC").skip_reason == "below_min_order"


# --- locked balances, markets, non-universe coins --------------------------------------------

@pytest.mark.parametrize("btc, sell_qty, reason", [
    # BTC 0.1 at 140,000,000 = 14,000,000 total; target 0.2 → 2,800,000; delta −11,200,000 → 0.08 BTC wanted
    ("0.1", D("0.08"), None),  # all available: sell 0.08
    ("0.01/0.09", D("0.01"), None),  # 0.09 locked in open orders: only 0.01 can be sold
    ("0.00003/0.09997", None, "qty_locked"),  # 0.00003 rounds to 0.0000: nothing sellable
])
def test_locked_coins_are_valued_but_not_sold(btc: str, sell_qty: Decimal | None, reason: str | None) -> None:
    v = valuation(BTC=btc)
    assert v.total == D("14000000")  # locked coins still count: 0.1 × 140,000,000
    row = plan(v, targets(BTC="0.2")).row("BTC")
    assert (row.order_qty, row.skip_reason) == (sell_qty, reason)


@pytest.mark.parametrize("btc, krw, weight, rule, side", [
    ("0.1", "0", "0.2", MarketRules("BTC", D("0.0001"), MIN, D("1e9"), can_sell=False), "sell"),
    ("0", "1000000", "0.5", MarketRules("BTC", D("0.0001"), MIN, D("1e9"), can_buy=False), "buy"),
])
def test_market_closed_holds(btc: str, krw: str, weight: str, rule: MarketRules, side: str) -> None:
    p = plan(valuation(krw=krw, BTC=btc), targets(BTC=weight), BTC=rule)
    assert (p.row("BTC").action, p.row("BTC").skip_reason) == ("HOLD", "market_closed")
    assert not p.has_orders


def test_coins_outside_the_universe_are_untouched() -> None:
    balances = {"KRW": Balance("KRW", D("1000000"), D(0)), "DOGE": Balance("DOGE", D("50000"), D(0))}
    v = value_portfolio(balances, {**PRICES, "DOGE": D("300")}, UNIVERSE)
    assert v.total == D("1000000")  # 50,000 DOGE × 300 would be 15,000,000: not counted
    p = plan(v, targets(BTC="0.5"))
    assert [r.target for r in p.rows] == list(UNIVERSE)
    assert [i.target for i in p.intents] == ["BTC"]
    with pytest.raises(ValueError, match="DOGE is not in the valued universe"):
        plan(v, {**targets(BTC="0.5", ETH="0.1"), "ETH": D(0), "DOGE": D("0.1")})


@pytest.mark.parametrize("prices, message", [
    ({k: v for k, v in PRICES.items() if k != "SOL"}, "no price for SOL"),
    ({**PRICES, "ETH": D(0)}, "price of ETH must be positive"),
])
def test_missing_or_zero_price_aborts_before_planning(prices: dict[str, Decimal], message: str) -> None:
    with pytest.raises(DataError, match=message):
        plan(valuation(krw="1000000", prices=prices), targets(BTC="0.5"))


# --- sells first and the KRW cap -----------------------------------------------------------

def test_sells_come_first_and_fund_capped_buys() -> None:
    # KRW 0, ETH 2×5,000,000 = 10,000,000; targets BTC 0.5, ETH 0.5 → ETH sells 1.0 (5,000,000), BTC wants 5,000,000.
    # after sells: 5,000,000×0.998 = 4,990,000; budget 4,990,000×0.998 = 4,980,020 → BTC buy 4,980,020
    p = plan(valuation(ETH="2"), targets(BTC="0.5", ETH="0.5"))
    assert sides(p) == [("ETH", Side.SELL, None, D("1.0000")), ("BTC", Side.BUY, D("4980020"), None)]
    assert (p.krw_after_sells, p.buy_budget) == (D("4990000"), D("4980020"))
    assert p.row("BTC").capped and not p.row("ETH").capped
    assert [i.side for i in p.sells] == [Side.SELL] and [i.side for i in p.buys] == [Side.BUY]


def test_krw_cap_scales_all_buys_and_drops_the_ones_below_minimum() -> None:
    # KRW 50,000 available + 50,000 locked = 100,000 total. Targets BTC 0.90 (90,000), ETH 0.06 (6,000).
    # budget = 50,000 × 0.998 = 49,900; scale = 49,900 / 96,000 = 0.5197916…
    # BTC 90,000 × scale = 46,781.25 → 46,781; ETH 6,000 × scale = 3,118.75 → under 5,000: dropped
    p = plan(valuation(krw="50000", krw_locked="50000"), targets(BTC="0.90", ETH="0.06"))
    assert sides(p) == [("BTC", Side.BUY, D("46781"), None)]
    assert (p.row("ETH").action, p.row("ETH").skip_reason, p.row("ETH").order_krw) == ("HOLD", "capped_by_krw", 0)
    assert p.buy_krw <= p.buy_budget


def test_no_available_krw_drops_every_buy() -> None:
    p = plan(valuation(krw="0", krw_locked="1000000"), targets(BTC="0.5"))
    assert p.row("BTC").skip_reason == "capped_by_krw" and not p.has_orders


def test_empty_account_plans_nothing() -> None:
    p = plan(valuation(), targets(BTC="0.5"))
    assert p.total == 0 and not p.has_orders
    assert {r.action for r in p.rows} == {"HOLD"}


# --- units and argument checks -------------------------------------------------------------

@pytest.mark.parametrize("side, amount_krw, qty", [
    (Side.BUY, None, D("0.1")),  # a BUY sized in coin
    (Side.BUY, D("10000"), D("0.1")),  # both units
    (Side.SELL, D("10000"), None),  # a SELL sized in KRW
])
def test_unit_guard(side: Side, amount_krw: Decimal | None, qty: Decimal | None) -> None:
    with pytest.raises(ValueError, match="must be sized by"):
        OrderIntent("BTC", side, amount_krw=amount_krw, qty=qty, price=D("1"), est_krw=D("1"))


def test_plan_intents_carry_the_right_unit() -> None:
    # total 7,900,000: BTC 2,800,000 → 790,000 (sell), ETH 2,100,000 → 3,160,000 (buy)
    p = plan(valuation(krw="3000000", BTC="0.02", ETH="0.42"), targets(BTC="0.1", ETH="0.4"))
    assert [(i.target, i.side) for i in p.intents] == [("BTC", Side.SELL), ("ETH", Side.BUY)]
    for intent in p.intents:
        assert (intent.amount_krw is None) is (intent.side is Side.SELL)
        assert (intent.qty is None) is (intent.side is Side.BUY)


@pytest.mark.parametrize("t, kw, message", [
    (targets(BTC="0.5"), {"drop": "SOL"}, "no market rules for SOL"),
    ({c: w for c, w in targets(BTC="0.5").items() if c != "XRP"}, {}, "no target weight for universe coin XRP"),
    ({c: w for c, w in targets(BTC="0.5").items() if c != "KRW"}, {}, "must include KRW"),
    # crypto-part weights (they sum to 1 without KRW) must not pass for total weights
    ({**WEIGHTS, "KRW": D("0.3")}, {}, "sum to 1 including KRW, got 1.3"),
    ({**targets(BTC="0.5"), "ETH": D("-0.1"), "KRW": D("0.6")}, {}, "must not be negative"),
    (targets(BTC="0.5"), {"drift": "1"}, "drift_threshold"),
    (targets(BTC="0.5"), {"fee": D("-0.001")}, "fee_buffer"),
])
def test_bad_arguments(t: dict[str, Decimal], kw: dict[str, object], message: str) -> None:
    market_rules = rules()
    market_rules.pop(str(kw.get("drop", "")), None)
    with pytest.raises(ValueError, match=message):
        plan_rebalance(valuation(krw="1000000"), t, market_rules,
                       drift_threshold=D(str(kw.get("drift", "0.01"))), fee_buffer=kw.get("fee", FEE))  # type: ignore[arg-type]
