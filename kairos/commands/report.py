"""--performance-report DAYS: returns net of deposits, risk, benchmarks, costs, weights, regimes — from the ledger.

Figures come from the ledger's snapshots and orders; external KRW flows from the exchange's KRW
transaction history (the simulator serves the same endpoint in mock mode). No figure is printed that
the data cannot support: with too little history the report says how much there is.
"""
from __future__ import annotations

import logging
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

from kairos.clock import KST, from_ms, to_ms
from kairos.commands.plan_view import regime_name
from kairos.context import Context
from kairos.core import performance as perf
from kairos.errors import KairosError, StateError
from kairos.ledger import OrderRow, Snapshot
from kairos.money import fmt_krw, fmt_pct

log = logging.getLogger("kairos.report")
WINDOW_MS = 90 * 86_400_000  # Coinone's history endpoints accept at most 90 days per request
PAGE = 100
SLICES_SHOWN = 12

M = {
    "title": ("📊 KAIROS-1 성과 보고서 — 최근 {days}일 ({since} ~ {until} KST)", "📊 KAIROS-1 performance report — last {days} days ({since} to {until} KST)"),
    "span": ("기록: 스냅샷 {n}개, {first} ~ {last} KST ({span})", "History: {n} snapshots, {first} to {last} KST ({span})"),
    "few": ("최근 {days}일 동안 스냅샷이 {n}개뿐이라 수익률을 계산할 수 없습니다 (2개 이상 필요). 원장 전체: {total}개{first}.",
            "Only {n} snapshot(s) in the last {days} days: no return can be computed (2 needed). Whole ledger: {total}{first}."),
    "first_ever": (", 가장 오래된 기록 {at} KST", ", oldest {at} KST"),
    "flows": ("입출금: 입금 {dn}건 {dep} KRW, 출금 {wn}건 {wd} KRW — 수익률 계산에서 제외",
              "Deposits/withdrawals: {dn} in {dep} KRW, {wn} out {wd} KRW — excluded from returns"),
    "no_flows": ("입출금: 없음", "Deposits/withdrawals: none"),
    "flows_unknown": ("⚠️ KRW 입출금 내역을 읽지 못했습니다 ({err}): 기간 중 입출금이 있었다면 아래 수익률에 섞여 있습니다.",
                      "⚠️ Could not read the KRW deposit/withdrawal history ({err}): any flow in the window is mixed into the returns below."),
    "coin_note": ("  (코인 입출고 내역은 읽지 않습니다: 코인을 직접 옮겼다면 수익률에 섞여 있습니다)", "  (coin transfers are not read: moving coins in or out shows up as return)"),
    "value": ("평가액: {start} → {end} KRW{pnl}", "Value: {start} → {end} KRW{pnl}"),
    "pnl": (" (입출금 제외 손익 {pnl} KRW)", " (P&L excluding flows {pnl} KRW)"),
    "returns": ("📈 수익률(시간가중) / 최대낙폭 / 연환산 변동성", "📈 Time-weighted return / max drawdown / annualised volatility"),
    "row": ("  {name} {twr:>9}  {mdd:>9}  {vol:>9}", "  {name} {twr:>9}  {mdd:>9}  {vol:>9}"),
    "portfolio": ("포트폴리오", "Portfolio"), "btc_hold": ("BTC 보유", "BTC buy-and-hold"),
    "static_mix": ("{crypto}/{krw} 분기 리밸런싱", "{crypto}/{krw} rebalanced quarterly"),
    "start_weights": ("시작 비중 유지", "Hold starting weights"),
    "no_vol": ("  (변동성: 7일 이상·스냅샷 4개 이상일 때만 계산)", "  (volatility: only with ≥ 7 days and ≥ 4 snapshots)"),
    "fees": ("💸 수수료 {fee} KRW — 체결 {n}건, 체결액 {krw} KRW ({bps})", "💸 Fees {fee} KRW — {n} fill(s), {krw} KRW traded ({bps})"),
    "no_fills": ("💸 기간 중 체결된 주문이 없습니다.", "💸 No order filled in the window."),
    "plans": ("실행 비용 (계획별, bps = 1/10,000):", "Execution cost per plan (bps = 1/10,000):"),
    "plan": ("  • {plan}: {n}건 {krw} KRW — 슬라이스 중간가 대비 {slip}, 도착가 대비 {arr}, 수수료 {fee}, 합계 {total}",
             "  • {plan}: {n} fill(s) {krw} KRW — vs slice mid {slip}, vs arrival {arr}, fees {fee}, total {total}"),
    "slices": ("실행 비용 (슬라이스별, 최근 {n}건):", "Execution cost per slice (latest {n}):"),
    "slice": ("  {at} {coin} {side} {krw} KRW — 중간가 대비 {slip}, 수수료 {fee} KRW", "  {at} {coin} {side} {krw} KRW — vs mid {slip}, fee {fee} KRW"),
    "weights": ("⚖️ 현재 비중 vs 목표 ({at} KST 스냅샷, {regime}):", "⚖️ Current vs target weights (snapshot {at} KST, {regime}):"),
    "weight": ("  {asset:<5} {actual:>7} / 목표 {target:>7} ({gap}%p)", "  {asset:<5} {actual:>7} / target {target:>7} ({gap} pp)"),
    "no_target": ("  (기록된 목표 없음: 국면이 정해지기 전 스냅샷)", "  (no target recorded: snapshot taken before any regime)"),
    "regimes": ("🧭 국면 이력:", "🧭 Regime history:"),
    "regime": ("  {at} KST {regime}{note}", "  {at} KST {regime}{note}"),
    "first": (" (첫 판단)", " (first decision)"), "flip": (" ({old}에서 전환)", " (from {old})"),
    "before": (" (기간 시작 시점의 국면)", " (regime at the start of the window)"),
    "no_regime": ("🧭 국면 기록 없음 (주간 분석이 아직 실행되지 않음)", "🧭 No regime recorded yet (no weekly analysis so far)"),
    "chart": ("🖼️ 차트 저장: {path}", "🖼️ Chart written: {path}"),
    "no_chart": ("🖼️ 차트를 만들지 않았습니다: 스냅샷이 2개 이상 필요합니다.", "🖼️ No chart: it needs at least 2 snapshots."),
    "buy": ("매수", "BUY"), "sell": ("매도", "SELL"), "dash": ("—", "—"),
    "hours": ("{n}시간", "{n} h"), "days_": ("{n}일", "{n} days"),
}


