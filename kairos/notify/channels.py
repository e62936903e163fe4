"""Which notification channels this run has: only the enabled ones, built from the settings."""
from __future__ import annotations

from typing import Any

from kairos.notify.alerts import Alerts, Channel
from kairos.settings import NotificationSettings

CHANNEL_NAMES = ("slack", "email")


def enabled_names(notifications: NotificationSettings) -> list[str]:
    """Names of the enabled channels, in a fixed order (slack, email)."""
    return [name for name in CHANNEL_NAMES if getattr(notifications, name).enabled]


def channels_for(ctx: Any) -> list[Channel]:
    """The enabled channels for this run, speaking the run's language and masking its secrets."""
    n = ctx.settings.notifications
    found: list[Channel] = []
    if n.slack.enabled:
        from kairos.notify.slack import SlackChannel  # slack-sdk only when Slack is on
        found.append(SlackChannel(n.slack, lang=ctx.lang, redact=ctx.redactor))
    if n.email.enabled:
        from kairos.notify.email import EmailChannel
        found.append(EmailChannel(n.email, lang=ctx.lang, redact=ctx.redactor, now=ctx.clock.now))
    return found


def build_alerts(ctx: Any) -> Alerts:
    """Alerts for this run from the settings (channels are created only when enabled)."""
    n = ctx.settings.notifications
    ledger = (lambda: None) if ctx.dry_run else (lambda: ctx.ledger)
    return Alerts(channels_for(ctx), dict(n.alert_levels), n.dedupe_minutes, ledger, ctx.clock, ctx.redactor,
                  ctx.simulated, lang=ctx.lang, mode=ctx.mode)
