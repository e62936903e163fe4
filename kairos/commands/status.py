"""--system-status: settings summary (secrets masked) and health checks; exit 1 when a check fails.

Anything not ok is also sent as one Slack/e-mail summary (deduplicated on the set of problem keys).
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable

from kairos.commands.health import FAIL, ICON, OK, WARN, Check, health_checks
from kairos.context import Context
from kairos.errors import AuthError, KairosError
from kairos.logsetup import FILE_ONLY
from kairos.money import fmt_krw, fmt_pct

log = logging.getLogger("kairos.status")

M = {
    "title": ("🔍 KAIROS-1 시스템 상태", "🔍 KAIROS-1 system status"),
    "settings": ("설정", "Settings"),
    "checks": ("점검", "Checks"),
    "mode": ("  모드: {mode}", "  Mode: {mode}"),
    "mode_mock": ("모의 거래소 (mock, 실제 주문 없음)", "simulated exchange (mock, no real orders)"),
    "mode_live": ("실거래 (live)", "live trading"),
    "mode_paper": ("모의 투자 (paper: 코인원 실제 시세, 로컬 가상 계좌, 키 불필요)",
                   "paper trading (Coinone's real prices, a local pretend account, no keys)"),
    "source": ("  설정 파일: {path}", "  Config file: {path}"),
    "no_file": ("(없음 — 기본값 사용)", "(none — built-in defaults)"),
    "url": ("  거래소 주소: {url}", "  Exchange URL: {url}"),
    "keys": ("  API 키: {state}", "  API keys: {state}"),
    "keys_set": ("설정됨 (값은 표시하지 않음)", "configured (values hidden)"),
    "keys_none": ("없음", "not configured"),
    "portfolio": ("  포트폴리오(암호화폐 내 비중): {weights}", "  Portfolio (weights of the crypto part): {weights}"),
    "season": ("  계절 필터: 200주 MA ±{band}, 위험선호 암호화폐 {on} / 위험회피 {off}",
               "  Season filter: 200-week MA ±{band}, risk-on crypto {on} / risk-off {off}"),
    "twap": ("  TWAP: ATR ≤ {thr} → {cs}회 × {ci}분, 초과 → {vs}회 × {vi}분",
             "  TWAP: ATR ≤ {thr} → {cs} × {ci} min, above → {vs} × {vi} min"),
    "caps": ("  안전장치: 주문당 최대 {order} KRW, 일일 최대 {day} KRW, 거래 {enabled}",
             "  Safety: max {order} KRW per order, {day} KRW per day, trading {enabled}"),
    "on": ("허용", "enabled"), "off": ("중지", "disabled"),
    "notify": ("  알림: {channels}", "  Notifications: {channels}"),
    "none": ("없음", "none"),
    "public_ok": ("공개 API: 응답 정상 ({n}개 마켓, {ms}ms)", "Public API: reachable ({n} markets, {ms} ms)"),
    "public_fail": ("공개 API: 연결 실패 — {err}", "Public API: unreachable — {err}"),
    "auth_ok": ("인증: 정상 (KRW 사용 가능 {krw})", "Authentication: OK (KRW available {krw})"),
    "auth_fail": ("인증: 실패 — {err}", "Authentication: failed — {err}"),
    "auth_skip": ("인증: API 키가 없어 건너뜀", "Authentication: skipped, no API keys"),
    "dir_ok": ("{what}: 쓰기 가능 ({path})", "{what}: writable ({path})"),
    "dir_fail": ("{what}: 쓸 수 없음 ({path}: {err})", "{what}: not writable ({path}: {err})"),
    "data_dir": ("데이터 폴더", "Data folder"), "log_dir": ("로그 폴더", "Log folder"),
    "open_none": ("미체결 주문: 없음", "Open orders: none"),
    "open_ok": ("미체결 주문 {n}건 (모두 이 설치의 최근 주문)", "Open orders: {n}, all this installation's and recent"),
    "open_stale": ("{n}건의 주문이 슬롯 간격보다 오래 열려 있습니다: {orders} — 다음 --process-twap이 취소합니다",
                   "{n} order(s) open longer than their slot interval: {orders} — the next --process-twap cancels them"),
    "open_unknown": ("이 설치가 모르는 미체결 주문 {n}건: {orders} — 직접 낸 주문인지, 다른 설치인지 확인하세요",
                     "{n} open order(s) on the account this installation does not know: {orders} — yours by hand, "
                     "or another installation?"),
    "open_skip": ("미체결 주문: API 키가 없어 건너뜀", "Open orders: skipped, no API keys"),
    "open_fail": ("미체결 주문: 조회 실패 — {err}", "Open orders: cannot be read — {err}"),
    "summary_ok": ("종합: 정상", "Overall: healthy"),
    "summary": ("종합: 경고 {w}건, 실패 {f}건", "Overall: {w} warning(s), {f} failure(s)"),
    "alert_title": ("KAIROS-1 시스템 점검: 실패 {f}건, 경고 {w}건", "KAIROS-1 system check: {f} failure(s), {w} warning(s)"),
    "alert_action": ("서버에서 --system-status로 자세히 확인하세요.", "Run --system-status on the server for details."),
}


def run(ctx: Context) -> int:
    """Print the settings summary and every check; exit 1 if any check failed."""
    checks = [guarded(check) for check in checks_for(ctx)]
    out = ctx.out
    out.say(out.t(M["title"]))
    out.say(out.t(M["settings"]))
    for line in settings_lines(ctx):
        out.say(line)
    out.say(out.t(M["checks"]))
    for c in checks:
        out.say(f"  {ICON[c.status]} {c.text}")
    warns, fails = sum(c.status == WARN for c in checks), sum(c.status == FAIL for c in checks)
    out.say(out.t(M["summary_ok"]) if not warns and not fails else out.t(M["summary"], w=warns, f=fails))
    notify_problems(ctx, checks)
    if all(c.status == OK for c in checks if c.key in ("public_api", "auth")):
        record_snapshot_quietly(ctx)
    out.emit({"mode": ctx.mode, "config": str(ctx.settings.source or ""),
              "checks": [c.__dict__ for c in checks], "warnings": warns, "failures": fails,
              "settings": settings_data(ctx)})
    return 1 if fails else 0


def guarded(check: Callable[[], Check]) -> Check:
    """One check; whatever it raises becomes that check's ❌ line, and the others still run."""
    try:
        return check()
    except Exception as exc:  # a status report must come out whole: the failure is the finding
        log.warning("a --system-status check failed: %s", exc, exc_info=True, extra=FILE_ONLY)
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Check("check_error", FAIL, f"{type(exc).__name__}: {text}")