@dataclass
class Series:
    """What the chart draws: one growth-of-1 index per line, and the portfolio's drawdown."""
    times: list[datetime]
    lines: dict[str, list[Decimal]]
    drawdown: list[Decimal]


# ---- entry ----------------------------------------------------------------------------------------------
def run(ctx: Context) -> int:
    """Print (or emit as JSON) the report for the last DAYS days; write the chart when asked."""
    days, now = int(ctx.args.performance_report), ctx.clock.now()
    report, series = build(ctx, now - timedelta(days=days), now, days)
    chart = getattr(ctx.args, "chart", None)
    if chart:
        ratio = ctx.settings.strategy.season_filter.risk_on_crypto_ratio
        mix = f"{ratio * 100:.0f}/{(1 - ratio) * 100:.0f}"
        from kairos.commands.report_chart import write_chart

        report["chart"] = write_chart(Path(chart).expanduser(), series, report, ctx.simulated, mix) if series else None
    show(ctx, report)
    ctx.out.emit(report)
    return 0


def build(ctx: Context, since: datetime, until: datetime, days: int) -> tuple[dict[str, Any], Series | None]:
    every = ctx.ledger.snapshots(since, until)
    snaps = [every[i] for i in perf.keep_spaced([s.at for s in every])]
    rows = [r for r in ctx.ledger.orders(since=since) if r.created_at <= until]
    report: dict[str, Any] = {"days": days, "since": since, "until": until, "history": history(ctx, snaps),
                              "costs": costs(ctx, rows), "weights": weights(snaps), "regimes": regimes(ctx, since)}
    if len(snaps) < 2:
        report.update(flows=None, portfolio=None, benchmarks=None)
        return report, None
    flows, error = read_flows(ctx, snaps[0].at, snaps[-1].at)
    report["flows"] = {"known": error is None, "error": error, **perf.flow_summary(flows)}
    figures, series = analyse(ctx, snaps, flows, known=error is None)
    return report | figures, series


