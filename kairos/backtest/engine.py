"""The backtest engine: the live strategy's pure functions replayed day by day on history, with costs.

Calendar (UTC): every Monday 00:00 is a weekly decision (`signals`); the first day of a run invests the
capital; the first Monday of each quarter month rebalances; a regime flip rebalances the same day when
`rebalance_on_season_change` is on. A rebalance values the account at the day's prices
(`value_portfolio`), plans with `plan_rebalance` (minimum order, drift threshold, fee buffer, sells
first), slices each leg like the live TWAP planner (`plans.build_plan`: ATR% → 12 or 24 slices,
`fit_slices`), and fills each leg at the day's price less its cost (`book`, `kairos.core.costs`).

Coins not listed yet (fewer than `MarketData.min_days` completed daily candles) are left out of the
valuation and their target weight stays in KRW; the next rebalance after they become tradable buys
them. The hold benchmarks have no rebalances: they buy a late coin with its KRW share on its first
tradable day.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Mapping

import numpy as np

from kairos.engine import plans
from kairos.engine.model import Leg
from kairos.backtest.book import Book, Trade, affordable
from kairos.backtest.data import History, day_ms, iso, is_monday, next_monday, to_date
from kairos.backtest.market import MarketData
from kairos.backtest.signals import WeekDecision, completed_weeks, decide, from_day, too_little_history, week_inputs
from kairos.coinone.models import MarketRules
from kairos.core.allocation import QUOTE, Valuation, target_weights, value_portfolio
from kairos.core.costs import CostModel, leg_cost
from kairos.core.rebalance import RebalancePlan, plan_rebalance
from kairos.core.types import OrderIntent, Regime
from kairos.errors import DataError
from kairos.money import ONE, ZERO
from kairos.settings import Settings

QTY_UNIT = Decimal("0.00000001")  # history carries no market rules; Coinone quantities go to 8 decimals
MAX_ORDER_KRW = Decimal("1e15")
MIN_DAYS_IN_RUN = 2


@dataclass(frozen=True)
class Policy:
    """How one portfolio is run: the strategy or a benchmark."""

    key: str  # strategy | btc_hold | static | equal_weight
    weights: Mapping[str, Decimal]  # shares of the crypto part
    season: bool = False  # follow the season filter (else `ratio` always)
    ratio: Decimal = ONE  # crypto share when not following the season
    quarterly: bool = False
    on_flip: bool = False
    hold: bool = False  # buy once; a late coin is bought on its first tradable day


@dataclass
class Run:
    """One portfolio over one period: daily equity at the close, trades, decisions."""

    policy: Policy
    start_day: int
    end_day: int
    capital: Decimal
    equity: np.ndarray
    trades: list[Trade] = field(default_factory=list)
    decisions: list[WeekDecision] = field(default_factory=list)
    risk_on: np.ndarray | None = None  # per day, strategy only
    rebalances: list[tuple[int, str]] = field(default_factory=list)

    @property
    def days(self) -> np.ndarray:
        return np.arange(self.start_day, self.end_day + 1)

    @property
    def flips(self) -> list[WeekDecision]:
        return [d for d in self.decisions if d.decision.changed]


class Backtest:
    """History + settings → runs of the strategy and its benchmarks over any start day."""

    def __init__(self, history: History, settings: Settings, *, capital: Decimal, costs: CostModel,
                 end_day: int | None = None) -> None:
        self.settings, self.capital, self.costs = settings, capital, costs
        s = settings.strategy
        self.weights = dict(s.portfolio.weights)
        self.reference = s.season_filter.reference_coin
        coins = tuple(self.weights) + (() if self.reference in self.weights else (self.reference,))
        last = history.last_day(self.reference)
        if last is None:
            raise DataError(f"no daily candles of {self.reference}/KRW; the season filter cannot run")
        self.end_day = last if end_day is None else min(end_day, last)
        self.market = MarketData(history, coins, atr_period=settings.execution.atr_period, end_day=self.end_day,
                                 atr_candles=settings.execution.atr_candles)
        ref = self.market.series[self.reference]
        market = f"{self.reference}/KRW"
        self.weeks = week_inputs(ref, s.season_filter.ma_weeks, self.end_day, market)
        if not self.weeks:
            raise too_little_history(ref, s.season_filter.ma_weeks, self.end_day, market)
        floor = s.rebalance.min_order_krw
        self.rules = {c: MarketRules(target=c, qty_unit=QTY_UNIT, min_order_krw=floor, max_order_krw=MAX_ORDER_KRW)
                      for c in coins}

    # ---- periods -----------------------------------------------------------------------------------
    @property
    def earliest_start(self) -> int:
        """The first Monday with enough completed weeks for the moving average."""
        return self.weeks[0].day

    def resolve_start(self, wanted: int | None) -> int:
        """The first Monday on or after `wanted` (default: the earliest possible); DataError when impossible."""
        start = self.earliest_start if wanted is None else next_monday(wanted)
        ma_weeks = self.settings.strategy.season_filter.ma_weeks
        if start < self.earliest_start:
            ref = self.market.series[self.reference]
            raise DataError(
                f"--start {iso(wanted)}: the {ma_weeks}-week MA needs {ma_weeks} completed weeks of "
                f"{self.reference}/KRW before the first decision; the data has {completed_weeks(ref, start)} "
                f"before {iso(start)} (daily candles from {iso(int(ref.days[0]))}); "
                f"earliest start: {iso(self.earliest_start)}")
        if start + MIN_DAYS_IN_RUN - 1 > self.end_day:
            raise DataError(f"no data to backtest from {iso(start)}: the data ends on {iso(self.end_day)}")
        return start

    # ---- policies -----------------------------------------------------------------------------------
    def policies(self) -> tuple[Policy, ...]:
        """The strategy, then the three benchmarks."""
        s = self.settings.strategy
        equal = {c: ONE / len(self.weights) for c in self.weights}
        return (
            Policy("strategy", self.weights, season=True, quarterly=True, on_flip=s.rebalance.rebalance_on_season_change),
            Policy("btc_hold", {self.reference: ONE}, hold=True),
            Policy("static", self.weights, ratio=s.season_filter.risk_on_crypto_ratio, quarterly=True),
            Policy("equal_weight", _sum_to_one(equal), hold=True),
        )

    def compare(self, start_day: int) -> dict[str, Run]:
        """Every policy from `start_day` to the end."""
        return {p.key: self.run(p, start_day) for p in self.policies()}

    def decisions(self, start_day: int) -> list[WeekDecision]:
        """The weekly decisions from `start_day` on, the first one with no previous regime (like a first run)."""
        return decide(from_day(self.weeks, start_day), self.settings.strategy.season_filter.band)

    # ---- one run -----------------------------------------------------------------------------------
    def run(self, policy: Policy, start_day: int) -> Run:
        """Replay `policy` from `start_day` (a Monday with a weekly decision) to the end day."""
        book = Book(self.capital)
        decisions = self.decisions(start_day) if policy.season else []
        by_day = {d.day: d for d in decisions}
        waiting = {c for c in policy.weights if policy.hold}
        run = Run(policy, start_day, self.end_day, self.capital, np.empty(0), decisions=decisions)
        snapshots: list[tuple[int, float, list[float]]] = []
        regime: Regime | None = None
        for day in self._event_days(policy, start_day):
            week = by_day.get(day)
            regime = week.decision.regime if week else regime
            reason = self._reason(policy, day, start_day, week)
            trades = []
            if reason and policy.hold and day == start_day:
                trades = self._hold_start(book, day, policy, waiting)
            elif reason:
                trades = self._rebalance(book, day, self._targets(policy, regime), regime, reason)
                run.rebalances.append((day, reason))
            elif policy.hold and waiting:
                trades = self._listing_buys(book, day, policy, waiting)
            if trades or day == start_day:
                snapshots.append((day, float(book.krw), book.quantities(self.market.coins)))
        run.trades = book.trades
        run.equity = self._curve(snapshots, start_day)
        run.risk_on = self._risk_on(decisions, start_day) if policy.season else None
        return run

    def _event_days(self, policy: Policy, start_day: int) -> list[int]:
        days = set(range(start_day, self.end_day + 1, 7))  # start_day is a Monday
        if policy.hold:
            firsts = (self.market.first_tradable(c) for c in policy.weights)
            days |= {d for d in firsts if d is not None and start_day < d <= self.end_day}
        return sorted(days)

    def _reason(self, policy: Policy, day: int, start_day: int, week: WeekDecision | None) -> str | None:
        if day == start_day:
            return "start"
        if policy.on_flip and week is not None and week.decision.changed:
            return "flip"
        if policy.quarterly and self._quarter_day(day):
            return "quarterly"
        return None

    def _quarter_day(self, day: int) -> bool:
        """First Monday of a configured quarter month (00:00 UTC = 09:00 KST, the same date in Korea)."""
        date = to_date(day)
        return is_monday(day) and date.day <= 7 and date.month in self.settings.strategy.rebalance.quarter_months

    def _targets(self, policy: Policy, regime: Regime | None) -> dict[str, Decimal]:
        s = self.settings.strategy.season_filter
        if policy.season:
            return target_weights(regime or Regime.RISK_OFF, policy.weights, s.risk_on_crypto_ratio,
                                  s.risk_off_crypto_ratio)
        return target_weights(Regime.RISK_ON, policy.weights, policy.ratio, policy.ratio)

    # ---- trading -----------------------------------------------------------------------------------
    def _rebalance(self, book: Book, day: int, targets: Mapping[str, Decimal], regime: Regime | None,
                   reason: str) -> list[Trade]:
        """Plan toward `targets` over the tradable coins (the others' weight stays in KRW) and fill."""
        coins = [c for c in targets if c != QUOTE and self.market.tradable(c, day)]
        if not coins:
            return []
        valuation = value_portfolio(book.balances(), {c: self.market.price(c, day) for c in coins}, coins)
        listed = {c: targets[c] for c in coins}
        listed[QUOTE] = ONE - sum(listed.values(), ZERO)
        return self._plan_and_fill(book, day, valuation, listed, regime, reason)

    def _hold_start(self, book: Book, day: int, policy: Policy, waiting: set[str]) -> list[Trade]:
        trades = self._rebalance(book, day, self._targets(policy, None), None, "start")
        waiting.difference_update(c for c in policy.weights if self.market.tradable(c, day))
        return trades

    def _listing_buys(self, book: Book, day: int, policy: Policy, waiting: set[str]) -> list[Trade]:
        """Hold benchmarks: buy each newly tradable coin with its share of the KRW kept for late coins."""
        new = sorted(c for c in waiting if self.market.tradable(c, day))
        if not new:
            return []
        coins = [c for c in policy.weights if self.market.tradable(c, day)]
        valuation = value_portfolio(book.balances(), {c: self.market.price(c, day) for c in coins}, coins)
        kept = sum((policy.weights[c] for c in waiting), ZERO)
        targets = {c: valuation.weight(c) for c in coins if c not in new}
        targets.update({c: valuation.krw_total * policy.weights[c] / kept / valuation.total for c in new})
        targets[QUOTE] = ONE - sum(targets.values(), ZERO)
        waiting.difference_update(new)
        return self._plan_and_fill(book, day, valuation, targets, None, "listing")

    def _plan_and_fill(self, book: Book, day: int, valuation: Valuation, targets: Mapping[str, Decimal],
                       regime: Regime | None, reason: str) -> list[Trade]:
        r = self.settings.strategy.rebalance
        rules = {c: self.rules[c] for c in valuation.coins}
        plan = plan_rebalance(valuation, targets, rules, drift_threshold=r.drift_threshold, fee_buffer=r.fee_buffer)
        if not plan.intents:
            return []
        trades = []
        for intent, leg in zip(plan.intents, self._legs(plan, rules, day, regime)):  # sells come first
            fitted = affordable(intent, book.krw)
            if fitted is not None:
                trades.append(self._fill(book, day, fitted, leg.slices, reason, leg.interval_minutes))
        return trades

    def _legs(self, plan: RebalancePlan, rules: Mapping[str, MarketRules], day: int,
              regime: Regime | None) -> list[Leg]:
        """The live TWAP planner's legs (one per intent, same order): slice counts from ATR%."""
        atr = {i.target: self.market.atr_pct(i.target, day) for i in plan.intents}
        now = datetime.fromtimestamp(day_ms(day) / 1000, tz=timezone.utc)
        return plans.build_legs(plan, dict(rules), atr, self.settings, now)

    def _fill(self, book: Book, day: int, intent: OrderIntent, slices: int, reason: str, interval: int) -> Trade:
        cost = leg_cost(self.costs, intent.est_krw, slices, self.market.sigma(intent.target, day),
                        self.market.adv(intent.target, day), interval_minutes=interval)
        return book.fill(day, intent, cost, reason)

    # ---- curves ------------------------------------------------------------------------------------
    def _curve(self, snapshots: list[tuple[int, float, list[float]]], start_day: int) -> np.ndarray:
        """Daily equity at the close: KRW + Σ qty × close, holdings changing only on trade days."""
        equity = np.empty(self.end_day - start_day + 1)
        stops = [s[0] for s in snapshots[1:]] + [self.end_day + 1]
        for (day, krw, qty), stop in zip(snapshots, stops):
            equity[day - start_day:stop - start_day] = krw + self.market.close_rows(day, stop) @ np.array(qty)
        return equity

    def _risk_on(self, decisions: list[WeekDecision], start_day: int) -> np.ndarray:
        flags = np.zeros(self.end_day - start_day + 1, dtype=bool)
        for week in decisions:
            flags[week.day - start_day:] = week.decision.regime is Regime.RISK_ON
        return flags


def _sum_to_one(weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """Equal weights whose Decimal sum is exactly 1 (the last one takes the rounding)."""
    coins = list(weights)
    out = {c: weights[c] for c in coins[:-1]}
    out[coins[-1]] = ONE - sum(out.values(), ZERO)
    return out
