"""One --process-twap run over the state held under the lock: the engine's tick.

Order of work: reconcile every order whose result is unknown → watch lost orders → cancel stale open
ones → (kill switch: stop here) → a deferred regime-change rebalance is reported back to the caller,
which starts it and runs a second tick → read tickers and balances once → sells, then buys, one order
per leg per tick → close plans that are done or past their end + grace → save, snapshot.

The tick never starts a rebalance itself, so there is no rebalance → tick → rebalance recursion.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from kairos import signals
from kairos.account_guard import check_installation, stale_open_records
from kairos.commands.common import MarketView, current_regime, read_market, snapshot_and_check
from kairos.core import twap
from kairos.core.types import Side
from kairos.engine import plans as P
from kairos.engine.executor import Executor, RailRefused, Slice
from kairos.engine.model import Leg, LegStatus, OrderRecord, OrderStatus, PlanStatus, TwapPlan, Waiting
from kairos.money import ZERO, fmt_krw, fmt_qty
from kairos.notify.texts import A, side_word

if TYPE_CHECKING:
    from kairos.context import Context
    from kairos.state import StateSession

log = logging.getLogger("kairos.twap")

M = {
    "kill": ("⛔ 거래 중지 상태({why}): 새 주문 없이 미확인 주문 대조만 했습니다.",
             "⛔ Trading stopped ({why}): reconciled unknown orders only, no new order."),
    "sent": ("  • {coin} {side} 슬라이스 {slot}/{slices}: {size} → 체결 {filled} (평균 {avg} KRW, 비용 {bps}bps) [{status}]",
             "  • {coin} {side} slice {slot}/{slices}: {size} → filled {filled} (avg {avg} KRW, cost {bps} bps) [{status}]"),
    "waiting": ("  • {coin} {side}: 대기 — {why}", "  • {coin} {side}: waiting — {why}"),
    "closed": ("TWAP {plan} 종료: {status}", "TWAP {plan} closed: {status}"),
    "idle": ("활성 TWAP 계획이 없습니다.", "No active TWAP plan."),
    "plan": ("TWAP {plan}: 진행률 {pct}", "TWAP {plan}: {pct} done"),
    "nothing": ("  (지금 실행할 슬라이스 없음)", "  (no slice due now)"),
    "untrusted": ("가격을 믿을 수 없음: {why}", "price not trusted: {why}"),
    "no_krw": ("KRW 부족 (사용 가능 {avail} KRW)", "not enough KRW ({avail} KRW available)"),
    "no_coin": ("{coin} 부족 (사용 가능 {avail})", "not enough {coin} ({avail} available)"),
}

Outcome = Literal["idle", "ran", "stopped", "pending_rebalance"]


@dataclass
class Wallet:
    """Balances as they change within one tick (so buys see the KRW that sells just freed)."""

    krw: Decimal
    coins: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def from_view(cls, view: MarketView) -> "Wallet":
        krw = view.balances.get("KRW")
        return cls(krw.available if krw else ZERO, {c: b.available for c, b in view.balances.items() if c != "KRW"})

    def apply(self, record: OrderRecord) -> None:
        coin = record.target
        if record.side is Side.BUY:
            self.krw -= record.executed_krw + record.fee
            self.coins[coin] = self.coins.get(coin, ZERO) + record.executed_qty
        else:
            self.coins[coin] = self.coins.get(coin, ZERO) - record.executed_qty
            self.krw += record.executed_krw - record.fee


class Tick:
    """One run of the engine over the state held under the lock."""

    def __init__(self, ctx: "Context", session: "StateSession", run_id: str | None = None) -> None:
        self.ctx, self.session, self.state = ctx, session, session.data
        self.now: datetime = ctx.clock.now()
        self.run_id = run_id or f"{self.now.strftime('%Y%m%d%H%M%S')}-{os.getpid()}"
        self.out = ctx.out
        self.lines: list[str] = []
        self.outcome: Outcome = "ran"
        self.plans: list[TwapPlan] = []  # the active plans this tick worked on (for the report)
        self._executor: Executor | None = None
        self._installation_checked = False
        self.live: list[TwapPlan] = []

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = Executor(self.ctx, self.session, self.ctx.ledger, kind="twap")
        return self._executor

    @property
    def grace_minutes(self) -> int:
        return self.ctx.settings.execution.expiry_grace_minutes

    def run(self) -> int:
        """The exit code; `outcome` says whether it was idle, stopped, or found a deferred rebalance due."""
        st = self.state
        st.heartbeat["process_twap"] = self.now
        pending = st.unresolved()
        immediate = [r for r in st.orders.values() if r.pending]
        active = st.active_plans()
        grace = timedelta(minutes=self.grace_minutes)
        watched = [r for _p, r, until in st.lost() if self.now <= until + grace]
        if not (pending or immediate or active or watched or st.pending_rebalance):
            self.session.save(backup=bool(self.prune()))  # heartbeat only (and old finished plans out)
            self.outcome = "idle"
            self.report()
            return 0
        for _plan, _leg, order in pending:
            self.executor.reconcile(order, self.run_id)
        for record in immediate:
            self.executor.reconcile(record, self.run_id)
        if watched:
            self.executor.watch_lost()
        self.close_stale_open()
        why = self.ctx.kill_switch
        if why:
            return self.stopped(why)
        st.notices.pop("kill_switch", None)
        if st.pending_rebalance is not None:
            self.outcome = "pending_rebalance"  # the caller starts it (reconciled above) and ticks again
            return 0
        view = read_market(self.ctx)
        wallet = Wallet.from_view(view)
        self.live = [p for p in active if self.now <= p.expiry(self.grace_minutes) and p.paused_at is None]
        for side in (Side.SELL, Side.BUY):  # past end + grace, or paused by the operator: never trade
            for plan in self.live:
                for leg in (l for l in plan.legs if l.side is side and l.active):
                    if signals.stop_requested():
                        break  # SIGTERM: the order in flight finished; nothing new is sent
                    self.advance(plan, leg, view, wallet)
        for plan in active:
            self.close_if_finished(plan)
        self.prune()
        self.session.save()
        self.plans = active
        self.report()
        if signals.stop_requested():
            return signals.EXIT_TERMINATED
        self.snapshot()
        return 0

    def one_installation(self) -> None:
        """Read the account's orders once per tick, and only when an order is about to go out (exit 4 on
        another installation's order on the markets these plans trade)."""
        if self._installation_checked:
            return
        since = min(p.start_at for p in self.live)
        check_installation(self.ctx, self.state, since, {l.target for p in self.live for l in p.legs})
        self._installation_checked = True

    def stopped(self, why: str) -> int:
        """Kill switch: reconciliation already ran; no new order; one alert per kill episode."""
        if "kill_switch" not in self.state.notices:
            self.state.notices["kill_switch"] = self.now
            self.ctx.alerts.send("critical_risk", self.out.t(A["kill_title"]), [why], action=self.out.t(A["kill_action"]),
                                 dedupe_key=f"kill_switch:{why}")
        self.session.save()
        self.outcome = "stopped"
        self.out.say(self.out.t(M["kill"], why=why))
        return 4

    # ---- one leg -------------------------------------------------------------------------------
    def advance(self, plan: TwapPlan, leg: Leg, view: MarketView, wallet: Wallet) -> None:
        if leg.unresolved():
            return  # never send while an earlier order's result is unknown
        leg.consume_slots()  # a run that died before recording it still used the slot
        coin = leg.target
        quote = view.quotes.get(coin)
        if quote is not None and not quote.trusted:  # one bad quote: no slice this run, and the leg never closes on it
            return self.wait(plan, leg, "untrusted_price", self.out.t(M["untrusted"], why=quote.problem))
        ticker = view.tickers[coin]
        min_size = leg.min_size(ticker.bid, ticker.ask)
        decision = slice_now(self.ctx, plan, leg, min_size, self.now)
        if decision.done:
            leg.status, leg.waiting = LegStatus.DONE, None
            return
        if decision.size <= 0:
            return
        rebalance = self.ctx.settings.strategy.rebalance
        available = wallet.krw * (1 - rebalance.fee_buffer) if leg.is_buy else wallet.coins.get(coin, ZERO)
        size, short = twap.fit_to_available(decision.size, available, leg.step(), min_size)
        if short:
            why = (self.out.t(M["no_krw"], avail=fmt_krw(wallet.krw)) if leg.is_buy
                   else self.out.t(M["no_coin"], coin=coin, avail=fmt_qty(available)))
            return self.wait(plan, leg, "insufficient_krw" if leg.is_buy else "insufficient_coin", why)
        slot = leg.slots_used
        order = Slice(plan_id=plan.plan_id, target=coin, side=leg.side, size=size, bid=ticker.bid, ask=ticker.ask,
                      mid=ticker.mid, ticks=leg.tick_table(), slot=slot, attempt=leg.next_attempt(slot),
                      slots_to=decision.slots_to, needed_krw=leg.remaining() * (1 if leg.is_buy else ticker.bid))
        # the hard ceiling, in exchange terms: all of the leg's records (late-adopted ones included) + this order
        Executor.check_ceiling(f"TWAP {plan.plan_id} {coin} {leg.side}", leg.total, leg.filled(), size,
                               leg.min_order_krw if leg.is_buy else leg.qty_unit)
        try:
            record = self.executor.place_guarded(order, leg.orders.append, before_intent=self.one_installation)
        except RailRefused as exc:
            return self.wait(plan, leg, "safety", str(exc), alert_type="critical_risk")
        self.after_submit(plan, leg, record, decision.slots_to, wallet)

    def after_submit(self, plan: TwapPlan, leg: Leg, record: OrderRecord, slots_to: int, wallet: Wallet) -> None:
        if record.status is OrderStatus.REJECTED:
            if record.insufficient:
                return self.wait(plan, leg, "insufficient", record.error or "")
            if not record.temporary:
                leg.rejections += 1
                if leg.rejections >= 3:
                    leg.status = LegStatus.FAILED
                    self.ctx.alerts.send("system_error", self.out.t(A["leg_failed_title"], plan=plan.plan_id,
                                                                    coin=leg.target),
                                         [record.error or ""], action=self.out.t(A["leg_failed_action"]))
            self.session.save()
            return
        self.clear_wait(plan, leg)  # an order went out: the wait (and its one alert) is over
        leg.slots_used = slots_to
        if record.status is OrderStatus.DONE:
            wallet.apply(record)
        self.session.save()
        self.lines.append(self.describe(leg, record))

    def wait(self, plan: TwapPlan, leg: Leg, code: str, why: str, alert_type: str = "twap_stalled") -> None:
        """Mark a leg as waiting; alert once per waiting episode (not every 15 minutes)."""
        leg.waiting = Waiting(code=code, why=why, since=leg.waiting.since if leg.waiting else self.now)
        key = f"wait:{plan.plan_id}:{leg.target}:{code}"
        if key not in self.state.notices:
            self.state.notices[key] = self.now
            self.ctx.alerts.send(alert_type, self.out.t(A["waiting_title"], plan=plan.plan_id, coin=leg.target,
                                                        side=self.side(leg)), [why],
                                 action=self.out.t(A["waiting_action"]), dedupe_key=key)
        self.lines.append(self.out.t(M["waiting"], coin=leg.target, side=self.side(leg), why=why))

    def clear_wait(self, plan: TwapPlan, leg: Leg) -> None:
        leg.waiting = None
        prefix = f"wait:{plan.plan_id}:{leg.target}:"
        for key in [k for k in self.state.notices if k.startswith(prefix)]:
            del self.state.notices[key]

    # ---- plan lifecycle --------------------------------------------------------------------------
    def close_if_finished(self, plan: TwapPlan) -> None:
        if plan.paused_at is not None:
            return  # a paused plan neither completes nor expires; its deadline moves when it resumes
        past = self.now > plan.expiry(self.grace_minutes)
        if any(l.unresolved() for l in plan.legs):
            if past:  # orders that could not be closed by end + grace: expired with the shortfall; still watched
                self.close(plan, PlanStatus.EXPIRED)
            return
        states = {l.status for l in plan.legs}
        if states <= {LegStatus.DONE, LegStatus.FAILED}:
            return self.close(plan, PlanStatus.FAILED if LegStatus.FAILED in states else PlanStatus.COMPLETED)
        if past:
            self.close(plan, PlanStatus.EXPIRED)

    def close_stale_open(self) -> None:
        """An order still open one slot interval after it was placed (at the latest at its plan's end) is
        cancelled by order id and reconciled; its fills are kept."""
        stale = {id(r): r for r, _age in stale_open_records(self.state, self.now)}
        for plan, _leg, record in self.state.unresolved():
            if record.status is OrderStatus.OPEN and self.now >= plan.end_at:
                stale[id(record)] = record
        for record in stale.values():
            if record.order_id:
                log.warning("order %s (%s) still open after its slot: cancelling", record.uoid, record.order_id)
                self.executor.cancel_record(record)

    def close(self, plan: TwapPlan, status: PlanStatus) -> None:
        plan.status, plan.closed_at = status, self.now
        for leg in plan.legs:
            if leg.active and status is PlanStatus.EXPIRED:
                leg.status = LegStatus.EXPIRED
        plan.summary = plan.outcome()
        # ledger first: a run killed before the save closes the plan again next tick (the archive is an upsert);
        # saving first would leave a closed plan that is never archived, and prune_finished drops it for good
        self.ctx.ledger.archive_plan(self.now, plan)
        self.ctx.ledger.record_decision(self.now, f"twap_{status}", {"plan_id": plan.plan_id, "summary": plan.summary})
        log.info("TWAP plan %s %s: %s", plan.plan_id, status,
                 "; ".join(summary_line(c, d) for c, d in plan.summary["legs"].items()))
        self.session.save()
        lines = [line.strip() for line in P.summary_lines(self.out.t, plan)]
        alert_type = ("twap_complete" if status is PlanStatus.COMPLETED
                      else "system_error" if status is PlanStatus.FAILED else "twap_stalled")
        self.ctx.alerts.send(alert_type, self.out.t(A["plan_title"], plan=plan.plan_id, status=P.plan_word(self.out.t, status)),
                             lines, dedupe_key=f"twap_{status}:{plan.plan_id}",
                             action=None if status is PlanStatus.COMPLETED else self.out.t(A["plan_action"]))
        self.lines.append(self.out.t(M["closed"], plan=plan.plan_id, status=P.plan_word(self.out.t, status)))
        self.lines.extend(P.summary_lines(self.out.t, plan))
        self.prune()

    def prune(self) -> list[TwapPlan]:
        """Finished plans past state.keep_finished_days leave the state file (archived in the ledger first)."""
        def archive(plans: list[TwapPlan]) -> None:
            have = self.ctx.ledger.archived_ids()
            for plan in (p for p in plans if p.plan_id not in have):
                self.ctx.ledger.archive_plan(self.now, plan)
        return P.prune_finished(self.state, now=self.now, keep_days=self.ctx.settings.state.keep_finished_days,
                                archive=archive)

    # ---- output ------------------------------------------------------------------------------------
    def side(self, leg: Leg) -> str:
        return side_word(self.out.t, leg.side)

    def describe(self, leg: Leg, record: OrderRecord) -> str:
        size = (f"{fmt_krw(record.amount_krw or ZERO)} KRW" if leg.is_buy
                else f"{fmt_qty(record.qty or ZERO)} {leg.target}")
        slot = str((record.slot or 0) + 1) if (record.slot or 0) < leg.slices else "+"
        return self.out.t(M["sent"], coin=leg.target, side=self.side(leg), slot=slot, slices=leg.slices, size=size,
                          filled=f"{fmt_qty(record.executed_qty)} {leg.target}", avg=fmt_krw(record.avg_price),
                          bps=record.slippage_bps if record.slippage_bps is not None else "-",
                          status=P.order_word(self.out.t, record.status, record.exchange_status))

    def report(self) -> None:
        """What this tick did, for the terminal (and --json)."""
        out = self.out
        if self.outcome == "idle":
            out.say(out.t(M["idle"]))
            out.emit({"active_plans": 0, "actions": []})
            return
        for plan in self.plans:
            out.say(out.t(M["plan"], plan=plan.plan_id, pct=f"{plan.progress() * 100:.1f}%"))
        for line in self.lines or [out.t(M["nothing"])]:
            out.say(line)
        out.emit({"active_plans": len(self.state.active_plans()), "actions": self.lines,
                  "plans": [{"plan_id": p.plan_id, "status": p.status.value, "progress": p.progress()}
                            for p in self.plans]})

    def snapshot(self) -> None:
        """Record the portfolio after the tick (a fresh read, so the fills are in it)."""
        if not self.lines:
            return
        view = read_market(self.ctx)
        snapshot_and_check(self.ctx, view, current_regime(self.state), plan_active=bool(self.state.active_plans()))


