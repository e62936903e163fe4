"""--process-twap: the 15-minute cron tick that advances every active TWAP plan by its due slots.

Order of work: take the lock (an overlapping run exits quietly) → reconcile every order whose
result is unknown → read tickers and balances once → sells, then buys, one order per leg per tick
→ close plans that are done or past their end + grace → save, snapshot, alerts.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kairos.binding import order_uid
from kairos.coinone.models import OrderRequest
from kairos.commands.common import MarketView, current_regime, read_market, snapshot_and_check
from kairos.context import Context
from kairos.core import twap
from kairos.account_guard import check_installation, stale_open_records
from kairos.errors import SafetyStop
from kairos.execution import OPEN, UNRESOLVED, Executor, guard_price, lost_records
from kairos.money import ZERO, fmt_krw, fmt_qty
from kairos import plans as P, signals
from kairos.notify.texts import A, side_word
from kairos.state import LockBusy

log = logging.getLogger("kairos.twap")

M = {
    "busy": ("다른 KAIROS-1 작업이 실행 중이라 이번 TWAP 처리는 건너뜁니다.",
             "Another KAIROS-1 run holds the lock; this TWAP tick does nothing."),
    "idle": ("활성 TWAP 계획이 없습니다.", "No active TWAP plan."),
    "kill": ("⛔ 거래 중지 상태({why}): 새 주문 없이 미확인 주문 대조만 했습니다.",
             "⛔ Trading stopped ({why}): reconciled unknown orders only, no new order."),
    "sent": ("  • {coin} {side} 슬라이스 {slot}/{slices}: {size} → 체결 {filled} (평균 {avg} KRW, 비용 {bps}bps) [{status}]",
             "  • {coin} {side} slice {slot}/{slices}: {size} → filled {filled} (avg {avg} KRW, cost {bps} bps) [{status}]"),
    "waiting": ("  • {coin} {side}: 대기 — {why}", "  • {coin} {side}: waiting — {why}"),
    "plan": ("TWAP {plan}: 진행률 {pct}", "TWAP {plan}: {pct} done"),
    "closed": ("TWAP {plan} 종료: {status}", "TWAP {plan} closed: {status}"),
    "nothing": ("  (지금 실행할 슬라이스 없음)", "  (no slice due now)"),
    "untrusted": ("가격을 믿을 수 없음: {why}", "price not trusted: {why}"),
    "no_krw": ("KRW 부족 (사용 가능 {avail} KRW)", "not enough KRW ({avail} KRW available)"),
    "no_coin": ("{coin} 부족 (사용 가능 {avail})", "not enough {coin} ({avail} available)"),
    "preview": ("[드라이런] 지금 실행될 슬라이스 (주문·상태 변경 없음):", "[dry run] slices that would run now (no order, no state change):"),
    "would": ("  • {coin} {side} 슬라이스 {slot}/{slices}: {size}", "  • {coin} {side} slice {slot}/{slices}: {size}"),
}


@dataclass
class Wallet:
    """Balances as they change within one tick (so buys see the KRW that sells just freed)."""

    krw: Decimal
    coins: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def from_view(cls, view: MarketView) -> "Wallet":
        krw = view.balances.get("KRW")
        return cls(krw.available if krw else ZERO, {c: b.available for c, b in view.balances.items() if c != "KRW"})

    def apply(self, record: dict[str, Any]) -> None:
        qty, krw, fee = (Decimal(record.get(k) or 0) for k in ("executed_qty", "executed_krw", "fee"))
        coin = record["target"]
        if record["side"] == "BUY":
            self.krw -= krw + fee
            self.coins[coin] = self.coins.get(coin, ZERO) + qty
        else:
            self.coins[coin] = self.coins.get(coin, ZERO) - qty
            self.krw += krw - fee


def process(ctx: Context) -> int:
    """Entry point for --process-twap."""
    if ctx.dry_run:
        return preview(ctx)
    try:
        with ctx.state.locked(wait_seconds=0) as session:
            if not ctx.kill_switch:
                from kairos.commands.rebalance import catch_up
                late = catch_up(ctx, session, ctx.clock.now())  # a quarterly rebalance due and not run
                if late is not None:
                    return late
            return Tick(ctx, session).run()
    except LockBusy:
        log.info("--process-twap skipped: another run holds the lock")
        ctx.out.say(ctx.out.t(M["busy"]))
        return 0


class Tick:
    """One run of the engine over the state held under the lock."""

    def __init__(self, ctx: Context, session: Any) -> None:
        self.ctx, self.session, self.state = ctx, session, session.data
        self.now: datetime = ctx.clock.now()
        self.run_id = f"{self.now.strftime('%Y%m%d%H%M%S')}-{os.getpid()}"
        self.out = ctx.out
        self.lines: list[str] = []
        self._executor: Executor | None = None
        self._installation_checked = False
        self.live: list[dict[str, Any]] = []

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = Executor(self.ctx, self.session, self.ctx.ledger, kind="twap")
        return self._executor

    def run(self) -> int:
        self.state["heartbeat"]["process_twap"] = self.now.isoformat()
        pending = list(P.plans_with_unresolved(self.state))
        immediate = [r for r in self.state["orders"].values() if r.get("status") in (*UNRESOLVED, OPEN)]
        active = P.active_plans(self.state)
        grace = timedelta(minutes=self.ctx.settings.execution.expiry_grace_minutes)
        watched = [r for _p, r, until in lost_records(self.state) if until is None or self.now <= until + grace]
        if not (pending or immediate or active or watched or self.state.get("pending_rebalance")):
            self.session.save(backup=bool(self.prune()))  # heartbeat only (and old finished plans out)
            self.out.say(self.out.t(M["idle"]))
            self.out.emit({"active_plans": 0, "actions": []})
            return 0
        for plan, _leg, order in pending:
            self.executor.reconcile(order, plan["plan_id"], self.run_id)
        for record in immediate:
            self.executor.reconcile(record, record.get("plan_id"), self.run_id)
        if watched:
            self.executor.watch_lost()
        self.close_stale_open()
        why = self.ctx.kill_switch
        if why:
            return self.stopped(why)
        self.state.setdefault("notices", {}).pop("kill_switch", None)
        if self.state.get("pending_rebalance"):
            return self.start_pending()
        view = read_market(self.ctx)
        wallet = Wallet.from_view(view)
        live = [p for p in active if self.now <= P.expiry_time(p, self.ctx.settings.execution.expiry_grace_minutes)
                and not p.get("paused_at")]  # past end + grace, or paused by the operator: never trade
        self.live = live
        for side in ("SELL", "BUY"):
            for plan in live:
                for leg in (l for l in plan["legs"] if l["side"] == side and l["status"] == P.ACTIVE):
                    if signals.stop_requested():
                        break  # SIGTERM: the order in flight finished; nothing new is sent
                    self.advance(plan, leg, view, wallet)
        for plan in active:
            self.close_if_finished(plan)
        self.prune()
        self.session.save()
        self.report(active)
        if signals.stop_requested():
            return signals.EXIT_TERMINATED
        self.snapshot()
        return 0

    def one_installation(self) -> None:
        """Read the account's orders once per tick, and only when an order is about to go out (exit 4 on
        another installation's order on the markets these plans trade)."""
        if self._installation_checked:
            return
        since = min(datetime.fromisoformat(p["start_at"]) for p in self.live)
        check_installation(self.ctx, self.state, since, {l["target"] for p in self.live for l in p["legs"]})
        self._installation_checked = True

    def start_pending(self) -> int:
        """A regime-change rebalance deferred until unknown orders were resolved."""
        from kairos.commands.rebalance import start_season_twap
        from kairos.core.types import Regime

        pending = self.state["pending_rebalance"]
        return start_season_twap(self.ctx, self.session, Regime(pending["regime"]), self.now, run_id=self.run_id)

    def stopped(self, why: str) -> int:
        """Kill switch: reconciliation already ran; no new order; one alert per kill episode."""
        notices = self.state.setdefault("notices", {})
        if "kill_switch" not in notices:
            notices["kill_switch"] = self.now.isoformat()
            self.ctx.alerts.send("critical_risk", self.out.t(A["kill_title"]), [why], action=self.out.t(A["kill_action"]),
                                 dedupe_key=f"kill_switch:{why}")
        self.session.save()
        self.out.say(self.out.t(M["kill"], why=why))
        return 4

    # ---- one leg -------------------------------------------------------------------------------
    def advance(self, plan: dict[str, Any], leg: dict[str, Any], view: MarketView, wallet: Wallet) -> None:
        if P.leg_unresolved(leg):
            return  # never send while an earlier order's result is unknown
        for record in leg["orders"]:
            consume_slots(leg, record)  # a run that died before recording it still used the slot
        coin, is_buy = leg["target"], leg["side"] == "BUY"
        quote = view.quotes.get(coin)
        if quote is not None and not quote.trusted:  # one bad quote: no slice this run, and the leg never closes on it
            return self.wait(plan, leg, "untrusted_price", self.out.t(M["untrusted"], why=quote.problem))
        ticker = view.tickers[coin]
        bid, ask = ticker.bid, ticker.ask
        unit, min_size = leg_unit(leg), leg_min_size(leg, bid, ask)
        decision = slice_now(self.ctx, plan, leg, min_size, self.now)
        if decision.done:
            leg["status"], leg["waiting"] = "done", None
            return
        if decision.size <= 0:
            return
        available = wallet.krw * (1 - self.ctx.settings.strategy.rebalance.fee_buffer) if is_buy else wallet.coins.get(coin, ZERO)
        size, short = twap.fit_to_available(decision.size, available, unit, min_size)
        if short:
            why = self.out.t(M["no_krw"], avail=fmt_krw(wallet.krw)) if is_buy else self.out.t(M["no_coin"], coin=coin, avail=fmt_qty(available))
            return self.wait(plan, leg, "insufficient_krw" if is_buy else "insufficient_coin", why)
        ticks = P.leg_ticks(leg)
        guard = guard_price(leg["side"], ask, bid, self.ctx.settings.strategy.rebalance.max_slippage, ticks.round_down, ticks.round_up)
        slot = leg["slots_used"]
        attempt = 1 + sum(1 for o in leg["orders"] if o.get("slot") == slot)
        uoid = order_uid(self.state["installation"]["id"], plan["plan_id"], coin, f"s{slot:03d}-a{attempt}")
        request = (OrderRequest.market_buy(coin, size, guard, uoid) if is_buy
                   else OrderRequest.market_sell(coin, size, guard, uoid))
        krw_value = size if is_buy else size * bid
        needed = P.leg_remaining(leg) * (1 if is_buy else bid)
        # the hard ceiling, in exchange terms: all of the leg's records (late-adopted ones included) + this order
        Executor.check_ceiling(f"TWAP {plan['plan_id']} {coin} {leg['side']}", Decimal(leg["total"]), P.leg_filled(leg),
                               size, Decimal(leg["min_order_krw"]) if is_buy else Decimal(leg["qty_unit"]))
        try:
            self.executor.check_rails(request, krw_value, needed)
        except SafetyStop as exc:
            return self.wait(plan, leg, "safety", str(exc), alert_type="critical_risk")
        self.one_installation()  # before the first order of this tick: another installation's orders stop us
        record = {"slot": slot, "attempt": attempt, "slots_to": decision.slots_to}
        leg["orders"].append(record)
        self.executor.submit(record, request, mid=ticker.mid, plan_id=plan["plan_id"])
        self.after_submit(plan, leg, record, decision.slots_to, wallet)

    def after_submit(self, plan: dict[str, Any], leg: dict[str, Any], record: dict[str, Any], slots_to: int,
                     wallet: Wallet) -> None:
        if record["status"] == "rejected":
            if record.get("insufficient"):
                return self.wait(plan, leg, "insufficient", record.get("error", ""))
            if not record.get("temporary"):
                leg["rejections"] = int(leg.get("rejections", 0)) + 1
                if leg["rejections"] >= 3:
                    leg["status"] = "failed"
                    self.ctx.alerts.send("system_error", self.out.t(A["leg_failed_title"], plan=plan["plan_id"],
                                                                    coin=leg["target"]),
                                         [record.get("error", "")], action=self.out.t(A["leg_failed_action"]))
            self.session.save()
            return
        self.clear_wait(plan, leg)  # an order went out: the wait (and its one alert) is over
        leg["slots_used"] = slots_to
        if record["status"] == "done":
            wallet.apply(record)
        self.session.save()
        self.lines.append(self.describe(leg, record))

    def wait(self, plan: dict[str, Any], leg: dict[str, Any], code: str, why: str, alert_type: str = "twap_stalled") -> None:
        """Mark a leg as waiting; alert once per waiting episode (not every 15 minutes)."""
        leg["waiting"] = {"code": code, "why": why, "since": (leg.get("waiting") or {}).get("since", self.now.isoformat())}
        key = f"wait:{plan['plan_id']}:{leg['target']}:{code}"
        notices = self.state.setdefault("notices", {})
        if key not in notices:
            notices[key] = self.now.isoformat()
            self.ctx.alerts.send(alert_type, self.out.t(A["waiting_title"], plan=plan["plan_id"], coin=leg["target"],
                                                        side=self.side(leg)), [why],
                                 action=self.out.t(A["waiting_action"]),
                                 dedupe_key=key)
        self.lines.append(self.out.t(M["waiting"], coin=leg["target"], side=self.side(leg), why=why))

    def clear_wait(self, plan: dict[str, Any], leg: dict[str, Any]) -> None:
        leg["waiting"] = None
        prefix = f"wait:{plan['plan_id']}:{leg['target']}:"
        notices = self.state.setdefault("notices", {})
        for key in [k for k in notices if k.startswith(prefix)]:
            del notices[key]

    # ---- plan lifecycle --------------------------------------------------------------------------
    def close_if_finished(self, plan: dict[str, Any]) -> None:
        if plan.get("paused_at"):
            return  # a paused plan neither completes nor expires; its deadline moves when it resumes
        past = self.now > P.expiry_time(plan, self.ctx.settings.execution.expiry_grace_minutes)
        if any(P.leg_unresolved(l) for l in plan["legs"]):
            if past:  # orders that could not be closed by end + grace: expired with the shortfall; still watched
                self.close(plan, "expired")
            return
        states = {l["status"] for l in plan["legs"]}
        if states <= {"done", "failed"}:
            return self.close(plan, "failed" if "failed" in states else "completed")
        if past:
            self.close(plan, "expired")

    def close_stale_open(self) -> None:
        """An order still open one slot interval after it was placed (at the latest at its plan's end) is
        cancelled by order id and reconciled; its fills are kept."""
        owner: dict[int, str] = {}
        stale = {id(r): r for r, _age in stale_open_records(self.state, self.now)}
        for plan, _leg, record in P.plans_with_unresolved(self.state):
            owner[id(record)] = plan["plan_id"]
            if record.get("status") == OPEN and self.now >= P.plan_end(plan):
                stale[id(record)] = record
        for key, record in stale.items():
            if record.get("order_id"):
                log.warning("order %s (%s) still open after its slot: cancelling", record["uoid"], record["order_id"])
                self.executor.cancel_record(record, owner.get(key) or record.get("plan_id"))

    def close(self, plan: dict[str, Any], status: str) -> None:
        plan.update(status=status, closed_at=self.now.isoformat(), summary=P.summary(plan))
        for leg in plan["legs"]:
            if leg["status"] == P.ACTIVE:
                leg["status"] = "expired" if status == "expired" else leg["status"]
        # ledger first: a run killed before the save closes the plan again next tick (the archive is an upsert);
        # saving first would leave a closed plan that is never archived, and prune_finished drops it for good
        self.ctx.ledger.archive_plan(self.now, plan)
        self.ctx.ledger.record_decision(self.now, f"twap_{status}", {"plan_id": plan["plan_id"], "summary": plan["summary"]})
        log.info("TWAP plan %s %s: %s", plan["plan_id"], status,
                 "; ".join(summary_line(c, d) for c, d in plan["summary"]["legs"].items()))
        self.session.save()
        lines = [line.strip() for line in P.summary_lines(self.out.t, plan)]
        alert_type = "twap_complete" if status == "completed" else ("system_error" if status == "failed" else "twap_stalled")
        self.ctx.alerts.send(alert_type, self.out.t(A["plan_title"], plan=plan["plan_id"], status=P.plan_word(self.out.t, status)),
                             lines, dedupe_key=f"twap_{status}:{plan['plan_id']}",
                             action=None if status == "completed" else self.out.t(A["plan_action"]))
        self.lines.append(self.out.t(M["closed"], plan=plan["plan_id"], status=P.plan_word(self.out.t, status)))
        self.lines.extend(P.summary_lines(self.out.t, plan))
        self.prune()

    def prune(self) -> list[dict[str, Any]]:
        """Finished plans past state.keep_finished_days leave the state file (archived in the ledger first)."""
        def archive(plans: list[dict[str, Any]]) -> None:
            have = self.ctx.ledger.archived_ids()
            for plan in (p for p in plans if p["plan_id"] not in have):
                self.ctx.ledger.archive_plan(self.now, plan)
        return P.prune_finished(self.state, now=self.now, keep_days=self.ctx.settings.state.keep_finished_days,
                                archive=archive)

    # ---- output ------------------------------------------------------------------------------------
    def side(self, leg: dict[str, Any]) -> str:
        return side_word(self.out.t, leg["side"])

    def describe(self, leg: dict[str, Any], record: dict[str, Any]) -> str:
        size = f"{fmt_krw(Decimal(record['amount_krw']))} KRW" if leg["side"] == "BUY" else f"{fmt_qty(Decimal(record['qty']))} {leg['target']}"
        filled = f"{fmt_qty(Decimal(record.get('executed_qty') or 0))} {leg['target']}"
        slot = str(record["slot"] + 1) if record["slot"] < leg["slices"] else "+"
        return self.out.t(M["sent"], coin=leg["target"], side=self.side(leg), slot=slot, slices=leg["slices"],
                          size=size, filled=filled, avg=fmt_krw(Decimal(record.get("avg_price") or 0)),
                          bps=record.get("slippage_bps") or "-", status=P.order_word(self.out.t, record))

    def report(self, plans: list[dict[str, Any]]) -> None:
        for plan in plans:
            self.out.say(self.out.t(M["plan"], plan=plan["plan_id"], pct=f"{P.plan_progress(plan) * 100:.1f}%"))
        for line in self.lines or [self.out.t(M["nothing"])]:
            self.out.say(line)
        self.out.emit({"active_plans": len(P.active_plans(self.state)), "actions": self.lines,
                       "plans": [{"plan_id": p["plan_id"], "status": p["status"], "progress": P.plan_progress(p)}
                                 for p in plans]})

    def snapshot(self) -> None:
        """Record the portfolio after the tick (a fresh read, so the fills are in it)."""
        if not self.lines:
            return
        view = read_market(self.ctx)
        snapshot_and_check(self.ctx, view, current_regime(self.state), plan_active=bool(P.active_plans(self.state)))