# ---- data ---------------------------------------------------------------------------------------------------
def history(ctx: Context, snaps: Sequence[Snapshot]) -> dict[str, Any]:
    row = ctx.ledger.read("SELECT COUNT(*) AS n, MIN(at) AS first FROM snapshots")[0]
    data: dict[str, Any] = {"snapshots_in_window": len(snaps), "snapshots_total": row["n"], "first_snapshot": row["first"]}
    if snaps:
        data.update(window_first=snaps[0].at.isoformat(), window_last=snaps[-1].at.isoformat(),
                    span_days=perf.days_between(snaps[0].at, snaps[-1].at))
    return data


def read_flows(ctx: Context, start: datetime, end: datetime) -> tuple[list[perf.Flow], str | None]:
    """Completed KRW deposits/withdrawals in [start, end] from the exchange; (flows, error text)."""
    try:
        rows = krw_transactions(ctx.client, to_ms(start), to_ms(end))
    except KairosError as exc:
        log.warning("KRW history unavailable: %s", exc)
        return [], str(exc)
    flows = [f for f in (perf.flow_from_transaction(t.status, t.amount, t.fee, from_ms(t.created_at)) for t in rows) if f]
    # a flow at the first snapshot's instant is already inside its value (see core.performance)
    return sorted(perf.flows_between(flows, start, end), key=lambda f: f.at), None


def krw_transactions(client: Any, from_ms: int, to_ms_: int) -> list[Any]:
    """Every row in [from_ms, to_ms_], in windows of ≤ 90 days, paged backwards (deduplicated by id)."""
    seen: dict[str, Any] = {}
    hi = to_ms_
    while hi >= from_ms:
        lo = max(from_ms, hi - WINDOW_MS)
        _page_window(client, lo, hi, seen)
        hi = lo - 1
    return list(seen.values())


def _page_window(client: Any, lo: int, hi: int, seen: dict[str, Any]) -> None:
    # the client has no `to_id`: page by moving `to_ts` to the oldest row seen (inclusive, so dedupe by id)
    while True:
        page = client.krw_history(lo, hi, size=PAGE)
        fresh = [t for t in page if t.id not in seen]
        seen.update((t.id, t) for t in fresh)
        if len(page) < PAGE:
            return
        oldest = min(t.created_at for t in page)
        hi = oldest if fresh else oldest - 1  # a full page of one millisecond: step past it
        if hi < lo:
            return


def plan_arrivals(ctx: Context) -> dict[str, dict[str, Decimal]]:
    """Arrival prices of every known plan (archived in the ledger, or still in the state file)."""
    arrivals = {p["plan_id"]: {c: Decimal(v) for c, v in (p.get("arrival") or {}).items()}
                for p in ctx.ledger.archived_plans()}
    try:
        arrivals.update({p.plan_id: dict(p.arrival) for p in ctx.state.read().plans})
    except StateError:
        log.warning("state file unreadable; arrival costs only for archived plans")
    return arrivals


# ---- figures ------------------------------------------------------------------------------------------------
def analyse(ctx: Context, snaps: Sequence[Snapshot], flows: Sequence[perf.Flow], *,
            known: bool) -> tuple[dict[str, Any], Series]:
    times = [s.at for s in snaps]
    values = [s.total_krw for s in snaps]
    index = perf.twr_index(times, values, flows)
    series = Series(times, {"portfolio": index}, perf.drawdown_series(index))
    start, end = values[0], values[-1]
    portfolio = {"start_value": start, "end_value": end, "pnl": end - start - perf.net_flow(flows) if known else None,
                 **perf.figures(times, index)}
    benchmarks = {}
    for name, line in benchmark_lines(ctx, snaps, times).items():
        benchmarks[name] = perf.figures(times, line) if line is not None else None
        series.lines.update({name: line} if line is not None else {})
    return {"portfolio": portfolio, "benchmarks": benchmarks}, series


def benchmark_lines(ctx: Context, snaps: Sequence[Snapshot], times: Sequence[datetime]) -> dict[str, Any]:
    """Benchmarks from the snapshots' own prices (see core.performance.benchmarks)."""
    s = ctx.settings.strategy
    prices = [{c: v["price"] for c, v in snap.coins.items()} for snap in snaps]
    return perf.benchmarks(times, prices, s.portfolio.weights, s.season_filter.risk_on_crypto_ratio, snaps[0].weights())