def summary_line(coin: str, data: dict[str, str | None]) -> str:
    return (f"{coin} {data['side']}: filled {data['filled']} of {data['total']} ({data['unit']}), "
            f"shortfall {data['shortfall']}, avg {data['avg_price'] or '-'}, cost {data['cost_bps'] or '-'} bps")


def slice_now(ctx: "Context", plan: TwapPlan, leg: Leg, min_size: Decimal, now: datetime) -> twap.SliceDecision:
    """The pure slice decision for one leg at `now`, from its stored schedule and actual fills."""
    schedule = leg.schedule()
    return twap.next_slice(
        total=leg.total, filled=leg.filled(), slices=schedule.slices, slots_used=leg.slots_used,
        due=twap.due_slots(plan.start_at, schedule, now), after_end=now > leg.end_at, min_size=min_size,
        unit=leg.step(), max_multiple=ctx.settings.execution.max_slice_multiple)


def would_send(ctx: "Context", plan: TwapPlan, leg: Leg, view: MarketView, now: datetime) -> Decimal:
    """The slice a tick would send for `leg` now (zero: none, or its price is not trusted)."""
    quote = view.quotes.get(leg.target)
    if quote is not None and not quote.trusted:
        return ZERO
    ticker = view.tickers[leg.target]
    return slice_now(ctx, plan, leg, leg.min_size(ticker.bid, ticker.ask), now).size
