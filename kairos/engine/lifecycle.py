"""A plan's life outside the tick: reconcile every earlier order first, supersede a running plan, start a new one.

Closing, archiving and pruning happen in the tick (`kairos.engine.tick`); the commands decide *when* (the
quarterly rebalance, a regime flip, a late quarter) and print. Nothing here runs a tick.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from kairos.clock import to_ms
from kairos.coinone.models import MarketRules
from kairos.commands.common import read_market
from kairos.commands.plan_view import regime_name
from kairos.core.rebalance import RebalancePlan
from kairos.core.types import Regime
from kairos.engine import plans as P
from kairos.engine.executor import Executor
from kairos.engine.model import LegStatus, OrderRecord, OrderStatus, PlanStatus, State, TwapPlan
from kairos.errors import DataError, ExchangeError
from kairos.money import fmt_krw, fmt_qty

if TYPE_CHECKING:
    from kairos.context import Context
    from kairos.state import StateSession

log = logging.getLogger("kairos.rebalance")

DAY_MS = 86_400_000

M = {
    "pending": ("이전 주문 {n}건의 결과를 아직 확인하지 못했습니다. 다음 실행에서 다시 확인합니다.",
                "{n} earlier order(s) still have an unknown result; they are checked again on the next run."),
    "superseded": ("TWAP 계획 {plan}을(를) 대체(superseded)했습니다.", "TWAP plan {plan} superseded."),
    "buy": ("매수", "BUY"), "sell": ("매도", "SELL"),
    "start_title": ("TWAP {plan} 시작 ({kind}, {regime})", "TWAP {plan} started ({kind}, {regime})"),
    "start_line": ("{coin} {side} {size}: {n}회 × {minutes}분, ATR {atr}%", "{coin} {side} {size} in {n} × {minutes} min, ATR {atr}%"),
    "kind_quarterly": ("분기 리밸런싱", "quarterly rebalance"), "kind_season_change": ("국면 전환", "regime change"),
}


def reconcile_all(ctx: "Context", executor: Executor, st: State, now: datetime, run_id: str | None = None) -> bool:
    """Resolve every unknown order first; False (with a message) if some are still unknown.

    `run_id` is the calling run's id when it has already reconciled (a --process-twap tick), so a
    "not found" is counted once per run, never twice.
    """
    run_id = run_id or f"{now.strftime('%Y%m%d%H%M%S')}-rebalance"
    for record in list(st.orders.values()):
        executor.reconcile(record, run_id)
    for _plan, _leg, order in st.unresolved():
        executor.reconcile(order, run_id)
    executor.watch_lost()
    forget_resolved(st, now)
    unknown = [r for r in st.orders.values() if r.unresolved] + [o for _p, _l, o in st.unresolved() if o.unresolved]
    if unknown:
        ctx.out.say(ctx.out.t(M["pending"], n=len(unknown)))
        return False
    return True


def forget_resolved(st: State, now: datetime | None = None) -> None:
    """Immediate-order records leave the state once resolved (the ledger keeps them); lost ones stay watched
    for a day after their intent (see State.lost)."""
    def keep(r: OrderRecord) -> bool:
        if r.status is OrderStatus.LOST:
            return now is None or now <= r.created_at + timedelta(days=2)
        return r.pending
    st.orders = {k: r for k, r in st.orders.items() if keep(r)}


def supersede(ctx: "Context", executor: Executor, plan: TwapPlan, now: datetime) -> int:
    """Mark a running plan superseded: cancel its open orders, archive it, say so; the number cancelled."""
    cancelled = executor.cancel_open(plan)
    for leg in plan.legs:
        if leg.active:
            leg.status = LegStatus.SUPERSEDED
    plan.status, plan.closed_at = PlanStatus.SUPERSEDED, now
    plan.summary = plan.outcome()
    ctx.ledger.archive_plan(now, plan)  # before the save: a run killed in between supersedes it again next time
    executor.session.save()
    ctx.out.say(ctx.out.t(M["superseded"], plan=plan.plan_id))
    return cancelled


def atr_percentages(ctx: "Context", plan: RebalancePlan, now: datetime) -> dict[str, Decimal]:
    """Each traded coin's Wilder ATR % over its last `execution.atr_candles` completed daily candles."""
    from kairos.core.indicators import atr_percent_over

    ex = ctx.settings.execution
    result = {}
    for intent in plan.intents:
        try:
            candles = ctx.client.chart(intent.target, "1d", ex.atr_candles + 2)
        except ExchangeError as exc:
            raise DataError(f"no TWAP plan: {intent.target} daily candles unavailable ({exc})") from exc
        done = [c for c in candles if c.timestamp + DAY_MS <= to_ms(now)]
        if len(done) < ex.atr_candles:
            log.warning("%s: %d completed daily candles, fewer than execution.atr_candles (%d); ATR over all of them",
                        intent.target, len(done), ex.atr_candles)
        if len(done) < ex.atr_period + 1:
            raise DataError(f"no TWAP plan: {intent.target} has {len(done)} completed daily candles, "
                            f"ATR({ex.atr_period}) needs {ex.atr_period + 1}")
        result[intent.target] = atr_percent_over(done, ex.atr_period, ex.atr_candles)
    return result


def start_plan(ctx: "Context", session: "StateSession", plan: RebalancePlan, rules: dict[str, MarketRules],
               regime: Regime, *, kind: Literal["quarterly", "season_change"], now: datetime,
               atr: dict[str, Decimal] | None = None) -> TwapPlan | None:
    """Save a new TWAP plan from a rebalance plan, record and announce it (no tick, no printing); None: no orders."""
    st = session.data
    if not plan.has_orders:
        session.save()
        return None
    view = read_market(ctx)
    plan_id = st.next_plan_id("tw", now)
    twap_plan = P.build_plan(plan_id, plan=plan, rules=rules, atr=atr or atr_percentages(ctx, plan, now),
                             settings=ctx.settings, now=now, regime=regime, kind=kind,
                             arrival={c: view.tickers[c].mid for c in rules})
    st.plans.append(twap_plan)
    st.rebalance.plan_id = plan_id
    session.save()
    ctx.ledger.record_decision(now, "twap_plan", {"plan_id": plan_id, "kind": kind, "regime": regime.value,
                                                  "legs": [{"target": l.target, "side": l.side.value, "unit": l.unit,
                                                            "total": str(l.total), "slices": l.slices,
                                                            "interval_minutes": l.interval_minutes,
                                                            "atr_pct": str(l.atr_pct)} for l in twap_plan.legs]})
    log.info("TWAP plan %s started (%s, %s): %s", plan_id, kind, regime.value,
             "; ".join(f"{l.target} {l.side} {l.total} {l.unit} in {l.slices}×{l.interval_minutes} min"
                       for l in twap_plan.legs))
    alert_type = "immediate_rebalance" if kind == "season_change" else "twap_start"
    t = ctx.out.t
    lines = [t(M["start_line"], coin=l.target, side=t(M["buy"] if l.is_buy else M["sell"]),
               size=f"{fmt_krw(l.total)} KRW" if l.unit == "krw" else f"{fmt_qty(l.total)} {l.target}",
               n=l.slices, minutes=l.interval_minutes, atr=f"{l.atr_pct * 100:.2f}")
             for l in twap_plan.legs]
    kind_word = t(M["kind_" + kind]) if "kind_" + kind in M else kind
    ctx.alerts.send(alert_type, t(M["start_title"], plan=plan_id, kind=kind_word,
                                  regime=regime_name(ctx.out, regime.value)),
                    lines, dedupe_key=f"twap_start:{plan_id}")
    return twap_plan
