"""--weekly-analysis: BTC vs its 200-week moving average (±band, hysteresis) → the regime.

No market data → no decision (exit 1). With the decision saved, a portfolio snapshot is recorded;
when the regime flips and `rebalance_on_season_change` is on, a TWAP rebalance starts at once.
"""
from __future__ import annotations

from kairos.commands import plan_view, season
from kairos.commands.common import current_regime, locked_or_fail, read_market, snapshot_and_check
from kairos.context import Context
from kairos.core.allocation import crypto_ratio
from kairos.core.season import SeasonDecision
from kairos.money import fmt_krw, fmt_pct
from kairos.commands.rebalance import catch_up, run_tick, start_season_twap

M = {
    "title": ("📊 주간 시장 계절 분석 ({coin}/KRW)", "📊 Weekly market season analysis ({coin}/KRW)"),
    "price": ("  현재가: {price} KRW", "  Price: {price} KRW"),
    "ma": ("  {weeks}주 이동평균: {ma} KRW (완료된 주봉 {n}개)", "  {weeks}-week MA: {ma} KRW ({n} completed weekly candles)"),
    "ratio": ("  가격/이동평균: {ratio}", "  Price / MA: {ratio}"),
    "band": ("  밴드: 하단 {lower} KRW ~ 상단 {upper} KRW (±{band})", "  Band: lower {lower} KRW to upper {upper} KRW (±{band})"),
    "zone": ("  위치: {zone}", "  Zone: {zone}"),
    "zones": {"above": ("밴드 위", "above the band"), "inside": ("밴드 안", "inside the band"), "below": ("밴드 아래", "below the band")},
    "regime": ("  판단: {regime}", "  Decision: {regime}"),
    "split": ("  목표 배분: 암호화폐 {crypto} / KRW {krw}", "  Target split: crypto {crypto} / KRW {krw}"),
    "reason": ("  이유: {reason}", "  Why: {reason}"),
    "changed": ("  🔄 국면 전환: {old} → {new}", "  🔄 Regime change: {old} → {new}"),
    "same": ("  변화 없음: {regime} 유지", "  No change: {regime} stands"),
    "first": ("  첫 판단입니다 (이전 기록 없음).", "  First decision (no previous record)."),
    "rebalance": ("국면 전환에 따라 TWAP 리밸런싱을 시작합니다.", "Starting a TWAP rebalance for the new regime."),
    "no_rebalance": ("rebalance_on_season_change가 꺼져 있어 리밸런싱은 하지 않습니다.",
                     "rebalance_on_season_change is off: no rebalance."),
    "dry": ("[드라이런] 결정을 저장하지 않았고 주문도 보내지 않았습니다.", "[dry run] Decision not saved; no order sent."),
    "dry_flip": ("[드라이런] 실제 실행이라면 TWAP 리밸런싱이 시작됩니다 (--quarterly-rebalance-twap --dry-run으로 계획 확인).",
                 "[dry run] A real run would start a TWAP rebalance (see --quarterly-rebalance-twap --dry-run)."),
}


def run(ctx: Context) -> int:
    """Decide the regime; record it, snapshot, alert, and rebalance on a flip."""
    inputs = season.fetch_inputs(ctx)
    now = ctx.clock.now()
    if ctx.dry_run:
        decision = season.decide(ctx, inputs, current_regime(ctx.state.read()))
        show(ctx, decision, inputs)
        ctx.out.say(ctx.out.t(M["dry_flip"] if decision.changed else M["dry"]))
        emit(ctx, decision, inputs, saved=False)
        return 0
    with locked_or_fail(ctx, "--weekly-analysis") as session:
        decision = season.decide(ctx, inputs, current_regime(session.data))
        season.record(ctx, session.data, decision, inputs, now)
        session.save()
        show(ctx, decision, inputs)
        emit(ctx, decision, inputs, saved=True)
        snapshot_and_check(ctx, read_market(ctx), decision.regime, plan_active=bool(session.data.active_plans()))
        announce(ctx, decision, inputs)
        if not decision.changed:
            late = catch_up(ctx, session, now)  # a quarterly rebalance that was due and has not run
            return 0 if late is None else late
        if not ctx.settings.strategy.rebalance.rebalance_on_season_change:
            ctx.out.say(ctx.out.t(M["no_rebalance"]))
            late = catch_up(ctx, session, now)
            return 0 if late is None else late
        ctx.out.say(ctx.out.t(M["rebalance"]))
        started = start_season_twap(ctx, session, decision.regime, now)
        return run_tick(ctx, session) if started is not None else 0


