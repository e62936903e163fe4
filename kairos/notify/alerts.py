"""Alert fan-out: one call from a command, every enabled channel tried independently.

A failing channel never blocks the others or the trade. The same dedupe key is not sent twice
within `notifications.dedupe_minutes`, remembered in the ledger across processes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Protocol

from kairos.errors import KairosError
from kairos.logsetup import FILE_ONLY

log = logging.getLogger("kairos.notify")

LEVELS = {
    "weekly_analysis": "info", "season_change": "warning", "quarterly_rebalance": "info",
    "immediate_rebalance": "warning", "twap_start": "info", "twap_complete": "info", "twap_stalled": "warning",
    "tracking_error": "warning", "system_error": "critical", "critical_risk": "critical", "test": "info",
}


@dataclass(frozen=True)
class Alert:
    """What every channel renders: a type, a title, lines of facts, and what to do next."""

    alert_type: str
    title: str
    lines: tuple[str, ...] = ()
    action: str | None = None  # for failures: what the operator should do
    fields: dict[str, Any] = field(default_factory=dict)
    simulated: bool = False
    mode: str = "mock"  # which tag a simulated alert carries: mock or paper

    @property
    def level(self) -> str:
        return LEVELS.get(self.alert_type, "info")


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool
    detail: str


class Channel(Protocol):
    name: str

    def send(self, alert: Alert) -> Delivery: ...


class Alerts:
    """Routes alerts by level to channels, with dedupe through the ledger."""

    def __init__(self, channels: list[Channel], routes: dict[str, tuple[str, ...]], dedupe_minutes: int,
                 ledger: Callable[[], Any] | None, clock: Any, redact: Callable[[str], str], simulated: bool,
                 lang: str = "ko", mode: str | None = None) -> None:
        self.channels = {c.name: c for c in channels}
        self.routes = routes
        self.dedupe = timedelta(minutes=dedupe_minutes)
        self._ledger = ledger
        self.clock = clock
        self.redact = redact
        self.simulated = simulated
        self.mode = mode or ("mock" if simulated else "live")
        self.lang = lang
        self.sent: list[tuple[Alert, list[Delivery]]] = []

    def send(self, alert_type: str, title: str, lines: list[str] | tuple[str, ...] = (), *, action: str | None = None,
             dedupe_key: str | None = None, fields: dict[str, Any] | None = None, force: bool = False) -> list[Delivery]:
        """Send one alert to the channels routed for its level; [] when deduplicated or unrouted."""
        alert = Alert(alert_type, self.redact(title), tuple(self.redact(l) for l in lines),
                      self.redact(action) if action else None, fields or {}, self.simulated, self.mode)
        key = self.redact(dedupe_key or f"{alert_type}:{title}")  # stored in the ledger: no secrets
        if not force and self._recent(key):
            log.info("alert %s suppressed (sent within %s)", key, self.dedupe)
            return []
        targets = [n for n in self.routes.get(alert.level, ()) if n in self.channels]
        deliveries = [self._deliver(self.channels[name], alert) for name in targets]
        log.info("alert %s (%s): %s → %s", alert.alert_type, alert.level, alert.title,
                 ", ".join(f"{d.channel} {'ok' if d.ok else 'failed'}" for d in deliveries) or "no channel")
        self._remember(alert, key, targets, deliveries)
        self.sent.append((alert, deliveries))
        return deliveries

    def failure(self, alert_type: str, action_name: str, message: str, code: int) -> list[Delivery]:
        """Best-effort alert for a failed command (called by the CLI's error shell)."""
        pick = 1 if self.lang == "en" else 0
        title = FAILED_TITLE[pick].format(action=action_name.replace("_", "-"), code=code)
        hint = NEXT_STEP.get(code, DEFAULT_NEXT_STEP)[pick]
        return self.send(alert_type, title, [message], action=hint, dedupe_key=f"{alert_type}:{action_name}:{code}")

    def _deliver(self, channel: Channel, alert: Alert) -> Delivery:
        try:
            delivery = channel.send(alert)
        except Exception as exc:  # a channel must never break the run or the other channels
            delivery = Delivery(channel.name, False, self.redact(f"{type(exc).__name__}: {exc}"))
        if not delivery.ok:
            log.warning("alert via %s failed: %s", channel.name, delivery.detail)
        return delivery

    def _open_ledger(self) -> Any:
        """The ledger, or None when there is none or it cannot be opened (alerts still go out)."""
        if self._ledger is None:
            return None
        try:
            return self._ledger()
        except KairosError as exc:  # already reported by the run itself: one line in the log file
            log.warning("ledger unavailable for alert dedupe (%s); sending without it", exc, extra=FILE_ONLY)
            self._ledger = None
            return None
        except Exception:
            log.warning("ledger unavailable for alert dedupe; sending without it", exc_info=True, extra=FILE_ONLY)
            self._ledger = None
            return None

    def _recent(self, key: str) -> bool:
        if self.dedupe.total_seconds() <= 0:
            return False
        ledger = self._open_ledger()
        if ledger is None:
            return False
        try:
            last = ledger.last_alert_at(key)
        except Exception:  # an unreadable ledger must not silence or block an alert
            log.warning("could not read alert history for %s; sending", key, exc_info=True, extra=FILE_ONLY)
            return False
        return last is not None and self.clock.now() - last < self.dedupe

    def _remember(self, alert: Alert, key: str, targets: list[str], deliveries: list[Delivery]) -> None:
        ledger = self._open_ledger()
        if ledger is None:
            return
        delivered = [d.channel for d in deliveries if d.ok] or (["-"] if not targets else [])
        try:
            ledger.record_alert(self.clock.now(), key, alert.alert_type, alert.level, targets, delivered)
        except Exception:
            log.warning("could not record alert %s in the ledger", key, exc_info=True, extra=FILE_ONLY)


FAILED_TITLE = ("KAIROS-1 --{action} 실패 (종료 코드 {code})", "KAIROS-1 --{action} failed (exit {code})")
NEXT_STEP = {  # (ko, en)
    1: ("거래소 연결 상태와 logs/kairos.log를 확인하세요. 조회는 다음 cron 실행에서 자동으로 재시도됩니다.",
        "Check exchange reachability and logs/kairos.log; the next cron run retries reads automatically."),
    3: ("상태 파일 또는 원장을 사람이 확인해야 합니다. 메시지를 따르세요 (마지막 정상 백업이 적혀 있습니다).",
        "The state file or ledger needs a human: follow the message (it names the last good backup)."),
    4: ("안전장치가 거래를 멈췄습니다. 설정의 한도/킬 스위치를 검토한 뒤 다시 실행하세요.",
        "A safety rail stopped trading: review the caps / kill switch in config, then rerun."),
}
DEFAULT_NEXT_STEP = ("서버의 logs/kairos.log를 확인하세요.", "Check logs/kairos.log on the server.")
