"""--quarterly-rebalance (immediate) and --quarterly-rebalance-twap, plus the regime-flip rebalance.

Idempotent per calendar quarter (KST): a second run in the same quarter does nothing unless
--force. A TWAP plan already active is refused unless --force, which supersedes it. Orders are
only planned once every earlier order's result is known (reconciled by user_order_id).
"""
from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Literal

from kairos.account_guard import check_installation
from kairos.coinone.models import MarketRules
from kairos.commands import plan_view, season
from kairos.commands.common import (
    MarketView, locked_or_fail, current_regime, market_rules, quarter_id, read_market, snapshot_and_check,
    targets_for,
)
from kairos.context import Context
from kairos.core.allocation import crypto_ratio
from kairos.core.calendar import catch_up_due, quarter_due
from kairos.core.rebalance import RebalancePlan, plan_rebalance
from kairos.core.season import SeasonDecision
from kairos.core.types import OrderIntent, Regime, Side
from kairos.engine import plans as P
from kairos.engine.executor import Executor, Slice
from kairos.engine.model import OrderRecord, PendingRebalance, RebalanceMark, State, TwapPlan
from kairos.engine.plans import order_word
from kairos.engine import lifecycle
from kairos.engine.tick import Tick
from kairos.errors import KairosError
from kairos.money import ZERO, fmt_krw, fmt_qty, round_down
from kairos import signals
from kairos.notify.texts import A, side_word
from kairos.state import StateSession

log = logging.getLogger("kairos.rebalance")


class Interrupted(KairosError):
    """SIGTERM arrived between two immediate orders."""

    exit_code = signals.EXIT_TERMINATED


class Unresolved(KairosError):
    """Earlier orders have an unknown result: a rebalance now could trade twice (exit 1, one line, alert)."""


M = {
    "done": ("이번 분기({q}) 리밸런싱은 이미 {at}에 실행되었습니다. 다시 하려면 --force.",
             "This quarter's ({q}) rebalance already ran at {at}. Use --force to run it again."),
    "active": ("활성 TWAP 계획 {plan}이(가) 진행 중이라 새 리밸런싱을 하지 않습니다. 대체하려면 --force.",
               "TWAP plan {plan} is still active; no new rebalance. Use --force to supersede it."),
    "first_regime": ("기록된 시장 국면이 없어 지금 판단합니다: {regime} — {reason}",
                     "No regime recorded yet; deciding now: {regime} — {reason}"),
    "dry": ("[드라이런] 주문을 보내지 않았고 상태 파일과 장부도 바꾸지 않았습니다.",
            "[dry run] No order sent; state file and ledger untouched."),
    "order": ("  • {coin} {side}: {size} → {status}, 체결 {qty} {coin} (평균 {avg} KRW, 수수료 {fee} KRW)",
              "  • {coin} {side}: {size} → {status}, filled {qty} {coin} (avg {avg} KRW, fee {fee} KRW)"),
    "skip_buy": ("  • {coin} 매수 건너뜀: 매도 후 KRW가 부족해 최소 주문 미만", "  • {coin} BUY skipped: below the minimum after the KRW cap"),
    "finished": ("리밸런싱 완료: 주문 {n}건.", "Rebalance finished: {n} order(s)."),
    "deferred": ("국면 전환 리밸런싱은 미확인 주문이 정리된 뒤 다음 --process-twap에서 시작됩니다.",
                 "The regime-change rebalance starts on the next --process-twap, once unknown orders are resolved."),
    "buy": ("매수", "BUY"), "sell": ("매도", "SELL"),
    "late": ("⏰ 이번 분기({q}) 리밸런싱이 예정 시각({due})에 실행되지 않아 지금 늦게 시작합니다.",
             "⏰ This quarter's ({q}) rebalance was due {due} and has not run: starting it now, late."),
    "untrusted": ("  • {coin}: 가격을 믿을 수 없어 주문하지 않음 — {why}", "  • {coin}: price not trusted, no order — {why}"),
}


def run_immediate(ctx: Context) -> int:
    return quarterly(ctx, use_twap=False)


def run_twap(ctx: Context) -> int:
    return quarterly(ctx, use_twap=True)


def quarterly(ctx: Context, *, use_twap: bool) -> int:
    now = ctx.clock.now()
    if ctx.dry_run:
        return dry_run(ctx, use_twap, now)
    force = bool(getattr(ctx.args, "force", False))
    with locked_or_fail(ctx, "--quarterly-rebalance" + ("-twap" if use_twap else "")) as session:
        return rebalance_in(ctx, session, use_twap=use_twap, force=force, now=now)


