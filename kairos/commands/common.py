"""Shell helpers shared by commands: market reads, rules, snapshots, calendar ids."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterator

from kairos.clock import KST
from kairos.coinone.models import Balance, MarketRules, Ticker
from kairos.context import Context
from kairos.core.allocation import Valuation, target_weights, value_portfolio
from kairos.core.quotes import QuoteCheck, check_quote
from kairos.core.types import Regime
from kairos.errors import DataError, ExchangeError, KairosError
from kairos.state import LockBusy, StateSession
from kairos.money import ZERO

if TYPE_CHECKING:
    from kairos.engine.model import State

log = logging.getLogger("kairos.market")

LOCK_WAIT_SECONDS = 120  # default of state.lock_wait_seconds: weekly and rebalance jobs wait for a running tick


class LockTimeout(KairosError):
    """A weekly or quarterly job could not get the lock in time (exit 1, alert): it did not run."""


@contextmanager
def locked_or_fail(ctx: Context, job: str) -> Iterator[StateSession]:
    """The state lock for a job that must not be skipped quietly (unlike --process-twap, which is)."""
    wait = ctx.settings.state.lock_wait_seconds
    try:
        with ctx.state.locked(wait_seconds=wait) as session:
            yield session
    except LockBusy:
        raise LockTimeout(f"{job} did not run: another KAIROS-1 run held {ctx.paths.lock_file} for more than "
                          f"{wait} s (state.lock_wait_seconds); a missed quarterly rebalance is caught up by the next "
                          f"--weekly-analysis or --process-twap") from None


def quarter_id(now: datetime) -> str:
    """Calendar quarter in Korean time, lowercase (used in ids): '2026q4'."""
    local = now.astimezone(KST)
    return f"{local.year}q{(local.month - 1) // 3 + 1}"


class UntrustedPrice(DataError):
    """A coin's quote disagrees with its own book: nothing is decided from it (exit 1)."""


@dataclass(frozen=True)
class MarketView:
    """Balances and prices read in two calls (tickers for all coins at once, balances at once).

    Valuation uses each coin's mid where its quote is trusted (`kairos.core.quotes`); an untrusted
    coin is valued at its `last` only so the view can be shown — `require_trusted` refuses to plan from it.
    """

    at: datetime
    tickers: dict[str, Ticker]
    balances: dict[str, Balance]
    valuation: Valuation
    quotes: dict[str, QuoteCheck]

    def price(self, coin: str) -> Decimal:
        return self.valuation.coins[coin].price

    @property
    def untrusted(self) -> dict[str, QuoteCheck]:
        return {c: q for c, q in self.quotes.items() if not q.trusted}

    def require_trusted(self, what: str) -> None:
        """UntrustedPrice naming every coin whose quote cannot be acted on."""
        bad = self.untrusted
        if bad:
            raise UntrustedPrice(f"{what}: {'; '.join(f'{c} price not trusted ({q.problem})' for c, q in bad.items())}")


def quote_of(ctx: Context, ticker: Ticker) -> QuoteCheck:
    return check_quote(ticker.target, ticker.best_bid.price if ticker.best_bid else None,
                       ticker.best_ask.price if ticker.best_ask else None, ticker.last,
                       ctx.settings.market.max_last_deviation)


def read_market(ctx: Context) -> MarketView:
    """Read every ticker and every balance once and value the universe; DataError on gaps."""
    universe = ctx.settings.universe
    tickers = ctx.client.tickers()
    balances = ctx.client.balances()
    missing = [c for c in universe if c not in tickers]
    if missing:
        skipped = ctx.client.skipped.get("tickers", {})
        why = "; ".join(f"{c}: {skipped[c]}" if c in skipped else f"{c}: not listed" for c in missing)
        raise DataError(f"no usable ticker for {', '.join(missing)} on the KRW market ({why}); no decision")
    quotes = {c: quote_of(ctx, tickers[c]) for c in universe}
    prices = {c: quotes[c].mid if quotes[c].trusted else tickers[c].last for c in universe}
    return MarketView(ctx.clock.now(), tickers, balances, value_portfolio(balances, prices, universe), quotes)


