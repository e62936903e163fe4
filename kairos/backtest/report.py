"""The backtest in words (Korean by default, English with --lang en) and as one JSON document."""
from __future__ import annotations

import unicodedata
from typing import Any, Callable

from kairos.backtest.book import Trade
from kairos.backtest.data import iso
from kairos.backtest.signals import WeekDecision
from kairos.backtest.study import Study
from kairos.money import plain
from kairos.output import Output

ORDER = ("strategy", "btc_hold", "static", "equal_weight")
NAMES = {
    "strategy": ("전략", "Strategy"), "btc_hold": ("BTC 보유", "BTC hold"),
    "static": ("고정 {on}/{off}", "Static {on}/{off}"), "equal_weight": ("동일비중 보유", "Equal-weight hold"),
}
SHORT_NAMES = {"equal_weight": ("동일비중", "Equal-wt hold")}  # where a table has no room for the full name
M = {
    "title": ("📈 백테스트: {ref} 200주 이동평균 계절 전략 (비용 포함)", "📈 Backtest: the {ref} 200-week-MA season strategy (costs included)"),
    "source": ("  데이터: {source}", "  Data: {source}"),
    "period": ("  기간: {start} ~ {end} ({years:.2f}년, {days:,}일)", "  Period: {start} to {end} ({years:.2f} years, {days:,} days)"),
    "capital": ("  초기 자본: {capital} KRW · 유니버스: {weights}", "  Capital: {capital} KRW · universe: {weights}"),
    "costs": ("  비용 모델: 수수료 {fee} + 스프레드 절반 {spread} + 충격 {y}·σ·√(Q/V) (TWAP 조각마다)\n"
              "    + 앞 조각이 남긴 가격 이동 {p}·σ·√(M/V), 호가 회복 반감기 {h}분",
              "  Cost model: fee {fee} + half-spread {spread} + impact {y}·σ·√(Q/V) per TWAP slice\n"
              "    + the shift earlier slices left, {p}·σ·√(M/V); the book refills with a {h}-min half-life"),
    "unlisted": ("  상장 전 코인의 비중은 KRW로 유지, 거래 가능해진 뒤 다음 리밸런싱에서 매수:\n    {items}",
                 "  Unlisted weight stays in KRW; the next rebalance after a coin becomes tradable buys it:\n    {items}"),
    "tradable": ("{coin} {day}부터", "{coin} from {day}"),
    "flips_title": ("  국면 전환 ({n}회):", "  Regime flips ({n}):"),
    "flip": ("    {day}  {old} → {new}  (BTC {price} / MA {ma}, 비율 {ratio})",
             "    {day}  {old} → {new}  (BTC {price} / MA {ma}, ratio {ratio})"),
    "robust_title": ("  시작일별 결과 (모두 {end}까지):", "  By start date (all to {end}):"),
    "chart": ("  차트: {path}", "  Chart: {path}"),
    "note": ("  참고: {text}", "  Note: {text}"),
}
REGIMES = {"risk_on": ("위험선호", "risk-on"), "risk_off": ("위험회피", "risk-off")}
ROWS: tuple[tuple[str, tuple[str, str], Callable[[Any], str]], ...] = (
    ("final_equity", ("최종 자산 (KRW)", "Final equity (KRW)"), lambda v: f"{v:,.0f}"),
    ("total_return", ("총수익률", "Total return"), lambda v: f"{v * 100:.1f}%"),
    ("cagr", ("CAGR", "CAGR"), lambda v: f"{v * 100:.1f}%"),
    ("max_drawdown", ("최대 낙폭", "Max drawdown"), lambda v: f"{v * 100:.1f}%"),
    ("volatility", ("변동성 (연율)", "Volatility (ann.)"), lambda v: f"{v * 100:.1f}%"),
    ("sharpe", ("샤프 (무위험 0)", "Sharpe (rf 0)"), lambda v: f"{v:.2f}"),
    ("sortino", ("소르티노", "Sortino"), lambda v: f"{v:.2f}"),
    ("calmar", ("칼마", "Calmar"), lambda v: f"{v:.2f}"),
    ("turnover", ("회전율 (연)", "Turnover (per year)"), lambda v: f"{v:.2f}x"),
    ("trades", ("거래 수", "Trades"), lambda v: f"{v:,}"),
    ("costs_krw", ("비용 (KRW)", "Costs (KRW)"), lambda v: f"{v:,.0f}"),
    ("costs_pct_capital", ("비용 (초기 자본 대비)", "Costs (% of capital)"), lambda v: f"{v * 100:.2f}%"),
    ("flips", ("국면 전환 횟수", "Regime flips"), lambda v: f"{v}"),
    ("risk_on_share", ("위험선호 기간 비중", "Time in risk-on"), lambda v: f"{v * 100:.1f}%"),
)