def run_tick(ctx: Context, session: StateSession, run_id: str | None = None) -> int:
    """One engine tick; a deferred regime-change rebalance it finds ready is started, then a second tick runs
    (a loop of at most two ticks, never a recursion)."""
    tick = Tick(ctx, session, run_id)
    code = tick.run()
    pending = session.data.pending_rebalance
    if tick.outcome != "pending_rebalance" or pending is None:
        return code
    started = start_season_twap(ctx, session, pending.regime, tick.now, run_id=tick.run_id)
    if started is None:
        return 0
    return Tick(ctx, session, tick.run_id).run()


def rebalance_in(ctx: Context, session: StateSession, *, use_twap: bool, force: bool, now: datetime) -> int:
    """The quarterly rebalance inside a run that holds the lock."""
    st = session.data
    quarter = quarter_id(now)
    if refused(ctx, st, quarter, force):
        return 0
    active = st.active_plans()
    executor = Executor(ctx, session, ctx.ledger, kind="twap" if use_twap else "immediate")
    if not lifecycle.reconcile_all(ctx, executor, st, now):
        raise Unresolved("earlier orders still have an unknown result (see above); no rebalance until a later "
                         "run has reconciled them")
    # inputs first: every price, rule and candle is read and checked before the state changes, so a
    # failing ticker or chart leaves a running plan exactly as it was (even with --force)
    first = first_decision(ctx, st)
    regime = first[0].regime if first else current_regime(st)
    assert regime is not None
    inputs = gather(ctx, regime, use_twap, now)
    if first:
        record_first_regime(ctx, st, first, now)
    if sum(lifecycle.supersede(ctx, executor, plan, now) for plan in active):
        inputs = gather(ctx, regime, use_twap, now)  # cancelled orders freed balances: plan from what is held now
    session.save()
    view, rules, plan, atr = inputs
    plan_view.print_plan(ctx.out, plan, regime.value, ratio(ctx, regime), view.valuation.outside)
    st.rebalance = RebalanceMark(last_quarter=quarter, at=now, kind="twap" if use_twap else "immediate",
                                 completed=use_twap)
    if use_twap:
        started = start_twap(ctx, session, plan, rules, regime, kind="quarterly", now=now, atr=atr)
        return run_tick(ctx, session) if started is not None else 0
    return execute_now(ctx, session, executor, plan, rules, view, now)


Inputs = tuple[MarketView, dict[str, MarketRules], RebalancePlan, dict[str, Decimal]]


def catch_up(ctx: Context, session: StateSession, now: datetime) -> int | None:
    """Start this quarter's rebalance (TWAP) when it was due an hour ago and has not run; None: nothing to do.

    Called by --weekly-analysis and --process-twap: the quarterly cron line has one chance per quarter,
    and a lock held too long, a server that was off or a failed run must not lose the quarter silently.
    """
    st = session.data
    if not ctx.settings.strategy.rebalance.catch_up or st.active_plans() or st.pending_rebalance is not None:
        return None
    if current_regime(st) is None or st.unresolved() or any(r.pending for r in st.orders.values()):
        return None  # no regime yet (the weekly analysis decides it), or results to reconcile first
    last = st.rebalance
    done = last.last_quarter if last.completed else None
    created = st.installation.created_at if st.installation is not None else None
    months = ctx.settings.strategy.rebalance.quarter_months
    if not catch_up_due(now, done, quarter_id(now), created, months):
        return None
    due = plan_view.kst(quarter_due(now, months)) + " KST"
    log.warning("quarterly rebalance of %s (due %s) has not run: starting it late", quarter_id(now), due)
    ctx.out.say(ctx.out.t(M["late"], q=quarter_id(now), due=due))
    ctx.alerts.send("quarterly_rebalance", ctx.out.t(A["late_quarter_title"], q=quarter_id(now)),
                    [ctx.out.t(A["late_quarter_line"], due=due)],
                    dedupe_key=f"catch_up:{quarter_id(now)}")
    return rebalance_in(ctx, session, use_twap=True, force=False, now=now)


def gather(ctx: Context, regime: Regime, use_twap: bool, now: datetime) -> Inputs:
    """Everything a rebalance decides from — prices (checked), rules, the plan, each coin's ATR — or an error."""
    view, rules, plan = make_plan(ctx, regime)
    atr = lifecycle.atr_percentages(ctx, plan, now) if use_twap and plan.has_orders else {}
    return view, rules, plan, atr


def refused(ctx: Context, st: State, quarter: str, force: bool) -> bool:
    """Say why no rebalance runs now (done this quarter, or a plan still active); False when it may run."""
    if force:
        return False
    last = st.rebalance
    if last.last_quarter == quarter and last.completed:
        at = plan_view.kst(last.at) + " KST" if last.at else "?"
        ctx.out.say(ctx.out.t(M["done"], q=quarter, at=at))
        return True
    active = st.active_plans()
    if active:
        ctx.out.say(ctx.out.t(M["active"], plan=active[0].plan_id))
        return True
    return False


