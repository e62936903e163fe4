"""The season decision as the shell sees it: fetch weekly candles and the ticker, classify, record."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kairos.clock import to_ms
from kairos.commands.common import UntrustedPrice, no_decision, quote_of
from kairos.context import Context
from kairos.core.season import SeasonDecision, classify, two_hundred_week_ma
from kairos.core.types import Regime
from kairos.engine.codec import encode
from kairos.engine.model import Analysis, State
from kairos.errors import ExchangeError

log = logging.getLogger("kairos.season")


@dataclass(frozen=True)
class SeasonInputs:
    price: Decimal
    ma: Decimal
    weeks: int
    last_week_ms: int


def fetch_inputs(ctx: Context) -> SeasonInputs:
    """BTC weekly candles (completed weeks only) and ticker `last`, checked against the ticker's book;
    no data or an untrusted price → DataError, no decision."""
    s = ctx.settings.strategy.season_filter
    coin = s.reference_coin
    try:
        candles = ctx.client.chart(coin, "1w", s.ma_weeks + 3)
    except ExchangeError as exc:
        raise no_decision(f"{coin}/KRW weekly candles", exc) from exc
    ma, used = two_hundred_week_ma(candles, to_ms(ctx.clock.now()), s.ma_weeks, market=f"{coin}/KRW")
    try:
        ticker = ctx.client.ticker(coin)
    except ExchangeError as exc:
        raise no_decision(f"{coin}/KRW ticker", exc) from exc
    quote = quote_of(ctx, ticker)
    if not quote.trusted:  # BTC's `last` alone must never flip the regime
        raise UntrustedPrice(f"no decision: {coin} price not trusted ({quote.problem})")
    price = ticker.last
    return SeasonInputs(price, ma, len(used), used[-1].timestamp)


def decide(ctx: Context, inputs: SeasonInputs, previous: Regime | None) -> SeasonDecision:
    return classify(inputs.price, inputs.ma, ctx.settings.strategy.season_filter.band, previous)


def record(ctx: Context, state: State, decision: SeasonDecision, inputs: SeasonInputs, now: datetime) -> Analysis:
    """Write the decision into the state (regime, since, last analysis) and the ledger."""
    season = state.season
    if decision.changed or decision.first_run or season.since is None:
        season.since = now
    season.regime = decision.regime
    analysis = Analysis(at=now, price=inputs.price, ma=inputs.ma, ratio=decision.ratio, zone=decision.zone.value,
                        regime=decision.regime, changed=decision.changed, previous=decision.previous,
                        weeks=inputs.weeks, upper=decision.upper, lower=decision.lower, reason=decision.reason("en"))
    season.last_analysis = analysis
    state.heartbeat["weekly_analysis"] = now
    ctx.ledger.record_decision(now, "weekly_analysis", encode(analysis))
    log.info("weekly decision: %s (price %s, MA %s, ratio %s, %s band%s)", decision.regime.value, inputs.price,
             inputs.ma, decision.ratio, decision.zone.value,
             f", changed from {decision.previous.value}" if decision.changed and decision.previous else "")
    return analysis
