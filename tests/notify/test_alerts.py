"""The alert fan-out wired from a config file: routing, failure isolation, ledger use, failure alerts."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pytest

from kairos.clock import FixedClock
from kairos.errors import StateError
from kairos.ledger import Ledger
from kairos.notify.alerts import Alert, Alerts, Channel, Delivery
from kairos.notify.channels import channels_for, enabled_names
from kairos.redact import Redactor
from notify import SlackServer, SmtpServer, context_for, write_config

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)


class Exploding:
    """A channel whose transport blows up with an unexpected exception."""

    name = "slack"

    def send(self, alert: Alert) -> Delivery:
        raise RuntimeError("boom")


class Recording:
    name = "email"

    def __init__(self) -> None:
        self.got: list[Alert] = []

    def send(self, alert: Alert) -> Delivery:
        self.got.append(alert)
        return Delivery(self.name, True, "recorded")


def alerts_with(channels: list[Channel], ledger: Callable[[], Ledger] | None = None,
                redact: Callable[[str], str] = lambda s: s, lang: str = "ko") -> Alerts:
    routes = {"critical": ("slack", "email"), "warning": ("slack", "email"), "info": ("slack",)}
    return Alerts(channels, routes, 60, ledger, FixedClock(T0), redact, False, lang=lang)


# ---- channels_for --------------------------------------------------------------------------------
def test_no_channel_when_none_is_enabled(tmp_path: Path) -> None:
    ctx = context_for(tmp_path, write_config(tmp_path / "c.yaml"))
    assert channels_for(ctx) == [] and enabled_names(ctx.settings.notifications) == []


@pytest.mark.parametrize("slack_on, email_on, names", [
    (True, False, ["slack"]), (False, True, ["email"]), (True, True, ["slack", "email"]),
])
def test_only_enabled_channels_are_built(tmp_path: Path, slack_on: bool, email_on: bool, names: list[str]) -> None:
    config = write_config(tmp_path / "c.yaml", slack_url="http://127.0.0.1:9/services/T/B/X" if slack_on else None,
                          smtp_port=2525 if email_on else None)
    ctx = context_for(tmp_path, config, lang="en")
    channels = channels_for(ctx)
    assert [c.name for c in channels] == names == enabled_names(ctx.settings.notifications)
    assert all(c.lang == "en" for c in channels)  # type: ignore[attr-defined]


# ---- routing and isolation through the real channels -----------------------------------------------
def test_slack_500_neither_raises_nor_stops_email(tmp_path: Path) -> None:
    with SlackServer(statuses=(500,)) as slack, SmtpServer() as smtp:
        ctx = context_for(tmp_path, write_config(tmp_path / "c.yaml", slack_url=slack.url, smtp_port=smtp.port))
        deliveries = ctx.alerts.send("system_error", "KAIROS-1 --process-twap 실패", ["거래소 응답 없음"])
    assert [(d.channel, d.ok) for d in deliveries] == [("slack", False), ("email", True)]
    assert deliveries[0].detail == "HTTP 500: internal_error"
    assert len(slack.requests) == 1 and len(smtp.received) == 1
    assert all(slack.url not in d.detail and "/services/" not in d.detail for d in deliveries)


@pytest.mark.parametrize("alert_type, slack_posts, mails", [
    ("twap_complete", 1, 0),  # info → slack only (default routing)
    ("tracking_error", 1, 1),  # warning → slack and email
    ("critical_risk", 1, 1),
])
def test_levels_route_to_the_configured_channels(tmp_path: Path, alert_type: str, slack_posts: int, mails: int) -> None:
    with SlackServer() as slack, SmtpServer() as smtp:
        ctx = context_for(tmp_path, write_config(tmp_path / "c.yaml", slack_url=slack.url, smtp_port=smtp.port))
        deliveries = ctx.alerts.send(alert_type, "제목", ["1,234,567 KRW"])
    assert (len(slack.requests), len(smtp.received)) == (slack_posts, mails)
    assert all(d.ok for d in deliveries) and len(deliveries) == slack_posts + mails


def test_custom_alert_levels_are_honoured(tmp_path: Path) -> None:
    with SlackServer() as slack, SmtpServer() as smtp:
        config = write_config(tmp_path / "c.yaml", slack_url=slack.url, smtp_port=smtp.port,
                              notifications={"alert_levels": {"info": ["email"], "warning": [], "critical": ["slack"]}})
        ctx = context_for(tmp_path, config)
        ctx.alerts.send("twap_start", "info alert")
        ctx.alerts.send("season_change", "warning alert")
    assert len(slack.requests) == 0
    assert [r.message["Subject"] for r in smtp.received] == ["[KAIROS-1] INFO [모의 거래소] info alert"]


def test_an_exploding_channel_does_not_stop_the_others() -> None:
    recording = Recording()
    deliveries = alerts_with([Exploding(), recording]).send("critical_risk", "kill switch", ["x"])
    assert [(d.channel, d.ok) for d in deliveries] == [("slack", False), ("email", True)]
    assert deliveries[0].detail == "RuntimeError: boom"
    assert len(recording.got) == 1


# ---- ledger use ----------------------------------------------------------------------------------------
def test_a_broken_ledger_does_not_block_the_alert() -> None:
    def broken() -> Ledger:
        raise StateError("ledger data/kairos.db cannot be opened")

    recording = Recording()
    deliveries = alerts_with([recording], ledger=broken).send("critical_risk", "kill switch")
    assert [d.ok for d in deliveries] == [True] and len(recording.got) == 1


def test_dedupe_keys_are_stored_without_secrets(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "kairos.db")
    alerts = alerts_with([Recording()], ledger=lambda: ledger, redact=Redactor(["sk-live-0123456789"]))
    alerts.send("critical_risk", "auth failed for sk-live-0123456789")
    keys = [row["dedupe_key"] for row in ledger.read("SELECT dedupe_key FROM alerts")]
    assert keys == ["critical_risk:auth failed for ********"]
    assert alerts.send("critical_risk", "auth failed for sk-live-0123456789") == []  # same (masked) key: deduped


def test_a_failed_delivery_is_not_remembered_as_sent(tmp_path: Path) -> None:
    with SlackServer(statuses=(500, 200)) as slack:
        ctx = context_for(tmp_path, write_config(tmp_path / "c.yaml", slack_url=slack.url), clock=FixedClock(T0))
        first = ctx.alerts.send("twap_stalled", "KRW 부족", dedupe_key="twap_stalled:p1")
        second = ctx.alerts.send("twap_stalled", "KRW 부족", dedupe_key="twap_stalled:p1")
        third = ctx.alerts.send("twap_stalled", "KRW 부족", dedupe_key="twap_stalled:p1")
    assert [d.ok for d in first] == [False] and [d.ok for d in second] == [True] and third == []
    assert len(slack.requests) == 2


def test_dry_run_neither_reads_nor_writes_the_ledger(tmp_path: Path) -> None:
    with SlackServer() as slack:
        ctx = context_for(tmp_path, write_config(tmp_path / "c.yaml", slack_url=slack.url), dry_run=True)
        ctx.alerts.send("season_change", "same")
        ctx.alerts.send("season_change", "same")
    assert len(slack.requests) == 2
    assert not ctx.paths.ledger_file.exists()


# ---- failure() -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang, title, step", [
    ("ko", "⚠️ *KAIROS-1 --process-twap 실패 (종료 코드 4)*", "*다음 조치:* 안전장치가 거래를 멈췄습니다."),
    ("en", "⚠️ *KAIROS-1 --process-twap failed (exit 4)*", "*What to do next:* A safety rail stopped trading"),
])
def test_failure_alert_speaks_the_run_language(tmp_path: Path, lang: str, title: str, step: str) -> None:
    with SlackServer() as slack:
        ctx = context_for(tmp_path, write_config(tmp_path / "c.yaml", slack_url=slack.url), lang=lang)
        ctx.alerts.failure("tracking_error", "process_twap", "per-day cap reached", 4)
    text = slack.bodies[0]["text"]
    assert text.splitlines()[0] == title
    assert step in text and "• per-day cap reached" in text
