"""TWAP plans as stored in the state file: creation from a rebalance plan, and read helpers.

A plan is a JSON-friendly dict (Decimals as strings) so the state file stays the single source of
truth across cron runs. Status: active → completed | expired | superseded | failed. Only
`active` plans are ever executed; the others are history.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable

from kairos.coinone.models import MarketRules, RangeUnit, TickTable
from kairos.core import twap
from kairos.core.rebalance import RebalancePlan
from kairos.core.types import Side
from kairos.execution import OPEN, UNRESOLVED, executed
from kairos.money import ZERO
from kairos.notify.texts import side_word

ACTIVE = "active"
FINISHED = ("completed", "expired", "superseded", "failed", "canceled")
CLEARABLE = ("expired", "superseded", "failed", "canceled")


def new_plan_id(state: dict[str, Any], prefix: str, now: datetime) -> str:
    """A unique lowercase id (time + a sequence kept in the state file)."""
    state["seq"] = int(state.get("seq", 0)) + 1
    return f"{prefix}-{now.strftime('%Y%m%dt%H%M').lower()}-{state['seq']}"


def build_plan(plan_id: str, *, plan: RebalancePlan, rules: dict[str, MarketRules], atr: dict[str, Decimal],
               settings: Any, now: datetime, regime: str, kind: str, arrival: dict[str, Decimal]) -> dict[str, Any]:
    """A new active TWAP plan: one leg per order intent, each with its own ATR-chosen schedule."""
    ex = settings.execution
    legs = []
    for intent in plan.intents:
        rule = rules[intent.target]
        is_buy = intent.side is Side.BUY
        total = intent.amount_krw if is_buy else intent.qty
        min_size = twap.min_slice(intent.side.value, rule.min_order_krw, rule.qty_unit, intent.price)
        schedule = twap.choose_schedule(atr[intent.target], ex.atr_threshold, (ex.calm.slices, ex.calm.interval_minutes),
                                        (ex.volatile.slices, ex.volatile.interval_minutes))
        schedule = twap.fit_slices(schedule, total, min_size)
        legs.append({
            "target": intent.target, "side": intent.side.value, "unit": "krw" if is_buy else "qty",
            "total": str(total), "est_krw": str(intent.est_krw), "slices": schedule.slices,
            "interval_minutes": schedule.interval_minutes, "volatile": schedule.volatile,
            "atr_pct": str(atr[intent.target]), "qty_unit": str(rule.qty_unit), "min_order_krw": str(rule.min_order_krw),
            "ticks": [[str(u.range_min), str(u.next_range_min) if u.next_range_min is not None else None, str(u.price_unit)]
                      for u in rule.ticks.units],
            "slots_used": 0, "status": ACTIVE, "waiting": None, "orders": [],
            "end_at": twap.end_time(now, schedule).isoformat(),
        })
    end = max((datetime.fromisoformat(l["end_at"]) for l in legs), default=now)
    return {"plan_id": plan_id, "kind": kind, "status": ACTIVE, "created_at": now.isoformat(), "start_at": now.isoformat(),
            "end_at": end.isoformat(), "regime": regime, "arrival": {k: str(v) for k, v in arrival.items()},
            "legs": legs, "rejections": 0}


def schedule_of(leg: dict[str, Any]) -> twap.Schedule:
    return twap.Schedule(int(leg["slices"]), int(leg["interval_minutes"]), bool(leg["volatile"]))


def leg_filled(leg: dict[str, Any]) -> Decimal:
    """What this leg has filled so far, in its unit, from actual fills."""
    return sum((executed(o, leg["unit"]) for o in leg["orders"]), ZERO)


def leg_remaining(leg: dict[str, Any]) -> Decimal:
    return max(Decimal(leg["total"]) - leg_filled(leg), ZERO)


def leg_unresolved(leg: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in leg["orders"] if o.get("status") in (*UNRESOLVED, OPEN)]


def leg_fill_stats(leg: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
    """(executed qty, executed KRW, fees) over the leg's orders."""
    qty = sum((Decimal(o.get("executed_qty") or 0) for o in leg["orders"]), ZERO)
    krw = sum((Decimal(o.get("executed_krw") or 0) for o in leg["orders"]), ZERO)
    fee = sum((Decimal(o.get("fee") or 0) for o in leg["orders"]), ZERO)
    return qty, krw, fee


def leg_cost_bps(plan: dict[str, Any], leg: dict[str, Any]) -> Decimal | None:
    """Average fill vs the plan's arrival mid price, in bps (positive = cost)."""
    qty, krw, _ = leg_fill_stats(leg)
    arrival = Decimal(plan.get("arrival", {}).get(leg["target"]) or 0)
    if qty <= 0 or arrival <= 0:
        return None
    return twap.slippage_bps(leg["side"], arrival, krw / qty)


def active_plans(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in state.get("plans", []) if p.get("status") == ACTIVE]


