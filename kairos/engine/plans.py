"""TWAP plans: creation from a rebalance plan, end-of-plan summaries, and pruning finished plans.

A plan is a `kairos.engine.model.TwapPlan`; the state file is its single source of truth across cron
runs. Only active plans are ever executed; the others are history until they are archived.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Literal

from kairos.coinone.models import MarketRules
from kairos.core import twap
from kairos.core.rebalance import RebalancePlan
from kairos.core.types import Regime, Side
from kairos.engine.model import (
    FINISHED, Leg, PlanStatus, State, TwapPlan,
)
from kairos.notify.texts import side_word


def build_plan(plan_id: str, *, plan: RebalancePlan, rules: dict[str, MarketRules], atr: dict[str, Decimal],
               settings: Any, now: datetime, regime: Regime, kind: Literal["quarterly", "season_change"],
               arrival: dict[str, Decimal]) -> TwapPlan:
    """A new active TWAP plan: one leg per order intent, each with its own ATR-chosen schedule."""
    legs = build_legs(plan, rules, atr, settings, now)
    end = max((leg.end_at for leg in legs), default=now)
    return TwapPlan(plan_id=plan_id, kind=kind, status=PlanStatus.ACTIVE, created_at=now, start_at=now, end_at=end,
                    regime=regime, arrival=dict(arrival), legs=legs)


def build_legs(plan: RebalancePlan, rules: dict[str, MarketRules], atr: dict[str, Decimal], settings: Any,
               now: datetime) -> list[Leg]:
    """One leg per order intent (same order), each with its ATR-chosen schedule (the backtest uses these too)."""
    ex = settings.execution
    legs = []
    for intent in plan.intents:
        rule = rules[intent.target]
        is_buy = intent.side is Side.BUY
        total = intent.amount_krw if is_buy else intent.qty
        assert total is not None  # OrderIntent sizes a buy by KRW and a sell by qty
        min_size = twap.min_slice(intent.side, rule.min_order_krw, rule.qty_unit, intent.price)
        schedule = twap.choose_schedule(atr[intent.target], ex.atr_threshold, (ex.calm.slices, ex.calm.interval_minutes),
                                        (ex.volatile.slices, ex.volatile.interval_minutes))
        schedule = twap.fit_slices(schedule, total, min_size)
        legs.append(Leg(
            target=intent.target, side=intent.side, unit="krw" if is_buy else "qty", total=total,
            est_krw=intent.est_krw, slices=schedule.slices, interval_minutes=schedule.interval_minutes,
            volatile=schedule.volatile, atr_pct=atr[intent.target], qty_unit=rule.qty_unit,
            min_order_krw=rule.min_order_krw,
            ticks=[(u.range_min, u.next_range_min, u.price_unit) for u in rule.ticks.units],
            end_at=twap.end_time(now, schedule)))
    return legs


STATUS_WORDS = {
    "active": ("진행 중", "active"), "completed": ("완료", "completed"), "expired": ("만료", "expired"),
    "superseded": ("대체됨", "superseded"), "failed": ("실패", "failed"), "canceled": ("취소됨", "canceled"),
}
ORDER_WORDS = {  # an order's exchange status (or ours), as a person reads it
    "FILLED": ("체결", "filled"), "CANCELED_UNDER_PRODUCT_UNIT": ("체결 (남은 금액은 최소 단위 미만)", "filled (remainder below one unit)"),
    "CANCELED_LIMIT_PRICE_EXCEED": ("부분 체결 (보호가 도달)", "partly filled (guard price reached)"),
    "CANCELED_NO_ORDER": ("부분 체결 (호가 소진)", "partly filled (book exhausted)"), "CANCELED": ("취소", "canceled"),
    "PARTIALLY_CANCELED": ("부분 체결 후 취소", "partly filled, then canceled"), "LIVE": ("미체결", "open"),
    "intent": ("결과 확인 중", "result pending"), "unknown": ("결과 확인 중", "result pending"),
    "submitted": ("결과 확인 중", "result pending"), "open": ("미체결", "open"), "rejected": ("거절", "rejected"),
    "lost": ("없음 (거래소 목록 확인)", "lost (confirmed by the exchange's lists)"), "done": ("완료", "done"),
}


SUMMARY = {
    "leg": ("  • {coin} {side}: 목표 {total}, 체결 {filled}{short}, 평균 {avg} KRW, 도착가 대비 {bps}, 수수료 {fee} KRW",
            "  • {coin} {side}: target {total}, filled {filled}{short}, avg {avg} KRW, {bps} vs arrival, fees {fee} KRW"),
    "short": (" (부족분 {left})", " (shortfall {left})"),
    "unit_left": (" (남은 {left}은(는) 수량 단위 하나보다 작아 살 수 없음 — 다 채운 것으로 봄)",
                  " (the {left} left is less than one quantity unit and cannot be bought — counted as filled)"),
    "bps": ("{v}bps", "{v} bps"),
}


def plan_word(t: Callable[..., str], status: str) -> str:
    """A plan's status as a word in the reader's language (`t` picks ko/en)."""
    return t(STATUS_WORDS[status]) if status in STATUS_WORDS else str(status)


def order_word(t: Callable[..., str], status: str, exchange_status: str | None = None) -> str:
    """An order's exchange status (else ours) as a person reads it: a fully spent buy is "filled"."""
    key = exchange_status or status
    pair = ORDER_WORDS.get(key) or ORDER_WORDS.get(status)
    return t(pair) if pair else str(key)