def consume_slots(leg: dict[str, Any], record: dict[str, Any]) -> None:
    """An order the exchange accepted used its slots, as `after_submit` would have recorded.

    Without this, a run that died after the order was placed (before `after_submit` saved) left
    `slots_used` behind, and the next tick sent a second order for the same slot (attempt 2) —
    two orders for one scheduled slice.
    """
    if record.get("order_id") and record.get("slots_to") is not None:
        leg["slots_used"] = max(int(leg["slots_used"]), int(record["slots_to"]))


def leg_min_size(leg: dict[str, Any], bid: Decimal, ask: Decimal) -> Decimal:
    """The leg's smallest useful slice now: buys priced at the ask, sells at the bid."""
    price = ask if leg["side"] == "BUY" else bid
    return twap.min_slice(leg["side"], Decimal(leg["min_order_krw"]), Decimal(leg["qty_unit"]), price)


def summary_line(coin: str, data: dict[str, Any]) -> str:
    return (f"{coin} {data['side']}: filled {data['filled']} of {data['total']} ({data['unit']}), "
            f"shortfall {data['shortfall']}, avg {data['avg_price'] or '-'}, cost {data['cost_bps'] or '-'} bps")


def preview(ctx: Context) -> int:
    """--process-twap --dry-run: what would run now; reads only, sends nothing, saves nothing."""
    state = ctx.state.read()
    active = P.active_plans(state)
    out = ctx.out
    if not active:
        out.say(out.t(M["idle"]))
        return 0
    now = ctx.clock.now()
    view = read_market(ctx)
    out.say(out.t(M["preview"]))
    shown = 0
    grace = ctx.settings.execution.expiry_grace_minutes
    for plan in (p for p in active if now <= P.expiry_time(p, grace) and not p.get("paused_at")):  # as a real tick
        for leg in (l for l in plan["legs"] if l["status"] == P.ACTIVE and not P.leg_unresolved(l)):
            size = would_send(ctx, plan, leg, view, now)
            if size > 0:
                unit = "KRW" if leg["side"] == "BUY" else leg["target"]
                out.say(out.t(M["would"], coin=leg["target"], side=side_word(out.t, leg["side"]),
                              slot=leg["slots_used"] + 1, slices=leg["slices"], size=f"{size} {unit}"))
                shown += 1
    if not shown:
        out.say(out.t(M["nothing"]))
    return 0


