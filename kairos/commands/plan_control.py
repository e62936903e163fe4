"""--cancel-twap / --pause-twap / --resume-twap PLAN_ID: control one plan, without the kill switch or --force.

Cancel: the plan's open orders are cancelled by order id and reconciled (their fills kept), then the plan is
closed as `canceled` with its summary. Pause: no order while paused. Resume: the remaining slots resume from
the resume time (the schedule and the deadline move by the time spent paused). Each prints one line of
confirmation and sends one alert.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from kairos.commands.common import locked_or_fail
from kairos.commands.plan_view import kst
from kairos.engine.model import LegStatus, PlanStatus, State, TwapPlan
from kairos.engine.tick import Tick
from kairos.context import Context
from kairos.errors import ConfigError
from kairos.notify.texts import A

log = logging.getLogger("kairos.plan_control")

M = {
    "canceled": ("TWAP {plan}을(를) 취소했습니다: 미체결 주문 {n}건 취소, 체결분은 그대로 ({progress} 완료).",
                 "TWAP {plan} canceled: {n} open order(s) cancelled, fills kept ({progress} done)."),
    "paused": ("TWAP {plan}을(를) 일시정지했습니다. --resume-twap {plan}까지 새 주문이 없습니다.",
               "TWAP {plan} paused: no order until --resume-twap {plan}."),
    "resumed": ("TWAP {plan}을(를) 재개했습니다: 남은 슬롯은 지금부터, 끝 {end} KST.",
                "TWAP {plan} resumed: the remaining slots start now; it ends {end} KST."),
    "already_paused": ("TWAP {plan}은(는) 이미 일시정지 중입니다.", "TWAP {plan} is already paused."),
    "not_paused": ("TWAP {plan}은(는) 일시정지 상태가 아닙니다.", "TWAP {plan} is not paused."),
}


def find_active(ctx: Context, st: State, plan_id: str) -> TwapPlan:
    plan = st.plan(plan_id)
    if plan is not None:
        if not plan.active:
            raise ConfigError(f"{plan_id}: this plan is {plan.status.value}, not active; nothing to change")
        return plan
    active = ", ".join(p.plan_id for p in st.active_plans()) or "none"
    raise ConfigError(f"{plan_id}: no such plan (active plans: {active}; see --twap-status)")


def cancel(ctx: Context) -> int:
    plan_id = ctx.args.cancel_twap
    now = ctx.clock.now()
    with locked_or_fail(ctx, "--cancel-twap") as session:
        plan = find_active(ctx, session.data, plan_id)
        tick = Tick(ctx, session)
        cancelled = tick.executor.cancel_open(plan)
        for leg in plan.legs:
            if leg.active:
                leg.status = LegStatus.CANCELED
        tick.close(plan, PlanStatus.CANCELED)
        progress = f"{plan.progress() * 100:.1f}%"
    ctx.out.say(ctx.out.t(M["canceled"], plan=plan_id, n=cancelled, progress=progress))
    ctx.out.emit({"plan_id": plan_id, "status": PlanStatus.CANCELED.value, "cancelled_orders": cancelled, "summary": plan.summary})
    log.info("TWAP plan %s canceled by the operator at %s", plan_id, now.isoformat())
    return 0


def pause(ctx: Context) -> int:
    plan_id = ctx.args.pause_twap
    now = ctx.clock.now()
    with locked_or_fail(ctx, "--pause-twap") as session:
        plan = find_active(ctx, session.data, plan_id)
        if plan.paused_at is not None:
            ctx.out.say(ctx.out.t(M["already_paused"], plan=plan_id))
            return 0
        plan.paused_at = now
        session.save()
    ctx.out.say(ctx.out.t(M["paused"], plan=plan_id))
    ctx.alerts.send("twap_stalled", ctx.out.t(A["paused_title"], plan=plan_id), [ctx.out.t(A["paused_line"], at=kst(now))],
                    dedupe_key=f"twap_paused:{plan_id}:{now.isoformat()}")
    ctx.out.emit({"plan_id": plan_id, "paused_at": now})
    log.info("TWAP plan %s paused by the operator", plan_id)
    return 0


def resume(ctx: Context) -> int:

    plan_id = ctx.args.resume_twap
    now = ctx.clock.now()
    with locked_or_fail(ctx, "--resume-twap") as session:
        plan = find_active(ctx, session.data, plan_id)
        if plan.paused_at is None:
            ctx.out.say(ctx.out.t(M["not_paused"], plan=plan_id))
            return 0
        shift = max(now - plan.paused_at, timedelta(0))
        plan.paused_at = None
        plan.shift(shift)
        session.save()
    ctx.out.say(ctx.out.t(M["resumed"], plan=plan_id, end=kst(plan.end_at)))
    ctx.alerts.send("twap_start", ctx.out.t(A["resumed_title"], plan=plan_id),
                    [ctx.out.t(A["resumed_line"], shift=str(shift).split(".")[0], end=kst(plan.end_at))],
                    dedupe_key=f"twap_resumed:{plan_id}:{now.isoformat()}")
    ctx.out.emit({"plan_id": plan_id, "resumed_at": now, "shifted_by_seconds": int(shift.total_seconds()),
                  "end_at": plan.end_at})
    log.info("TWAP plan %s resumed by the operator (schedule shifted by %s)", plan_id, shift)
    return 0