def ratio(ctx: Context, regime: Regime) -> Decimal:
    s = ctx.settings.strategy.season_filter
    return crypto_ratio(regime, s.risk_on_crypto_ratio, s.risk_off_crypto_ratio)


def first_decision(ctx: Context, st: State) -> tuple[SeasonDecision, season.SeasonInputs] | None:
    """(decision, inputs) when no regime is recorded yet — read and decided, not recorded; else None."""
    if current_regime(st) is not None:
        return None
    inputs = season.fetch_inputs(ctx)
    return season.decide(ctx, inputs, None), inputs


def record_first_regime(ctx: Context, st: State, first: tuple[SeasonDecision, season.SeasonInputs],
                        now: datetime) -> None:
    decision, inputs = first
    season.record(ctx, st, decision, inputs, now)
    ctx.out.say(ctx.out.t(M["first_regime"], regime=plan_view.regime_name(ctx.out, decision.regime.value),
                          reason=decision.reason(ctx.lang)))


def make_plan(ctx: Context, regime: Regime) -> tuple[MarketView, dict[str, MarketRules], RebalancePlan]:
    universe = ctx.settings.universe
    view = read_market(ctx)
    view.require_trusted("no rebalance plan")  # a plan made from one bad quote would move the whole portfolio
    rules = market_rules(ctx, universe)
    r = ctx.settings.strategy.rebalance
    plan = plan_rebalance(view.valuation, targets_for(ctx, regime), rules, drift_threshold=r.drift_threshold,
                          fee_buffer=r.fee_buffer)
    return view, rules, plan


def dry_run(ctx: Context, use_twap: bool, now: datetime) -> int:
    """Same decision and plan, printed; nothing sent, nothing written."""
    st = ctx.state.read()
    if refused(ctx, st, quarter_id(now), bool(getattr(ctx.args, "force", False))):
        ctx.out.say(ctx.out.t(M["dry"]))
        return 0
    regime = current_regime(st)
    if regime is None:
        inputs = season.fetch_inputs(ctx)
        decision = season.decide(ctx, inputs, None)
        regime = decision.regime
        ctx.out.say(ctx.out.t(M["first_regime"], regime=plan_view.regime_name(ctx.out, regime.value),
                              reason=decision.reason(ctx.lang)))
    view, rules, plan = make_plan(ctx, regime)
    plan_view.print_plan(ctx.out, plan, regime.value, ratio(ctx, regime), view.valuation.outside)
    if use_twap and plan.has_orders:
        preview = P.build_plan("dry-run", plan=plan, rules=rules, atr=lifecycle.atr_percentages(ctx, plan, now),
                               settings=ctx.settings, now=now, regime=regime, kind="quarterly",
                               arrival={c: view.tickers[c].mid for c in view.tickers if c in rules})
        plan_view.print_twap_plan(ctx.out, preview, with_slots=True)
    ctx.out.say(ctx.out.t(M["dry"]))
    ctx.out.emit({"regime": regime.value, "total_krw": plan.total,
                  "rows": [row.__dict__ for row in plan.rows], "intents": [i.__dict__ for i in plan.intents]})
    return 0


# ---- reconciliation and superseding -----------------------------------------------------------------
# ---- TWAP -------------------------------------------------------------------------------------------------
def start_twap(ctx: Context, session: StateSession, plan: RebalancePlan, rules: dict[str, MarketRules],
               regime: Regime, *, kind: Literal["quarterly", "season_change"], now: datetime,
               atr: dict[str, Decimal] | None = None) -> TwapPlan | None:
    """Start a TWAP plan (saved and announced by the engine) and print its schedule; None: no orders.
    The caller runs the first tick."""
    started = lifecycle.start_plan(ctx, session, plan, rules, regime, kind=kind, now=now, atr=atr)
    if started is not None:
        plan_view.print_twap_plan(ctx.out, started, with_slots=False)
    return started


def start_season_twap(ctx: Context, session: StateSession, regime: Regime, now: datetime,
                      run_id: str | None = None) -> TwapPlan | None:
    """A regime flip: supersede running plans and save a TWAP plan from actual holdings (the caller ticks).

    None when nothing was started: unknown orders first (deferred to a later tick), or nothing to trade."""
    st = session.data
    executor = Executor(ctx, session, ctx.ledger, kind="twap")
    if not lifecycle.reconcile_all(ctx, executor, st, now, run_id):
        st.pending_rebalance = PendingRebalance(kind="season_change", regime=regime, since=now)
        session.save()
        ctx.out.say(ctx.out.t(M["deferred"]))
        return None
    inputs = gather(ctx, regime, True, now)  # inputs first: a failing read leaves the running plan as it was
    st.pending_rebalance = None
    if sum(lifecycle.supersede(ctx, executor, plan, now) for plan in st.active_plans()):
        inputs = gather(ctx, regime, True, now)
    view, rules, plan, atr = inputs
    plan_view.print_plan(ctx.out, plan, regime.value, ratio(ctx, regime), view.valuation.outside)
    if now >= quarter_due(now, ctx.settings.strategy.rebalance.quarter_months):
        # a full rebalance after the quarter's due time is that quarter's rebalance: no second one to catch up
        st.rebalance = RebalanceMark(last_quarter=quarter_id(now), at=now, kind="season_change", completed=True)
    return start_twap(ctx, session, plan, rules, regime, kind="season_change", now=now, atr=atr)