def fill_of(row: OrderRow) -> perf.Fill:
    return perf.Fill(row.plan_id, row.target, row.side, row.executed_qty, row.executed_krw, row.fee, row.slippage_bps)


def costs(ctx: Context, rows: Sequence[OrderRow]) -> dict[str, Any]:
    """Fees and execution cost of the orders that filled: all together, per plan, per slice."""
    pairs = [(r, f) for r, f in ((r, fill_of(r)) for r in rows) if f.qty > 0]
    done = [f for _, f in pairs]
    plans = perf.plan_costs(done, plan_arrivals(ctx)) if done else []
    slices = [{"at": r.created_at.isoformat(), "user_order_id": r.user_order_id, **asdict(f),
               "fee_bps": perf.fee_bps(f.fee, f.krw)} for r, f in pairs]
    return {"all": cost_data(perf.cost_of("all", done)), "plans": [cost_data(c) for c in plans], "slices": slices}


def cost_data(cost: perf.Cost) -> dict[str, Any]:
    return {**asdict(cost), "total_bps": cost.total_bps}


def weights(snaps: Sequence[Snapshot]) -> dict[str, Any] | None:
    if not snaps:
        return None
    last = snaps[-1]
    return {"at": last.at.isoformat(), "regime": last.regime, "rows": perf.weight_gaps(last.weights(), last.targets)}


def regimes(ctx: Context, since: datetime) -> list[dict[str, Any]]:
    every = ctx.ledger.decisions(datetime(1970, 1, 1, tzinfo=timezone.utc), kind="weekly_analysis")
    return perf.regime_changes(every, since.isoformat())


# ---- text ---------------------------------------------------------------------------------------------------
def show(ctx: Context, r: dict[str, Any]) -> None:
    out = ctx.out
    out.say(out.t(M["title"], days=r["days"], since=_kst(r["since"]), until=_kst(r["until"])))
    show_history(ctx, r)
    if r["portfolio"] is not None:
        show_flows(ctx, r["flows"])
        show_returns(ctx, r)
    show_costs(ctx, r["costs"])
    show_weights(ctx, r["weights"])
    show_regimes(ctx, r["regimes"])
    if "chart" in r:
        out.say(out.t(M["chart"], path=r["chart"]) if r["chart"] else out.t(M["no_chart"]))


def show_history(ctx: Context, r: dict[str, Any]) -> None:
    out, h = ctx.out, r["history"]
    if h["snapshots_in_window"] < 2:
        first = out.t(M["first_ever"], at=_kst(h["first_snapshot"])) if h["first_snapshot"] else ""
        out.say(out.t(M["few"], days=r["days"], n=h["snapshots_in_window"], total=h["snapshots_total"], first=first))
        return
    out.say(out.t(M["span"], n=h["snapshots_in_window"], first=_kst(h["window_first"]), last=_kst(h["window_last"]),
                  span=_span(out, h["span_days"])))


def show_flows(ctx: Context, f: dict[str, Any]) -> None:
    out = ctx.out
    if not f["known"]:
        out.say(out.t(M["flows_unknown"], err=f["error"]))
    else:
        out.say(out.t(M["flows"], dn=f["deposit_count"], dep=fmt_krw(f["deposits"]), wn=f["withdrawal_count"],
                      wd=fmt_krw(f["withdrawals"])) if f["items"] else out.t(M["no_flows"]))
    out.say(out.t(M["coin_note"]))


def show_returns(ctx: Context, r: dict[str, Any]) -> None:
    out, p = ctx.out, r["portfolio"]
    pnl = out.t(M["pnl"], pnl=("+" if p["pnl"] > 0 else "") + fmt_krw(p["pnl"])) if p["pnl"] is not None else ""
    out.say(out.t(M["value"], start=fmt_krw(p["start_value"]), end=fmt_krw(p["end_value"]), pnl=pnl))
    out.say(out.t(M["returns"]))
    out.say(_figure_row(out, out.t(M["portfolio"]), p))
    ratio = ctx.settings.strategy.season_filter.risk_on_crypto_ratio
    for name in ("btc_hold", "static_mix", "start_weights"):
        label = out.t(M[name], crypto=fmt_pct(ratio, 0).rstrip("%"), krw=fmt_pct(1 - ratio, 0).rstrip("%"))
        figures = r["benchmarks"].get(name)
        out.say(_figure_row(out, label, figures or {"twr": None, "max_drawdown": None, "volatility": None}))
    if p["volatility"] is None:
        out.say(out.t(M["no_vol"]))


