"""--twap-status (reads the state file only: no exchange call, no lock) and --clear-failed-twap."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from kairos.commands.common import LOCK_WAIT_SECONDS
from kairos.commands.plan_view import kst
from kairos.context import Context
from kairos.engine import plans as P
from kairos.engine.codec import encode
from kairos.engine.model import CLEARABLE, FINISHED, Leg, TwapPlan
from kairos.money import fmt_krw, fmt_qty

M = {
    "title": ("✅ TWAP 상태:", "✅ TWAP status:"),
    "count": ("활성 주문 수: {n}개", "Active orders: {n}"),
    "leg": ("  • {coin}: {pct} ({used}/{slices} 슬라이스) {side}", "  • {coin}: {pct} ({used}/{slices} slices) {side}"),
    "left_krw": ("    남은 금액: {krw} KRW", "    Remaining: {krw} KRW"),
    "left_qty": ("    남은 금액: {krw} KRW ({qty} {coin})", "    Remaining: {krw} KRW ({qty} {coin})"),
    "left_time": ("    남은 시간: {hours}시간", "    Time left: {hours} h"),
    "avg": ("    평균 체결가: {avg} KRW (도착가 대비 {bps}bps)", "    Average fill: {avg} KRW ({bps} bps vs arrival)"),
    "wait": ("    ⏸️ 대기: {why}", "    ⏸️ Waiting: {why}"),
    "unknown": ("    ❓ 결과 미확인 주문 {n}건 (다음 실행에서 대조)", "    ❓ {n} order(s) with unknown result (reconciled next run)"),
    "plan": ("계획 {plan} ({kind}, {regime}) — 전체 {pct}, 종료 예정 {end}", "Plan {plan} ({kind}, {regime}) — {pct} overall, ends {end}"),
    "none": ("활성 TWAP 계획이 없습니다.", "No active TWAP plan."),
    "finished": ("지난 계획: {items}", "Past plans: {items}"),
    "kill": ("⛔ 거래 중지 상태: {why}", "⛔ Trading stopped: {why}"),
    "pending": ("⏳ 국면 전환 리밸런싱 대기 중 (미확인 주문 정리 후 시작)", "⏳ Regime-change rebalance pending (starts once unknown orders are resolved)"),
    "buy": ("매수", "BUY"), "sell": ("매도", "SELL"),
    "cleared": ("정리한 계획: {items}", "Archived plans: {items}"),
    "nothing": ("정리할 실패/만료/대체 계획이 없습니다.", "No failed, expired or superseded plan to clear."),
    "kept": ("미확인 주문이 남아 정리하지 않은 계획: {items}", "Kept (orders still unresolved): {items}"),
}


def run(ctx: Context) -> int:
    """Print the seed's TWAP status format (plus side, cost and waiting reasons), or JSON."""
    state = ctx.state.read()
    now = ctx.clock.now()
    out = ctx.out
    active = state.active_plans()
    legs = [(p, l) for p in active for l in p.legs if l.active]
    if ctx.kill_switch:
        out.say(out.t(M["kill"], why=ctx.kill_switch))
    if state.pending_rebalance is not None:
        out.say(out.t(M["pending"]))
    if not active:
        out.say(out.t(M["none"]))
    else:
        out.say(out.t(M["title"]))
        out.say(out.t(M["count"], n=len(legs)))
        for plan, leg in legs:
            for line in leg_lines(ctx, plan, leg, now):
                out.say(line)
        for plan in active:
            out.say(out.t(M["plan"], plan=plan.plan_id, kind=plan.kind, regime=plan.regime.value,
                          pct=f"{plan.progress() * 100:.1f}%", end=kst(plan.end_at) + " KST"))
    finished = [p for p in state.plans if p.status in FINISHED]
    if finished:
        out.say(out.t(M["finished"], items=", ".join(f"{p.plan_id} ({P.plan_word(out.t, p.status)})" for p in finished)))
        for plan in finished[-3:]:  # the most recent ones in full: what each coin got, at what cost
            out.say(f"  {plan.plan_id}:")
            for line in P.summary_lines(out.t, plan):
                out.say("  " + line)
    out.emit({"kill_switch": ctx.kill_switch, "pending_rebalance": encode(state.pending_rebalance),
              "active_legs": len(legs), "plans": [plan_data(p, now) for p in state.plans]})
    return 0


