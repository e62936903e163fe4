"""--test-alerts: send one `test` alert through every enabled channel and report each result.

Level routing is bypassed on purpose (the user wants to see every channel work) and so is dedupe
(`force=True`). Mentions are the configured ones for the `test` alert type. The exchange client is
never built: this command must work without keys and without the network to Coinone.
"""
from __future__ import annotations

from typing import Any

from kairos.clock import KST
from kairos.context import Context
from kairos.notify.alerts import LEVELS, Alerts, Delivery
from kairos.notify.channels import channels_for, enabled_names

M = {
    "title": ("KAIROS-1 알림 테스트", "KAIROS-1 alert test"),
    "line_ok": ("이 메시지가 보이면 이 채널의 알림 설정이 정상입니다.",
                "If you can read this, alerts through this channel work."),
    "line_mode": ("모드: {mode}", "Mode: {mode}"),
    "mock": ("모의 거래소 (실제 주문 없음)", "simulated exchange (no real orders)"),
    "live": ("실거래", "live trading"),
    "paper": ("모의 투자 (실제 시세, 가상 계좌 — 실제 주문 없음)", "paper trading (real prices, pretend account — no real orders)"),
    "line_time": ("보낸 시각: {at}", "Sent at: {at}"),
    "action": ("할 일 없음 — 테스트 메시지입니다.", "Nothing to do — this is a test message."),
    "header": ("🔔 알림 테스트: 활성화된 채널 {n}개 ({names})", "🔔 Alert test: {n} enabled channel(s) ({names})"),
    "none": ("활성화된 알림 채널이 없어 보낼 곳이 없습니다.", "No notification channel is enabled, so nothing was sent."),
    "how": ("설정 파일에서 notifications.slack.enabled: true 와 webhook_url, 또는 notifications.email.enabled: true 와 "
            "smtp_server·sender·recipients 를 지정한 뒤 다시 실행하세요.",
            "Set notifications.slack.enabled: true with a webhook_url, or notifications.email.enabled: true with "
            "smtp_server, sender and recipients, in the config file, then run this again."),
    "ok": ("✅ {name}: 전송 성공 — {detail}", "✅ {name}: delivered — {detail}"),
    "fail": ("❌ {name}: 전송 실패 — {detail}", "❌ {name}: failed — {detail}"),
    "missing": ("시도되지 않음", "not attempted"),
    "all_ok": ("모든 채널 전송 성공 ({n}/{n})", "All channels delivered ({n}/{n})"),
    "some_fail": ("실패한 채널 {f}개 / 전체 {n}개 — 위 메시지와 logs/kairos.log 를 확인하세요.",
                  "{f} of {n} channel(s) failed — see the messages above and logs/kairos.log."),
}


def run(ctx: Context) -> int:
    """Send the test alert to every enabled channel; 0 when all delivered (or none enabled), else 1."""
    names = enabled_names(ctx.settings.notifications)
    if not names:
        return report_none(ctx)
    deliveries = send_test(ctx)
    results = results_by_channel(names, deliveries)
    return report(ctx, results)


def broadcast_alerts(ctx: Context) -> Alerts:
    """An Alerts fan-out that routes every level to every enabled channel (routing bypassed)."""
    channels = channels_for(ctx)
    everywhere = tuple(c.name for c in channels)
    routes = {level: everywhere for level in set(LEVELS.values())}
    n = ctx.settings.notifications
    ledger = (lambda: None) if ctx.dry_run else (lambda: ctx.ledger)
    return Alerts(channels, routes, n.dedupe_minutes, ledger, ctx.clock, ctx.redactor, ctx.simulated, lang=ctx.lang,
                  mode=ctx.mode)


def send_test(ctx: Context) -> list[Delivery]:
    t = ctx.out.t
    at = ctx.clock.now().astimezone(KST).strftime("%Y-%m-%d %H:%M:%S KST")
    lines = [t(M["line_ok"]), t(M["line_mode"], mode=t(M[ctx.mode])),
             t(M["line_time"], at=at)]
    return broadcast_alerts(ctx).send("test", t(M["title"]), lines, action=t(M["action"]),
                                 dedupe_key="test:test-alerts", force=True)


def results_by_channel(names: list[str], deliveries: list[Delivery]) -> list[Delivery]:
    """One result per enabled channel; a channel that produced no Delivery counts as failed."""
    got = {d.channel: d for d in deliveries}
    return [got.get(name) or Delivery(name, False, "") for name in names]


def report(ctx: Context, results: list[Delivery]) -> int:
    out, t = ctx.out, ctx.out.t
    out.say(t(M["header"], n=len(results), names=", ".join(r.channel for r in results)))
    for r in results:
        detail = r.detail or t(M["missing"])
        out.say("  " + t(M["ok"] if r.ok else M["fail"], name=r.channel, detail=detail))
    failed = [r for r in results if not r.ok]
    out.say(t(M["some_fail"], f=len(failed), n=len(results)) if failed else t(M["all_ok"], n=len(results)))
    out.emit(json_document(results))
    return 1 if failed else 0


def report_none(ctx: Context) -> int:
    ctx.out.say(ctx.out.t(M["none"]))
    ctx.out.say(ctx.out.t(M["how"]))
    ctx.out.emit({"ok": True, "enabled": [], "channels": [], "message": ctx.out.t(M["none"])})
    return 0


def json_document(results: list[Delivery]) -> dict[str, Any]:
    return {"ok": all(r.ok for r in results), "enabled": [r.channel for r in results],
            "channels": [{"channel": r.channel, "ok": r.ok, "detail": r.detail} for r in results]}
