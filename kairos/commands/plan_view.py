"""Rendering of rebalance plans and TWAP schedules for the terminal (Korean default, English)."""
from __future__ import annotations

import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Any

from kairos.clock import KST
from kairos.core import twap
from kairos.core.rebalance import RebalancePlan
from kairos.money import fmt_krw, fmt_pct, fmt_qty
from kairos.output import Output
from kairos.engine.model import TwapPlan

M = {
    "title": ("📋 리밸런싱 계획 — 총자산 {total} KRW, {regime}: 암호화폐 {crypto}",
              "📋 Rebalance plan — total {total} KRW, {regime}: crypto {crypto}"),
    "order_col": ("주문", "order"),
    "cols": (("코인", "보유량", "평가액(KRW)", "현재", "목표", "차이(KRW)"), ("coin", "holding", "value (KRW)", "now", "target", "delta (KRW)")),
    "buy": ("매수 {amount} KRW", "BUY {amount} KRW"),
    "sell": ("매도 {qty} {coin}", "SELL {qty} {coin}"),
    "hold": ("유지 ({why})", "hold ({why})"),
    "why": {"below_drift": ("허용 오차 이내", "within drift"), "below_min_order": ("최소 주문 미만", "below min order"),
            "market_closed": ("거래 불가", "market closed"), "qty_locked": ("잠긴 수량", "qty locked"),
            "capped_by_krw": ("KRW 부족", "not enough KRW")},
    "outside": ("유니버스 밖 보유(거래하지 않음): {items}", "Held outside the universe (never traded): {items}"),
    "none": ("주문 없음: 모든 코인이 목표 범위 안에 있습니다.", "No orders: every coin is within its target range."),
    "twap_title": ("⏱️ TWAP 계획 {plan} ({regime} 기준, 종료 예정 {end} KST)", "⏱️ TWAP plan {plan} (for {regime}, ends {end} KST)"),
    "twap_leg": ("  • {coin} {side} 총 {total} — {slices}회 × {interval}분, ATR {atr} ({mode}), 종료 {end} KST",
                 "  • {coin} {side} total {total} — {slices} × {interval} min, ATR {atr} ({mode}), ends {end} KST"),
    "calm": ("안정", "calm"), "volatile": ("변동", "volatile"),
    "slot": ("      {n:>2}. {at} KST  {size}", "      {n:>2}. {at} KST  {size}"),
    "risk_on": ("위험선호(risk-on)", "risk-on"), "risk_off": ("위험회피(risk-off)", "risk-off"),
    "side_buy": ("매수", "BUY"), "side_sell": ("매도", "SELL"),
}


WIDTHS = (6, 16, 16, 8, 8, 15)


def width(text: str) -> int:
    """Terminal columns: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def row_text(first: str, *cells: str) -> str:
    """One table row: the first cell left-aligned, then right-aligned cells, then the order text."""
    *numbers, last = cells
    parts = [first + " " * max(WIDTHS[0] - width(first), 0)]
    parts += [" " * max(w - width(c), 0) + c for w, c in zip(WIDTHS[1:], numbers)]
    return "".join(parts) + "  " + last


def regime_name(out: Output, regime: str) -> str:
    return out.t(M["risk_on"] if regime == "risk_on" else M["risk_off"])


def print_plan(out: Output, plan: RebalancePlan, regime: str, crypto_ratio: Decimal, outside: dict[str, Decimal]) -> None:
    """The full plan table: coin, holding, value, current %, target %, delta, and the order or why not."""
    out.say(out.t(M["title"], total=fmt_krw(plan.total), regime=regime_name(out, regime), crypto=fmt_pct(crypto_ratio, 0)))
    cols = M["cols"][1] if out.lang == "en" else M["cols"][0]
    out.say(row_text(*cols, out.t(M["order_col"])))
    krw_weight = 1 - sum((r.current_weight for r in plan.rows), Decimal(0))
    for row in plan.rows:
        delta = f"{'+' if row.delta_krw > 0 else ''}{fmt_krw(row.delta_krw)}"
        out.say(row_text(row.target, fmt_qty(row.qty), fmt_krw(row.value), fmt_pct(row.current_weight),
                         fmt_pct(row.target_weight), delta, order_text(out, row)))
    krw_target = 1 - sum((r.target_weight for r in plan.rows), Decimal(0))
    out.say(row_text("KRW", "", fmt_krw(plan.total * krw_weight), fmt_pct(krw_weight), fmt_pct(krw_target), "", "").rstrip())
    if outside:
        out.say(out.t(M["outside"], items=", ".join(f"{c} {fmt_qty(q)}" for c, q in outside.items())))
    if not plan.has_orders:
        out.say(out.t(M["none"]))


def order_text(out: Output, row: Any) -> str:
    if row.action == "BUY":
        return out.t(M["buy"], amount=fmt_krw(row.order_krw))
    if row.action == "SELL":
        return out.t(M["sell"], qty=fmt_qty(row.order_qty), coin=row.target)
    why = M["why"].get(row.skip_reason or "", (row.skip_reason or "", row.skip_reason or ""))
    return out.t(M["hold"], why=out.t(why))


def print_twap_plan(out: Output, plan: TwapPlan, *, with_slots: bool) -> None:
    """The TWAP plan: each leg's schedule, and with `with_slots` every slot's time and nominal size."""
    out.say(out.t(M["twap_title"], plan=plan.plan_id, regime=regime_name(out, plan.regime), end=kst(plan.end_at)))
    for leg in plan.legs:
        def amount(v: Decimal, coin: str = leg.target, krw: bool = leg.unit == "krw") -> str:
            return f"{fmt_krw(v)} KRW" if krw else f"{fmt_qty(v)} {coin}"

        out.say(out.t(M["twap_leg"], coin=leg.target, side=out.t(M["side_buy"] if leg.is_buy else M["side_sell"]),
                      total=amount(leg.total), slices=leg.slices, interval=leg.interval_minutes,
                      atr=fmt_pct(leg.atr_pct, 2), mode=out.t(M["volatile"] if leg.volatile else M["calm"]),
                      end=kst(leg.end_at)))
        if with_slots:
            schedule = leg.schedule()
            nominal = leg.total / schedule.slices
            for k in range(schedule.slices):
                out.say(out.t(M["slot"], n=k + 1, at=kst(twap.slot_time(plan.start_at, k, schedule)),
                              size=amount(nominal)))


def kst(moment: datetime) -> str:
    return moment.astimezone(KST).strftime("%Y-%m-%d %H:%M")