def checks_for(ctx: Context) -> list[Callable[[], Check]]:

    return [lambda: check_public(ctx), lambda: check_auth(ctx), lambda: check_open_orders(ctx),
            lambda: check_dir(ctx, "data_dir", ctx.paths.data_dir), lambda: check_dir(ctx, "log_dir", ctx.paths.log_dir),
            *health_checks(ctx)]


def record_snapshot_quietly(ctx: Context) -> None:
    """Every run that reads balances records a portfolio snapshot (and checks tracking error)."""
    from kairos.commands.common import current_regime, read_market, snapshot_and_check

    try:
        state = ctx.state.read()
        snapshot_and_check(ctx, read_market(ctx), current_regime(state), plan_active=bool(state.active_plans()))
    except Exception as exc:  # the status report must come out even if the snapshot cannot be taken
        log.warning("no portfolio snapshot this run: %s", exc)


def notify_problems(ctx: Context, checks: list[Check]) -> None:
    """One best-effort alert listing every check that is not ok; the same set of problems is not repeated."""
    bad = [c for c in checks if c.status != OK]
    if not bad:
        return
    fails = sum(c.status == FAIL for c in bad)
    keys = ",".join(sorted({c.key for c in bad}))
    try:
        ctx.alerts.send("system_error", ctx.out.t(M["alert_title"], f=fails, w=len(bad) - fails),
                        [f"{ICON[c.status]} {c.text}" for c in bad], action=ctx.out.t(M["alert_action"]),
                        dedupe_key=f"system_status:{keys}")
    except Exception:  # the status report itself must still come out
        log.warning("could not send the system status alert", exc_info=True)