def summary_lines(t: Callable[..., str], plan: TwapPlan) -> list[str]:
    """The end-of-plan summary per coin, in the reader's language (`t` picks ko/en): target, filled,
    shortfall, average price, cost vs the arrival mid, fees; a buy remainder below one unit reads as filled."""
    from kairos.money import fmt_krw, fmt_qty

    lines = []
    for leg in plan.legs:  # from the records as they are now (a late-adopted fill included)
        qty, krw_filled, fee = leg.fill_stats()
        avg = krw_filled / qty if qty else None
        is_krw = leg.unit == "krw"

        def amount(v: Decimal, coin: str = leg.target) -> str:
            return f"{fmt_krw(v)} KRW" if is_krw else f"{fmt_qty(v)} {coin}"

        left = leg.remaining()
        unit_value = leg.qty_unit * (avg or plan.arrival.get(leg.target) or Decimal(0))
        if left <= 0:
            short = ""
        elif is_krw and left < unit_value:
            short = t(SUMMARY["unit_left"], left=amount(left))
        else:
            short = t(SUMMARY["short"], left=amount(left))
        cost = plan.cost_bps(leg)
        lines.append(t(SUMMARY["leg"], coin=leg.target, side=side_word(t, leg.side), total=amount(leg.total),
                       filled=amount(leg.filled()), short=short,
                       avg=fmt_krw(avg.quantize(Decimal("0.0001"))) if avg is not None else "-",
                       bps=t(SUMMARY["bps"], v=f"{cost:+.1f}") if cost is not None else "-", fee=fmt_krw(fee)))
    return lines


def prune_finished(state: State, keep: int = 5, *, now: datetime | None = None, keep_days: int | None = None,
                   archive: Callable[[list[TwapPlan]], None] | None = None) -> list[TwapPlan]:
    """Drop finished plans from the state file (each was archived in the ledger when it closed).

    Completed plans beyond the newest `keep`; and any finished plan — completed, expired, superseded,
    failed or canceled — closed more than `keep_days` ago (`state.keep_finished_days`), so a tick's cost
    does not grow with history. A plan with an order still unresolved or lost-and-watched is never
    dropped. `archive(plans)` is called first (the ledger keeps every plan; one closed by an older
    version, or killed between its two writes, may not be there yet).
    """
    completed = [p for p in state.plans if p.status is PlanStatus.COMPLETED and p.settled()]
    dropped = completed[:-keep] if len(completed) > keep else []
    if now is not None and keep_days is not None:
        horizon = now - timedelta(days=keep_days)
        dropped += [p for p in state.plans if p.status in FINISHED and p not in dropped and p.settled()
                    and (p.closed_at or p.end_at) < horizon]
    if dropped and archive is not None:
        archive(dropped)  # before they leave the state file: the ledger is their history
    state.plans = [p for p in state.plans if p not in dropped]
    gone = {p.plan_id for p in dropped}
    if gone:
        state.forget_notices(gone)
    return dropped