def market_rules(ctx: Context, universe: tuple[str, ...]) -> dict[str, MarketRules]:
    """Order rules per coin: qty unit, min/max order, tick table, whether each side is open."""
    markets = ctx.client.markets()
    floor = ctx.settings.strategy.rebalance.min_order_krw
    rules = {}
    for coin in universe:
        market = markets.get(coin)
        if market is None:
            skipped = ctx.client.skipped.get("markets", {})
            if coin in skipped:
                raise DataError(f"{coin}/KRW market rules unreadable ({skipped[coin]}); no plan")
            raise DataError(f"{coin}/KRW is not listed on the exchange; check strategy.portfolio")
        rules[coin] = MarketRules(target=coin, qty_unit=market.qty_unit,
                                  min_order_krw=max(market.min_order_amount, floor),
                                  max_order_krw=market.max_order_amount, ticks=ctx.client.range_units(coin),
                                  min_qty=market.min_qty, can_buy=market.can_buy, can_sell=market.can_sell)
    return rules


def targets_for(ctx: Context, regime: Regime) -> dict[str, Decimal]:
    s = ctx.settings.strategy
    return target_weights(regime, s.portfolio.weights, s.season_filter.risk_on_crypto_ratio,
                          s.season_filter.risk_off_crypto_ratio)


def current_regime(state: "State") -> Regime | None:
    return state.season.regime


def record_snapshot(ctx: Context, ledger: Any, view: MarketView, regime: Regime | None) -> dict[str, Any]:
    """Store a portfolio snapshot and return the tracking-error figures computed from it."""
    targets = targets_for(ctx, regime) if regime else {}
    weights = view.valuation.weights()
    coins = {c: {"qty": str(p.qty_total), "price": str(p.price), "value": str(p.value), "weight": str(weights[c])}
             for c, p in view.valuation.coins.items()}
    payload = {"coins": coins, "krw_weight": str(weights["KRW"]), "targets": {k: str(v) for k, v in targets.items()},
               "outside": {k: str(v) for k, v in view.valuation.outside.items()}}
    ledger.record_snapshot(view.at, view.valuation.total, view.valuation.krw_total,
                           regime.value if regime else None, payload)
    return tracking_error(weights, targets)


def snapshot_and_check(ctx: Context, view: MarketView, regime: Regime | None, *, plan_active: bool) -> dict[str, Any]:
    """Record a snapshot; alert `tracking_error` when the largest weight gap passes the threshold.

    While a TWAP plan is working, a gap is expected (it is being closed), so no alert then. A view with an
    untrusted price is not recorded (its value would be wrong); the run says so in the log.
    """
    if view.untrusted:
        log.warning("no portfolio snapshot this run: %s", "; ".join(f"{c} price not trusted ({q.problem})"
                                                                      for c, q in view.untrusted.items()))
        return {"max_gap": ZERO, "asset": None}
    te = record_snapshot(ctx, ctx.ledger, view, regime)
    threshold = ctx.settings.monitoring.tracking_error_threshold
    # a brand-new account is far from its targets by definition: no alert before its first rebalance
    if te["asset"] and te["max_gap"] > threshold and not plan_active and ctx.ledger.has_orders():
        t = ctx.out.t
        ctx.alerts.send("tracking_error", t(TRACKING["title"], gap=f"{te['max_gap'] * 100:.1f}", asset=te["asset"]),
                        [t(TRACKING["line"], asset=te["asset"], actual=f"{te['actual'] * 100:.1f}",
                           target=f"{te['target'] * 100:.1f}", threshold=f"{threshold * 100:.1f}")],
                        action=t(TRACKING["action"]), dedupe_key=f"tracking_error:{te['asset']}")
    return te


TRACKING = {
    "title": ("목표 비중 이탈 {gap}%p ({asset})", "Tracking error {gap}%p on {asset}"),
    "line": ("{asset}: 현재 {actual}% / 목표 {target}% (기준 {threshold}%p)",
             "{asset}: actual {actual}% vs target {target}% (threshold {threshold}%p)"),
    "action": ("차이가 계속되면 --quarterly-rebalance-twap --force를 고려하세요.",
               "Consider --quarterly-rebalance-twap --force if the gap persists."),
}


def tracking_error(weights: dict[str, Decimal], targets: dict[str, Decimal]) -> dict[str, Any]:
    """Largest |actual − target| weight, and which asset it is."""
    if not targets:
        return {"max_gap": ZERO, "asset": None}
    gaps = {k: abs(weights.get(k, ZERO) - targets.get(k, ZERO)) for k in set(weights) | set(targets)}
    asset = max(sorted(gaps), key=lambda k: gaps[k])
    return {"max_gap": gaps[asset], "asset": asset, "actual": weights.get(asset, ZERO), "target": targets.get(asset, ZERO)}


def no_decision(what: str, exc: ExchangeError) -> DataError:
    """Turn an exchange failure during data gathering into 'no decision was made'."""
    return DataError(f"no decision: {what} unavailable ({exc})")
