"""Slack channel: an incoming webhook through slack-sdk's WebhookClient, text in Slack mrkdwn.

Mentions follow the configuration: the users listed for the alert type in `mentions.by_alert_type`,
else `mentions.default_users`; plus `@channel` when the type is in `mentions.channel_mention_types`.
The webhook URL is a secret: it never appears in a Delivery, a log line or an exception we raise.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from slack_sdk.webhook import WebhookClient

from kairos.notify import render
from kairos.notify.alerts import Alert, Delivery
from kairos.settings import MentionSettings, SlackSettings

log = logging.getLogger("kairos.notify.slack")

# slack-sdk logs the full webhook URL at DEBUG whenever its logger's own level is NOTSET/DEBUG,
# and an ERROR line of its own on transport failures; we report failures ourselves, once.
_SDK_LOG = logging.getLogger("kairos.notify.slack.sdk")
_SDK_LOG.setLevel(logging.CRITICAL)

SPECIAL_MENTIONS = {"@channel": "<!channel>", "@here": "<!here>", "@everyone": "<!everyone>"}
URL_MASK = "[webhook]"


def mention_targets(mentions: MentionSettings, alert_type: str) -> list[str]:
    """Configured mention tokens for `alert_type`, de-duplicated, in configuration order.

    `by_alert_type[alert_type]` replaces `default_users` when the type is listed there (an empty list
    there means: nobody); `@channel` is appended when the type is in `channel_mention_types`.
    """
    if alert_type in mentions.by_alert_type:
        tokens = list(mentions.by_alert_type[alert_type])
    else:
        tokens = list(mentions.default_users)
    if alert_type in mentions.channel_mention_types:
        tokens.append("@channel")
    return list(dict.fromkeys(token.strip() for token in tokens if token.strip()))


def mention_markup(token: str) -> str:
    """Slack markup for one token: U…/W… users, S… user groups, @channel/@here/@everyone."""
    if token in SPECIAL_MENTIONS:
        return SPECIAL_MENTIONS[token]
    if token[:1] in ("U", "W"):
        return f"<@{token}>"
    if token[:1] == "S":
        return f"<!subteam^{token}>"
    return escape(token)


def mention_line(tokens: Sequence[str]) -> str:
    """All mentions on one line, duplicates (after rendering) removed, order kept."""
    return " ".join(dict.fromkeys(mention_markup(t) for t in tokens))


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control sequences in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def bold(text: str) -> str:
    """Slack bold is a single asterisk pair; asterisks inside would end it early."""
    return "*" + render.one_line(text).replace("*", "∗") + "*"


def mrkdwn(alert: Alert, lang: str, mentions: Sequence[str] = ()) -> str:
    """The message text: mention line, bold title, one line per fact, next step, context line."""
    lines = [mention_line(mentions)] if mentions else []
    icon = render.LEVEL_ICONS.get(alert.level, "")
    lines.append(f"{icon} {bold(escape(alert.title))}".strip())
    lines += [f"• {escape(fact)}" for fact in render.facts(alert)]
    if alert.action:
        lines.append(f"*{escape(render.next_step_label(lang))}:* {escape(alert.action)}")
    lines.append(f"_{escape(render.context_line(alert, lang))}_")
    return "\n".join(lines)


class SlackChannel:
    """Posts alerts to one Slack incoming webhook."""

    name = "slack"

    def __init__(self, settings: SlackSettings, *, lang: str = "ko",
                 redact: Callable[[str], str] = lambda s: s) -> None:
        if not settings.webhook_url:
            raise ValueError("notifications.slack.webhook_url: expected a webhook URL, got nothing")
        self.settings = settings
        self.lang = lang
        self._redact = redact
        self._url = settings.webhook_url.reveal()
        self._client = WebhookClient(self._url, timeout=float(settings.timeout_seconds),  # type: ignore[arg-type]
                                     logger=_SDK_LOG, retry_handlers=[])

    def __repr__(self) -> str:
        return f"SlackChannel(channel={self.settings.channel!r}, webhook_url='********')"

    def payload(self, alert: Alert) -> dict[str, Any]:
        """The JSON body sent to the webhook (channel/username are ignored by newer webhooks; harmless)."""
        tokens = mention_targets(self.settings.mentions, alert.alert_type)
        text = self._redact(mrkdwn(alert, self.lang, tokens))
        return {"text": text, "mrkdwn": True, "channel": self.settings.channel, "username": self.settings.username,
                "unfurl_links": False, "unfurl_media": False}

    def send(self, alert: Alert) -> Delivery:
        """Post the alert; any non-200 answer or transport error is a failed Delivery, never an exception."""
        try:
            response = self._client.send_dict(self.payload(alert))
        except Exception as exc:  # urllib/socket/ssl errors: translated here, at the boundary
            return Delivery(self.name, False, self._scrub(f"{type(exc).__name__}: {exc}"))
        if response.status_code != 200:
            body = render.one_line(response.body or "")[:200]
            return Delivery(self.name, False, self._scrub(f"HTTP {response.status_code}: {body or 'no body'}"))
        return Delivery(self.name, True, "HTTP 200")

    def _scrub(self, text: str) -> str:
        """One line, without the webhook URL or any other known secret."""
        return self._redact(render.one_line(text).replace(self._url, URL_MASK))
