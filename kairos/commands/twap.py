"""--process-twap: the 15-minute cron tick — take the lock, catch up a missed quarter, run the engine's tick, print.

An overlapping run exits quietly (exit 0). The tick itself (reconcile, advance every active plan by its
due slots, close finished plans) is `kairos.engine.tick.Tick`.
"""
from __future__ import annotations

import logging

from kairos.commands.common import read_market
from kairos.commands.rebalance import catch_up, run_tick
from kairos.context import Context
from kairos.engine.tick import M as TICK, would_send
from kairos.notify.texts import side_word
from kairos.state import LockBusy

log = logging.getLogger("kairos.twap")

M = {
    "busy": ("다른 KAIROS-1 작업이 실행 중이라 이번 TWAP 처리는 건너뜁니다.",
             "Another KAIROS-1 run holds the lock; this TWAP tick does nothing."),
    "preview": ("[드라이런] 지금 실행될 슬라이스 (주문·상태 변경 없음):", "[dry run] slices that would run now (no order, no state change):"),
    "would": ("  • {coin} {side} 슬라이스 {slot}/{slices}: {size}", "  • {coin} {side} slice {slot}/{slices}: {size}"),
}


def process(ctx: Context) -> int:
    """Entry point for --process-twap."""
    if ctx.dry_run:
        return preview(ctx)
    try:
        with ctx.state.locked(wait_seconds=0) as session:
            if not ctx.kill_switch:
                late = catch_up(ctx, session, ctx.clock.now())  # a quarterly rebalance due and not run
                if late is not None:
                    return late
            return run_tick(ctx, session)
    except LockBusy:
        log.info("--process-twap skipped: another run holds the lock")
        ctx.out.say(ctx.out.t(M["busy"]))
        return 0


def preview(ctx: Context) -> int:
    """--process-twap --dry-run: what would run now; reads only, sends nothing, saves nothing."""
    state = ctx.state.read()
    active = state.active_plans()
    out = ctx.out
    if not active:
        out.say(out.t(TICK["idle"]))
        return 0
    now = ctx.clock.now()
    view = read_market(ctx)
    out.say(out.t(M["preview"]))
    shown = 0
    grace = ctx.settings.execution.expiry_grace_minutes
    for plan in (p for p in active if now <= p.expiry(grace) and p.paused_at is None):  # as a real tick
        for leg in (l for l in plan.legs if l.active and not l.unresolved()):
            size = would_send(ctx, plan, leg, view, now)
            if size > 0:
                unit = "KRW" if leg.is_buy else leg.target
                out.say(out.t(M["would"], coin=leg.target, side=side_word(out.t, leg.side),
                              slot=leg.slots_used + 1, slices=leg.slices, size=f"{size} {unit}"))
                shown += 1
    if not shown:
        out.say(out.t(TICK["nothing"]))
    return 0