# ---- immediate -----------------------------------------------------------------------------------------
def execute_now(ctx: Context, session: StateSession, executor: Executor, plan: RebalancePlan,
                rules: dict[str, MarketRules], view: MarketView, now: datetime) -> int:
    """Sells, then buys capped by the KRW really available; every order durable and reconciled."""
    st = session.data
    plan_id = st.next_plan_id("im", now)
    st.rebalance.plan_id = plan_id
    session.save()
    ctx.ledger.record_decision(now, "rebalance_plan", {"plan_id": plan_id, "total": plan.total,
                                                       "intents": [i.__dict__ for i in plan.intents]})
    check_installation(ctx, st, now, [i.target for i in plan.intents])  # one installation per account (exit 4)
    sent = [submit(ctx, executor, st, plan_id, intent, intent.qty or ZERO, view, rules) for intent in plan.sells]
    if plan.buys:
        krw = ctx.client.balances().get("KRW")
        budget = (krw.available if krw else ZERO) * (1 - ctx.settings.strategy.rebalance.fee_buffer)
        wanted = sum((i.amount_krw or ZERO for i in plan.buys), ZERO)
        scale = min(Decimal(1), budget / wanted) if wanted > 0 else ZERO
        fresh = read_market(ctx)
        for intent in plan.buys:
            amount = round_down((intent.amount_krw or ZERO) * scale, Decimal(1))
            if amount < rules[intent.target].min_order_krw:
                ctx.out.say(ctx.out.t(M["skip_buy"], coin=intent.target))
                continue
            sent.append(submit(ctx, executor, st, plan_id, intent, amount, fresh, rules))
    lifecycle.forget_resolved(st, now)
    placed = [r for r in sent if r is not None]
    st.rebalance.completed = True
    session.save()
    ctx.out.say(ctx.out.t(M["finished"], n=len(placed)))
    snapshot_and_check(ctx, read_market(ctx), current_regime(st), plan_active=False)
    t = ctx.out.t
    lines = [t(A["rebalance_done_line"], coin=r.target, side=side_word(t, r.side), status=order_word(t, r.status, r.exchange_status),
               qty=r.executed_qty, avg=fmt_krw(r.avg_price)) for r in placed]
    ctx.alerts.send("quarterly_rebalance", t(A["rebalance_done_title"], plan=plan_id, n=len(placed)), lines,
                    dedupe_key=f"rebalance:{plan_id}")
    return 0


def submit(ctx: Context, executor: Executor, st: State, plan_id: str, intent: OrderIntent, size: Decimal,
           view: MarketView, rules: dict[str, MarketRules]) -> OrderRecord | None:
    """Place one immediate order (MARKET + limit_price guard) through the durable executor; None: skipped."""
    if signals.stop_requested():
        raise Interrupted("SIGTERM received: stopped before the next order; the next run re-plans from holdings")
    coin, is_buy = intent.target, intent.side is Side.BUY
    quote = view.quotes.get(coin)
    if quote is not None and not quote.trusted:  # checked again just before the buys: that coin gets no order
        ctx.out.say(ctx.out.t(M["untrusted"], coin=coin, why=quote.problem))
        ctx.alerts.send("twap_stalled", ctx.out.t(A["untrusted_title"], coin=coin), [quote.problem or ""],
                        dedupe_key=f"untrusted:{coin}")
        return None
    ticker = view.tickers[coin]
    order = Slice(plan_id=plan_id, target=coin, side=intent.side, size=size, bid=ticker.bid, ask=ticker.ask,
                  mid=ticker.mid, ticks=rules[coin].ticks, needed_krw=intent.amount_krw if is_buy else intent.est_krw)
    record = executor.place_guarded(order, lambda r: st.orders.__setitem__(r.uoid, r))
    shown = f"{fmt_krw(size)} KRW" if is_buy else f"{fmt_qty(size)} {coin}"
    ctx.out.say(ctx.out.t(M["order"], coin=coin, side=ctx.out.t(M["buy"] if is_buy else M["sell"]), size=shown,
                          status=record.exchange_status or record.status.value, qty=fmt_qty(record.executed_qty),
                          avg=fmt_krw(record.avg_price), fee=fmt_krw(record.fee)))
    return record