def _figure_row(out: Any, name: str, f: dict[str, Any]) -> str:
    return out.t(M["row"], name=_pad(name, 28), twr=_pct(out, f["twr"]), mdd=_pct(out, f["max_drawdown"]),
                 vol=_pct(out, f["volatility"], signed=False))


def show_costs(ctx: Context, c: dict[str, Any]) -> None:
    out, every = ctx.out, c["all"]
    if not every["orders"]:
        out.say(out.t(M["no_fills"]))
        return
    out.say(out.t(M["fees"], fee=fmt_krw(every["fees"]), n=every["orders"], krw=fmt_krw(every["executed_krw"]),
                  bps=_bps(out, every["fee_bps"])))
    out.say(out.t(M["plans"]))
    for p in c["plans"]:
        out.say(out.t(M["plan"], plan=p["key"], n=p["orders"], krw=fmt_krw(p["executed_krw"]), slip=_bps(out, p["slippage_bps"]),
                      arr=_bps(out, p["arrival_bps"]), fee=_bps(out, p["fee_bps"]), total=_bps(out, p["total_bps"])))
    shown = c["slices"][-SLICES_SHOWN:]
    out.say(out.t(M["slices"], n=len(shown)))
    for s in shown:
        out.say(out.t(M["slice"], at=_kst(s["at"]), coin=s["coin"], side=out.t(M["buy" if s["side"] == "BUY" else "sell"]),
                      krw=fmt_krw(s["krw"]), slip=_bps(out, s["slippage_bps"]), fee=fmt_krw(s["fee"])))


def show_weights(ctx: Context, w: dict[str, Any] | None) -> None:
    if w is None:
        return
    out = ctx.out
    regime = regime_name(out, w["regime"]) if w["regime"] else out.t(M["dash"])
    out.say(out.t(M["weights"], at=_kst(w["at"]), regime=regime))
    if all(row["target"] is None for row in w["rows"]):
        out.say(out.t(M["no_target"]))
    for row in w["rows"]:
        target = fmt_pct(row["target"]) if row["target"] is not None else out.t(M["dash"])
        gap = f"{row['gap'] * 100:+.1f}" if row["gap"] is not None else out.t(M["dash"])
        out.say(out.t(M["weight"], asset=row["asset"], actual=fmt_pct(row["actual"]), target=target, gap=gap))


def show_regimes(ctx: Context, items: Sequence[dict[str, Any]]) -> None:
    out = ctx.out
    if not items:
        out.say(out.t(M["no_regime"]))
        return
    out.say(out.t(M["regimes"]))
    for c in items:
        note = (out.t(M["before"]) if c.get("before_window") else out.t(M["first"]) if c["previous"] is None
                else out.t(M["flip"], old=regime_name(out, c["previous"])))
        out.say(out.t(M["regime"], at=_kst(c["at"]), regime=regime_name(out, c["regime"]), note=note))


# ---- formatting ---------------------------------------------------------------------------------------------
def _kst(value: datetime | str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(KST).strftime("%Y-%m-%d %H:%M")


def _pad(text: str, width: int) -> str:
    """Left-align in terminal columns (Hangul and other wide characters take two)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - used, 0)


def _span(out: Any, days: Decimal) -> str:
    return out.t(M["hours"], n=f"{days * 24:.1f}") if days < 1 else out.t(M["days_"], n=f"{days:.1f}")


def _pct(out: Any, value: Decimal | None, signed: bool = True) -> str:
    return out.t(M["dash"]) if value is None else f"{value * 100:+.2f}%" if signed else f"{value * 100:.2f}%"


def _bps(out: Any, value: Decimal | None) -> str:
    return f"{value:.2f}bps" if value is not None else out.t(M["dash"])
