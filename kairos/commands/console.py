"""--balance and --orders [DAYS]: what the account holds and what was ordered, the screens a user looks at first.

--balance reads the exchange (tickers and balances once, open orders once) and the state file (without the
lock); --orders reads only the ledger. Neither changes anything.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from kairos.engine import plans as P
from kairos.commands.common import current_regime, read_market, targets_for
from kairos.commands.plan_view import kst, regime_name
from kairos.context import Context
from kairos.errors import ExchangeError
from kairos.money import ZERO, fmt_krw, fmt_pct, fmt_qty

M = {
    "title": ("💰 보유 자산 ({at} KST)", "💰 Holdings ({at} KST)"),
    "head": ("  {coin:<5} {avail:>16} {locked:>14} {price:>15} {value:>15} {weight:>7} {target:>7} {drift:>8}",
             "  {coin:<5} {avail:>16} {locked:>14} {price:>15} {value:>15} {weight:>7} {target:>7} {drift:>8}"),
    "cols": (("코인", "사용 가능", "주문 중", "가격(중간가)", "평가액(KRW)", "비중", "목표", "차이"),
             ("coin", "available", "locked", "price (mid)", "value (KRW)", "weight", "target", "drift")),
    "total": ("  합계 {total} KRW — 국면 {regime}", "  Total {total} KRW — regime {regime}"),
    "no_regime": ("아직 판단 없음 (--weekly-analysis)", "not decided yet (--weekly-analysis)"),
    "untrusted": ("  ⚠️ {coin}: 가격을 믿을 수 없어 마지막 체결가로 표시 — {why}",
                  "  ⚠️ {coin}: price not trusted, shown at its last trade — {why}"),
    "outside": ("  유니버스 밖 코인 (거래하지 않음): {items}", "  Coins outside the universe (never traded): {items}"),
    "open_none": ("  미체결 주문: 없음", "  Open orders: none"),
    "open": ("  미체결 주문 {n}건: {items}", "  Open orders ({n}): {items}"),
    "open_fail": ("  미체결 주문: 조회 실패 — {err}", "  Open orders: cannot be read — {err}"),
    "plan": ("  진행 중 TWAP {plan}: {pct} 완료, 끝 {end} KST", "  Active TWAP {plan}: {pct} done, ends {end} KST"),
    "no_plan": ("  진행 중인 TWAP 계획 없음", "  No active TWAP plan"),
    "orders_title": ("🧾 주문 내역 (최근 {days}일, {n}건)", "🧾 Orders (last {days} days, {n})"),
    "orders_none": ("  기록된 주문 없음", "  No order recorded"),
    "orders_head": (("시각(KST)", "계획", "코인", "방향", "주문", "체결", "평균가", "수수료", "비용bps", "상태"),
                    ("time (KST)", "plan", "coin", "side", "asked", "filled", "avg price", "fee", "cost bps", "status")),
    "buy": ("매수", "BUY"), "sell": ("매도", "SELL"),
}
def balance(ctx: Context) -> int:
    """--balance: holdings (available / locked), value at trusted prices, weight vs target, open orders, plan."""
    out, t = ctx.out, ctx.out.t
    view = read_market(ctx)
    state = ctx.state.read()
    regime = current_regime(state)
    targets = targets_for(ctx, regime) if regime else {}
    weights = view.valuation.weights()
    out.say(t(M["title"], at=kst(view.at)))
    cols = t(M["cols"])
    out.say(t(M["head"], coin=cols[0], avail=cols[1], locked=cols[2], price=cols[3], value=cols[4], weight=cols[5],
              target=cols[6], drift=cols[7]))
    rows = []
    krw = view.balances.get("KRW")
    for coin, position in view.valuation.coins.items():
        target = targets.get(coin)
        drift = weights[coin] - target if target is not None else None
        rows.append({"coin": coin, "available": position.qty_available, "locked": position.qty_locked,
                     "price": position.price, "value": position.value, "weight": weights[coin], "target": target,
                     "drift": drift, "trusted": view.quotes[coin].trusted})
        out.say(t(M["head"], coin=coin, avail=fmt_qty(position.qty_available), locked=fmt_qty(position.qty_locked),
                  price=fmt_krw(position.price), value=fmt_krw(position.value), weight=fmt_pct(weights[coin]),
                  target=fmt_pct(target) if target is not None else "-",
                  drift=f"{drift * 100:+.1f}%p" if drift is not None else "-"))
    krw_target = targets.get("KRW")
    krw_drift = weights["KRW"] - krw_target if krw_target is not None else None
    out.say(t(M["head"], coin="KRW", avail=fmt_krw(krw.available if krw else ZERO),
              locked=fmt_krw(krw.limit if krw else ZERO), price="-", value=fmt_krw(view.valuation.krw_total),
              weight=fmt_pct(weights["KRW"]), target=fmt_pct(krw_target) if krw_target is not None else "-",
              drift=f"{krw_drift * 100:+.1f}%p" if krw_drift is not None else "-"))
    out.say(t(M["total"], total=fmt_krw(view.valuation.total),
              regime=regime_name(out, regime.value) if regime else t(M["no_regime"])))
    for coin, quote in view.untrusted.items():
        out.say(t(M["untrusted"], coin=coin, why=quote.problem))
    if view.valuation.outside:
        out.say(t(M["outside"], items=", ".join(f"{c} {fmt_qty(q)}" for c, q in view.valuation.outside.items())))
    open_orders = show_open_orders(ctx)
    plans = state.active_plans()
    for plan in plans:
        out.say(t(M["plan"], plan=plan.plan_id, pct=fmt_pct(plan.progress()), end=kst(plan.end_at)))
    if not plans:
        out.say(t(M["no_plan"]))
    out.emit({"at": view.at, "total_krw": view.valuation.total, "regime": regime.value if regime else None,
              "krw": {"available": krw.available if krw else ZERO, "locked": krw.limit if krw else ZERO,
                      "weight": weights["KRW"], "target": krw_target},
              "coins": rows, "outside": view.valuation.outside, "open_orders": open_orders,
              "plans": [{"plan_id": p.plan_id, "progress": p.progress(), "end_at": p.end_at} for p in plans]})
    return 0


def show_open_orders(ctx: Context) -> list[dict[str, Any]]:
    out, t = ctx.out, ctx.out.t
    try:
        orders = ctx.client.active_orders()
    except ExchangeError as exc:
        out.say(t(M["open_fail"], err=exc))
        return []
    rows = [{"order_id": o.order_id, "coin": o.target, "side": o.side, "type": o.type,
             "user_order_id": o.user_order_id} for o in orders]
    if not rows:
        out.say(t(M["open_none"]))
    else:
        out.say(t(M["open"], n=len(rows), items=", ".join(f"{r['coin']} {r['side']} {r['type']}" for r in rows[:10])))
    return rows


def orders(ctx: Context) -> int:
    """--orders [DAYS]: the order history from the ledger, newest last."""
    out, t = ctx.out, ctx.out.t
    days = int(getattr(ctx.args, "orders", None) or 30)
    since = ctx.clock.now() - timedelta(days=days)
    rows = ctx.ledger.orders(since=since) if ctx.paths.ledger_file.exists() else []
    out.say(t(M["orders_title"], days=days, n=len(rows)))
    head = t(M["orders_head"])
    table = [list(head)]
    for r in rows:
        asked = f"{fmt_krw(r.amount_krw)} KRW" if r.amount_krw else fmt_qty(r.qty or ZERO)
        table.append([kst(r.created_at), r.plan_id or "-", r.target, t(M["buy"] if r.side == "BUY" else M["sell"]), asked,
                      fmt_qty(r.executed_qty), fmt_krw(r.avg_price) if r.avg_price > 0 else "-", fmt_krw(r.fee),
                      r.slippage_bps if r.slippage_bps is not None else "-", P.order_word(t, r.status)])
    if rows:
        widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
        for row in table:
            out.say("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    else:
        out.say(t(M["orders_none"]))
    out.emit({"days": days, "orders": [{**asdict(r), "status_text": P.order_word(t, r.status)} for r in rows]})
    return 0