def would_send(ctx: Context, plan: dict[str, Any], leg: dict[str, Any], view: MarketView, now: datetime) -> Decimal:
    quote = view.quotes.get(leg["target"])
    if quote is not None and not quote.trusted:
        return ZERO
    ticker = view.tickers[leg["target"]]
    return slice_now(ctx, plan, leg, leg_min_size(leg, ticker.bid, ticker.ask), now).size


def leg_unit(leg: dict[str, Any]) -> Decimal:
    """Buys are sized in whole KRW, sells in the coin's quantity unit."""
    return Decimal("1") if leg["side"] == "BUY" else Decimal(leg["qty_unit"])


def slice_now(ctx: Context, plan: dict[str, Any], leg: dict[str, Any], min_size: Decimal, now: datetime) -> twap.SliceDecision:
    """The pure slice decision for one leg at `now`, from its stored schedule and actual fills."""
    schedule = P.schedule_of(leg)
    return twap.next_slice(
        total=Decimal(leg["total"]), filled=P.leg_filled(leg), slices=schedule.slices, slots_used=leg["slots_used"],
        due=twap.due_slots(datetime.fromisoformat(plan["start_at"]), schedule, now),
        after_end=now > datetime.fromisoformat(leg["end_at"]), min_size=min_size, unit=leg_unit(leg),
        max_multiple=ctx.settings.execution.max_slice_multiple)