def width(text: str) -> int:
    """Terminal columns of `text` (Hangul and other wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, columns: int, *, right: bool = False) -> str:
    """`text` padded with spaces to `columns` terminal columns."""
    fill = " " * max(columns - width(text), 0)
    return fill + text if right else text + fill


def policy_name(out: Output, study: Study, key: str, *, short: bool = False) -> str:
    s = study.settings.strategy.season_filter
    on = int(s.risk_on_crypto_ratio * 100)
    return out.t((SHORT_NAMES.get(key) if short else None) or NAMES[key], on=on, off=100 - on)


def show(out: Output, study: Study, chart: str | None = None) -> None:
    """Print the summary, the comparison table, the flips and the robustness table."""
    _header(out, study)
    out.say("")
    _table(out, study)
    out.say("")
    _flips(out, study)
    if study.robustness:
        out.say("")
        _robustness(out, study)
    for note in study.notes:
        out.say(out.t(M["note"], text=note))
    if chart:
        out.say(out.t(M["chart"], path=chart))


def _header(out: Output, study: Study) -> None:
    days = study.end_day - study.start_day + 1
    weights = ", ".join(f"{c} {float(w) * 100:g}%" for c, w in study.settings.strategy.portfolio.weights.items())
    c = study.costs
    out.say(out.t(M["title"], ref=study.backtest.reference))
    out.say(out.t(M["source"], source=source_text(out, study.source)))
    out.say(out.t(M["period"], start=iso(study.start_day), end=iso(study.end_day), years=days / 365, days=days))
    out.say(out.t(M["capital"], capital=f"{study.capital:,.0f}", weights=weights))
    out.say(out.t(M["costs"], fee=f"{float(c.fee) * 100:.2f}%", spread=f"{float(c.half_spread) * 100:.2f}%",
                  y=plain(c.impact_y), p=plain(c.permanent_y), h=plain(c.resilience_minutes)))
    late = [(coin, day) for coin, day in _tradable_days(study).items() if day is not None and day > study.start_day]
    if late:
        items = ", ".join(out.t(M["tradable"], coin=coin, day=iso(day)) for coin, day in late)
        out.say(out.t(M["unlisted"], items=items))


def source_text(out: Output, source: str) -> str:
    """The cache/source key in words: simulator, Coinone or the user's CSV folder."""
    kind, _, detail = source.partition(":")
    names = {"mock": ("모의 거래소(시뮬레이터) 일봉, {detail}", "simulated exchange daily candles, {detail}"),
             "coinone": ("코인원 일봉, {detail}", "Coinone daily candles, {detail}"),
             "csv": ("사용자 CSV 폴더 {detail}", "user CSV folder {detail}")}
    return out.t(names[kind], detail=detail) if kind in names else source


def _tradable_days(study: Study) -> dict[str, int | None]:
    market = study.backtest.market
    return {coin: market.first_tradable(coin) for coin in study.settings.strategy.portfolio.weights}


def _table(out: Output, study: Study) -> None:
    head = ["", *(policy_name(out, study, k) for k in ORDER)]
    body = [["  " + out.t(label), *("-" if getattr(study.metrics[k], field) is None else fmt(getattr(study.metrics[k], field))
                                   for k in ORDER)] for field, label, fmt in ROWS]
    for line in grid([head, *body]):
        out.say(line)


def grid(rows: list[list[str]], groups: list[tuple[str, int]] | None = None, gap: int = 2) -> list[str]:
    """Rows as aligned text: the first column left, the others right, `gap` spaces at least between cells
    (so no two cells ever run together), widths in terminal columns (Hangul is two wide).

    `groups` puts a line above the header: each (name, n) spans the next n columns after the first,
    centred over them; a column is widened when a name does not fit its span."""
    n = max(len(r) for r in rows)
    widths = [max(width(r[i]) for r in rows if i < len(r)) + (gap if i else 0) for i in range(n)]
    lines = []
    if groups:
        col = 1
        for name, span in groups:
            need = width(name) + gap - sum(widths[col:col + span])
            if need > 0:
                widths[col + span - 1] += need
            col += span
        text, col = " " * widths[0], 1
        for name, span in groups:
            room = sum(widths[col:col + span]) - gap  # the group's cells, less the gap before its first one
            left = gap + (room - width(name) + 1) // 2  # centred over its columns (right-aligned numbers)
            text += pad(" " * left + name, sum(widths[col:col + span]))
            col += span
        lines.append(text.rstrip())
    for row in rows:
        cells = [pad(c, widths[0]) if i == 0 else pad(c, widths[i], right=True) for i, c in enumerate(row)]
        lines.append("".join(cells).rstrip())
    return lines