def plans_with_unresolved(state: dict[str, Any]) -> Iterable[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(plan, leg, order) for every order whose result is not known yet, in any plan."""
    for plan in state.get("plans", []):
        for leg in plan["legs"]:
            for order in leg_unresolved(leg):
                yield plan, leg, order


def plan_end(plan: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(plan["end_at"])


def expiry_time(plan: dict[str, Any], grace_minutes: int) -> datetime:
    return plan_end(plan) + timedelta(minutes=grace_minutes)


def plan_progress(plan: dict[str, Any]) -> Decimal:
    """Value-weighted share of the plan done (by each leg's estimated KRW)."""
    weights = [(Decimal(l["est_krw"]), twap.progress(Decimal(l["total"]), leg_filled(l))) for l in plan["legs"]]
    total = sum((w for w, _ in weights), ZERO)
    if total <= 0:
        return Decimal(1)
    return sum((w * p for w, p in weights), ZERO) / total


def summary(plan: dict[str, Any]) -> dict[str, Any]:
    """Per-leg outcome (filled, shortfall, average price, fees, cost bps) for alerts, status and the ledger."""
    legs = {}
    for leg in plan["legs"]:
        qty, krw, fee = leg_fill_stats(leg)
        legs[leg["target"]] = {
            "side": leg["side"], "unit": leg["unit"], "total": leg["total"], "filled": str(leg_filled(leg)),
            "shortfall": str(leg_remaining(leg)), "avg_price": str((krw / qty).quantize(Decimal("0.0001"))) if qty else None,
            "fee_krw": str(fee), "cost_bps": str(leg_cost_bps(plan, leg)) if leg_cost_bps(plan, leg) is not None else None,
            "orders": len(leg["orders"]), "status": leg["status"],
        }
    return {"progress": str(plan_progress(plan).quantize(Decimal("0.0001"))), "legs": legs}


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


def plan_word(t: Any, status: str) -> str:
    """A plan's status as a word in the reader's language (`t` picks ko/en)."""
    return t(STATUS_WORDS[status]) if status in STATUS_WORDS else status


def order_word(t: Any, record: dict[str, Any]) -> str:
    """An order's exchange status (else ours) as a person reads it: a fully spent buy is "filled"."""
    key = record.get("exchange_status") or record.get("status") or ""
    pair = ORDER_WORDS.get(key) or ORDER_WORDS.get(record.get("status") or "")
    return t(pair) if pair else key


def summary_lines(t: Any, plan: dict[str, Any]) -> list[str]:
    """The end-of-plan summary per coin, in the reader's language (`t` picks ko/en): target, filled,
    shortfall, average price, cost vs the arrival mid, fees; a buy remainder below one unit reads as filled."""
    from kairos.money import fmt_krw, fmt_qty

    lines = []
    legs = summary(plan)["legs"]  # from the records as they are now (a late-adopted fill included)
    for leg in plan["legs"]:
        data = legs[leg["target"]]
        krw = leg["unit"] == "krw"
        amount = (lambda v: f"{fmt_krw(Decimal(v))} KRW") if krw else (lambda v: f"{fmt_qty(Decimal(v))} {leg['target']}")
        left = Decimal(data["shortfall"])
        unit_value = Decimal(leg["qty_unit"]) * Decimal((data.get("avg_price") or plan.get("arrival", {}).get(leg["target"]) or 0))
        if left <= 0:
            short = ""
        elif krw and left < unit_value:
            short = t(SUMMARY["unit_left"], left=amount(left))
        else:
            short = t(SUMMARY["short"], left=amount(left))
        cost = data.get("cost_bps")
        lines.append(t(SUMMARY["leg"], coin=leg["target"], side=side_word(t, leg["side"]),
                       total=amount(data["total"]), filled=amount(data["filled"]), short=short,
                       avg=fmt_krw(Decimal(data["avg_price"])) if data.get("avg_price") else "-",
                       bps=t(SUMMARY["bps"], v=f"{Decimal(cost):+.1f}") if cost else "-", fee=fmt_krw(Decimal(data["fee_krw"]))))
    return lines


def prune_finished(state: dict[str, Any], keep: int = 5, *, now: datetime | None = None,
                   keep_days: int | None = None, archive: Any = None) -> list[dict[str, Any]]:
    """Drop finished plans from the state file (each was archived in the ledger when it closed).

    Completed plans beyond the newest `keep`; and any finished plan — completed, expired, superseded or
    failed — closed more than `keep_days` ago (`state.keep_finished_days`), so a tick's cost does not
    grow with history. A plan with an order still unresolved or lost-and-watched is never dropped.
    `archive(plans)` is called first (the ledger keeps every plan; one closed by an older version, or
    killed between its two writes, may not be there yet).
    """
    def settled(plan: dict[str, Any]) -> bool:
        return not any(o.get("status") in (*UNRESOLVED, OPEN, "lost") for leg in plan["legs"] for o in leg["orders"])

    completed = [p for p in state["plans"] if p["status"] == "completed" and settled(p)]
    dropped = completed[:-keep] if len(completed) > keep else []
    if now is not None and keep_days is not None:
        horizon = now - timedelta(days=keep_days)
        dropped += [p for p in state["plans"] if p["status"] in FINISHED and p not in dropped and settled(p)
                    and datetime.fromisoformat(p.get("closed_at") or p["end_at"]) < horizon]
    if dropped and archive is not None:
        archive(dropped)  # before they leave the state file: the ledger is their history
    state["plans"] = [p for p in state["plans"] if p not in dropped]
    gone = {p["plan_id"] for p in dropped}
    if gone:  # their one-time alert markers go with them
        state["notices"] = {k: v for k, v in state.get("notices", {}).items() if not set(k.split(":")) & gone}
    return dropped


def leg_ticks(leg: dict[str, Any]) -> TickTable:
    """The tick table stored with the leg at plan time (no per-tick exchange call needed)."""
    return TickTable(tuple(RangeUnit(Decimal(lo), Decimal(hi) if hi is not None else None, Decimal(unit))
                           for lo, hi, unit in leg["ticks"]))