def leg_lines(ctx: Context, plan: TwapPlan, leg: Leg, now: datetime) -> list[str]:
    out = ctx.out
    remaining = leg.remaining()
    pct = f"{(1 - remaining / leg.total) * 100:.1f}%"
    side = out.t(M["buy"] if leg.is_buy else M["sell"])
    lines = [out.t(M["leg"], coin=leg.target, pct=pct, used=leg.slots_used, slices=leg.slices, side=side)]
    if leg.unit == "krw":
        lines.append(out.t(M["left_krw"], krw=fmt_krw(remaining)))
    else:
        krw = remaining * leg.est_krw / leg.total
        lines.append(out.t(M["left_qty"], krw=fmt_krw(krw), qty=fmt_qty(remaining), coin=leg.target))
    lines.append(out.t(M["left_time"], hours=f"{hours_left(leg, now):.1f}"))
    qty, krw_done, _fee = leg.fill_stats()
    if qty > 0:
        cost = plan.cost_bps(leg)
        lines.append(out.t(M["avg"], avg=fmt_krw(krw_done / qty), bps=cost if cost is not None else "-"))
    if leg.waiting is not None:
        lines.append(out.t(M["wait"], why=leg.waiting.why))
    unknown = len(leg.unresolved())
    if unknown:
        lines.append(out.t(M["unknown"], n=unknown))
    return lines


def hours_left(leg: Leg, now: datetime) -> float:
    return max((leg.end_at - now).total_seconds() / 3600, 0)


def plan_data(plan: TwapPlan, now: datetime) -> dict[str, Any]:
    legs = []
    for leg in plan.legs:
        qty, krw, fee = leg.fill_stats()
        legs.append({"target": leg.target, "side": leg.side.value, "unit": leg.unit, "total": leg.total,
                     "filled": leg.filled(), "remaining": leg.remaining(), "slices": leg.slices,
                     "slices_done": leg.slots_used, "interval_minutes": leg.interval_minutes,
                     "status": leg.status.value, "end_at": leg.end_at, "hours_left": round(hours_left(leg, now), 2),
                     "avg_price": (krw / qty) if qty else None, "fee_krw": fee, "cost_bps": plan.cost_bps(leg),
                     "waiting": encode(leg.waiting), "unresolved_orders": len(leg.unresolved())})
    return {"plan_id": plan.plan_id, "status": plan.status.value, "kind": plan.kind, "regime": plan.regime.value,
            "progress": plan.progress(), "start_at": plan.start_at, "end_at": plan.end_at, "legs": legs}


def clear_failed(ctx: Context) -> int:
    """Archive failed / expired / superseded plans out of the state (the ledger keeps them)."""
    now = ctx.clock.now()
    with ctx.state.locked(wait_seconds=LOCK_WAIT_SECONDS) as session:
        st = session.data
        clearable = [p for p in st.plans if p.status in CLEARABLE]
        kept = [p for p in clearable if any(l.unresolved() for l in p.legs)]
        removed = [p for p in clearable if p not in kept]
        for plan in removed:
            ctx.ledger.archive_plan(now, plan)
        st.plans = [p for p in st.plans if p not in removed]
        st.forget_notices({p.plan_id for p in removed})
        session.save()
    out = ctx.out
    if removed:
        out.say(out.t(M["cleared"], items=", ".join(f"{p.plan_id} ({P.plan_word(out.t, p.status)})" for p in removed)))
    else:
        out.say(out.t(M["nothing"]))
    if kept:
        out.say(out.t(M["kept"], items=", ".join(p.plan_id for p in kept)))
    out.emit({"removed": [{"plan_id": p.plan_id, "status": p.status.value} for p in removed],
              "kept": [p.plan_id for p in kept]})
    return 0