def show(ctx: Context, d: SeasonDecision, inputs: season.SeasonInputs) -> None:
    out, s = ctx.out, ctx.settings.strategy.season_filter
    crypto = crypto_ratio(d.regime, s.risk_on_crypto_ratio, s.risk_off_crypto_ratio)
    name = plan_view.regime_name(out, d.regime.value)
    out.say(out.t(M["title"], coin=s.reference_coin))
    out.say(out.t(M["price"], price=fmt_krw(d.price)))
    out.say(out.t(M["ma"], weeks=s.ma_weeks, ma=fmt_krw(d.ma), n=inputs.weeks))
    out.say(out.t(M["ratio"], ratio=f"{d.ratio:.4f}"))
    out.say(out.t(M["band"], lower=fmt_krw(d.lower), upper=fmt_krw(d.upper), band=fmt_pct(d.band, 0)))
    out.say(out.t(M["zone"], zone=out.t(M["zones"][d.zone.value])))
    out.say(out.t(M["regime"], regime=name))
    out.say(out.t(M["split"], crypto=fmt_pct(crypto, 0), krw=fmt_pct(1 - crypto, 0)))
    out.say(out.t(M["reason"], reason=d.reason(ctx.lang)))
    if d.first_run:
        out.say(out.t(M["first"]))
    elif d.changed:
        out.say(out.t(M["changed"], old=plan_view.regime_name(out, d.previous.value), new=name))
    else:
        out.say(out.t(M["same"], regime=name))


def emit(ctx: Context, d: SeasonDecision, inputs: season.SeasonInputs, *, saved: bool) -> None:
    ctx.out.emit({"regime": d.regime.value, "previous": d.previous.value if d.previous else None, "changed": d.changed,
                  "zone": d.zone.value, "price": d.price, "ma": d.ma, "ratio": d.ratio, "upper": d.upper,
                  "lower": d.lower, "weeks": inputs.weeks, "reason": d.reason(ctx.lang), "saved": saved})


ALERT = {
    "title": ("주간 시장 계절 분석", "Weekly season analysis"),
    "changed_title": ("시장 국면 전환: {old} → {new}", "Regime change: {old} → {new}"),
    "price": ("BTC {price} KRW, 200주 이동평균 {ma} KRW (비율 {ratio}, {zone})",
              "BTC {price} KRW vs 200-week MA {ma} KRW (ratio {ratio}, {zone})"),
    "regime": ("국면: {regime}{was}", "Regime: {regime}{was}"), "was": (" (이전: {old})", " (was {old})"),
}


def announce(ctx: Context, d: SeasonDecision, inputs: season.SeasonInputs) -> None:
    out, t = ctx.out, ctx.out.t
    name = plan_view.regime_name(out, d.regime.value)
    old = plan_view.regime_name(out, d.previous.value) if d.previous else ""
    lines = [t(ALERT["price"], price=fmt_krw(d.price), ma=fmt_krw(d.ma), ratio=f"{d.ratio:.4f}",
               zone=t(M["zones"][d.zone.value])),
             t(ALERT["regime"], regime=name, was=t(ALERT["was"], old=old) if d.changed and d.previous else ""),
             d.reason(ctx.lang)]
    ctx.alerts.send("weekly_analysis", t(ALERT["title"]), lines, dedupe_key=f"weekly:{inputs.last_week_ms}")
    if d.changed:
        ctx.alerts.send("season_change", t(ALERT["changed_title"], old=old, new=name), lines,
                        dedupe_key=f"season_change:{inputs.last_week_ms}")