def _flips(out: Output, study: Study) -> None:
    flips = study.strategy.flips
    out.say(out.t(M["flips_title"], n=len(flips)))
    for week in flips:
        d = week.decision
        out.say(out.t(M["flip"], day=iso(week.day), old=out.t(REGIMES[d.previous.value]), new=out.t(REGIMES[d.regime.value]),
                      price=f"{d.price:,.0f}", ma=f"{d.ma:,.0f}", ratio=f"{d.ratio:.3f}"))


def _robustness(out: Output, study: Study) -> None:
    out.say(out.t(M["robust_title"], end=iso(study.end_day)))
    cols = (("strategy", "cagr"), ("strategy", "max_drawdown"), ("strategy", "sharpe"),
            ("btc_hold", "cagr"), ("btc_hold", "max_drawdown"), ("static", "cagr"), ("equal_weight", "cagr"))
    short = {"cagr": "CAGR", "max_drawdown": "MDD", "sharpe": "Sharpe"}
    groups: list[tuple[str, int]] = []
    for key, _ in cols:
        name = policy_name(out, study, key, short=True)
        groups = groups[:-1] + [(name, groups[-1][1] + 1)] if groups and groups[-1][0] == name else [*groups, (name, 1)]
    head = ["  " + out.t(("시작일", "start")), out.t(("기간(년)", "years")), *(short[f] for _, f in cols)]
    body = [[f"  {iso(row.start_day)}", f"{(study.end_day - row.start_day + 1) / 365:.1f}",
             *(_fmt_cell(getattr(row.metrics[k], f), f) for k, f in cols)] for row in study.robustness]
    for line in grid([head, *body], groups=[("", 1), *groups]):
        out.say(line)


def _fmt_cell(value: float | None, field: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if field == "sharpe" else f"{value * 100:.1f}%"


def document(study: Study, chart: str | None = None) -> dict[str, Any]:
    """The --json document: every figure, the flips, the weekly decisions and the strategy's trades."""
    c = study.costs
    return {"backtest": {
        "source": study.source, "start": iso(study.start_day), "end": iso(study.end_day),
        "days": study.end_day - study.start_day + 1, "capital": study.capital,
        "universe": dict(study.settings.strategy.portfolio.weights),
        "cost_model": {"fee": c.fee, "half_spread": c.half_spread, "impact_y": c.impact_y,
                       "permanent_y": c.permanent_y, "resilience_minutes": c.resilience_minutes,
                       "permanent_half_life_hours": c.permanent_half_life_hours,
                       "formula": "per slice: fee + half_spread + Y*sigma*((d+Q)^1.5-d^1.5)/(Q*sqrt(V)) "
                                  "+ P*sigma*sqrt(M/V); d = book not yet refilled, M = earlier slices' KRW"},
        "unlisted_rule": "weight stays in KRW until the coin is tradable; the next rebalance buys it",
        "first_tradable": {coin: (iso(day) if day is not None else None) for coin, day in _tradable_days(study).items()},
        "metrics": {k: study.metrics[k].as_dict() for k in ORDER},
        "flips": [_decision(w) for w in study.strategy.flips],
        "decisions": [_decision(w) for w in study.strategy.decisions],
        "rebalances": [{"date": iso(day), "reason": reason} for day, reason in study.strategy.rebalances],
        "trades": [_trade(t) for t in study.strategy.trades],
        "robustness": [{"start": iso(r.start_day), "metrics": {k: r.metrics[k].as_dict() for k in ORDER}}
                       for r in study.robustness],
        "notes": list(study.notes), "chart": chart,
    }}


def _decision(week: WeekDecision) -> dict[str, Any]:
    d = week.decision
    return {"date": iso(week.day), "price": d.price, "ma": d.ma, "ratio": d.ratio, "zone": d.zone.value,
            "regime": d.regime.value, "previous": d.previous.value if d.previous else None, "changed": d.changed,
            "weeks": week.inputs.weeks}


def _trade(trade: Trade) -> dict[str, Any]:
    cost = trade.cost
    return {"date": iso(trade.day), "coin": trade.coin, "side": trade.side, "reason": trade.reason,
            "price": trade.price, "qty": trade.qty, "notional": trade.notional, "slices": cost.slices,
            "cost": cost.total, "fee": cost.fee_krw, "spread": cost.spread_krw, "impact": cost.impact_krw,
            "cost_rate": cost.rate}