def settings_lines(ctx: Context) -> list[str]:
    s, t = ctx.settings, ctx.out.t
    ex, tw, tr = s.exchange, s.execution, s.trading
    weights = " · ".join(f"{coin} {fmt_pct(w, 0)}" for coin, w in s.strategy.portfolio.weights.items())
    channels = [name for name in ("slack", "email") if getattr(s.notifications, name).enabled]
    keys = ex.has_keys or ctx.simulated
    return [
        t(M["mode"], mode=t(M[f"mode_{ctx.mode}"])),
        t(M["source"], path=str(s.source) if s.source else t(M["no_file"])),
        t(M["url"], url=(s.mock.server_url or "in-process simulator") if ctx.mock else ex.base_url),
        t(M["keys"], state=t(M["keys_set"]) if keys else t(M["keys_none"])),
        t(M["portfolio"], weights=weights),
        t(M["season"], band=fmt_pct(s.strategy.season_filter.band, 0), on=fmt_pct(s.strategy.season_filter.risk_on_crypto_ratio, 0),
          off=fmt_pct(s.strategy.season_filter.risk_off_crypto_ratio, 0)),
        t(M["twap"], thr=fmt_pct(tw.atr_threshold, 0), cs=tw.calm.slices, ci=tw.calm.interval_minutes,
          vs=tw.volatile.slices, vi=tw.volatile.interval_minutes),
        t(M["caps"], order=fmt_krw(tr.max_order_krw), day=fmt_krw(tr.max_daily_krw),
          enabled=t(M["on"]) if tr.enabled else t(M["off"])),
        t(M["notify"], channels=", ".join(channels) or t(M["none"])),
    ]


def settings_data(ctx: Context) -> dict[str, object]:
    s = ctx.settings
    return {"mode": s.mode, "language": ctx.lang, "base_url": s.exchange.base_url,
            "keys_configured": s.exchange.has_keys, "weights": dict(s.strategy.portfolio.weights),
            "trading_enabled": s.trading.enabled, "max_order_krw": s.trading.max_order_krw,
            "max_daily_krw": s.trading.max_daily_krw}


def check_public(ctx: Context) -> Check:
    started = time.perf_counter()
    try:
        tickers = ctx.client.tickers()
    except KairosError as exc:
        return Check("public_api", FAIL, ctx.out.t(M["public_fail"], err=exc))
    ms = int((time.perf_counter() - started) * 1000)
    return Check("public_api", OK, ctx.out.t(M["public_ok"], n=len(tickers), ms=ms))


def check_auth(ctx: Context) -> Check:
    if ctx.live and not ctx.settings.exchange.has_keys:
        return Check("auth", WARN if ctx.settings.mode == "live" else OK, ctx.out.t(M["auth_skip"]))
    try:
        balances = ctx.client.balances()
    except KairosError as exc:
        return Check("auth", FAIL, ctx.out.t(M["auth_fail"], err=exc))
    krw = balances.get("KRW")
    return Check("auth", OK, ctx.out.t(M["auth_ok"], krw=fmt_krw(krw.available) if krw else "0"))


def check_open_orders(ctx: Context) -> Check:
    """Open orders older than one slot interval, and open orders on the account the state does not know."""
    from kairos.account_guard import own_order_ids, stale_open_records

    t = ctx.out.t
    if ctx.live and not ctx.settings.exchange.has_keys:
        return Check("open_orders", OK, t(M["open_skip"]))
    try:
        state = ctx.state.read()
        active = ctx.client.active_orders()
    except AuthError as exc:  # the keys cannot read orders: trading cannot be reconciled either
        return Check("open_orders", FAIL, t(M["open_fail"], err=exc))
    except KairosError as exc:
        return Check("open_orders", WARN, t(M["open_fail"], err=exc))
    now = ctx.clock.now()
    stale = stale_open_records(state, now)
    if stale:
        shown = ", ".join(f"{r.uoid} ({int(age.total_seconds() // 60)}m)" for r, age in stale[:5])
        return Check("open_orders", WARN, t(M["open_stale"], n=len(stale), orders=shown))
    own = own_order_ids(state)
    unknown = [o for o in active if o.order_id not in own]
    if unknown:
        shown = ", ".join(f"{o.target} {o.side} {o.type} {o.order_id}" for o in unknown[:5])
        return Check("open_orders", WARN, t(M["open_unknown"], n=len(unknown), orders=shown))
    return Check("open_orders", OK, t(M["open_ok"], n=len(active)) if active else t(M["open_none"]))


def check_dir(ctx: Context, key: str, path: Path) -> Check:
    what = ctx.out.t(M[key])
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        return Check(key, FAIL, ctx.out.t(M["dir_fail"], what=what, path=path, err=exc.strerror))
    return Check(key, OK, ctx.out.t(M["dir_ok"], what=what, path=path))
