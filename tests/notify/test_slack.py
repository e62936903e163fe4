"""Slack channel against a real local HTTP server standing in for the incoming webhook."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from decimal import Decimal
from types import MappingProxyType
from typing import Iterator

import pytest

from kairos.notify.alerts import Alert
from kairos.notify.slack import SlackChannel, mention_line, mention_markup, mention_targets, mrkdwn
from kairos.redact import Redactor
from kairos.schema import Secret
from kairos.settings import MentionSettings, SlackSettings
from notify import SlackServer, closed_port

U1, U2 = "U1234567890", "U0987654321"


def mentions(default: tuple[str, ...] = (), by_type: dict[str, tuple[str, ...]] | None = None,
             channel_types: tuple[str, ...] = ()) -> MentionSettings:
    return MentionSettings(default_users=default, by_alert_type=MappingProxyType(dict(by_type or {})),
                           channel_mention_types=channel_types)


def slack(url: str, m: MentionSettings | None = None, **kw: object) -> SlackSettings:
    return SlackSettings(enabled=True, webhook_url=Secret(url), mentions=m or mentions(), **kw)  # type: ignore[arg-type]


def alert(alert_type: str = "season_change", **kw: object) -> Alert:
    base: dict[str, object] = {"title": "계절 변경: 위험선호", "lines": ("BTC 95,123,456 KRW", "200주 MA 61,000,000 KRW")}
    return Alert(alert_type, **{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[SlackServer]:
    with SlackServer() as s:
        yield s


def first_line(server: SlackServer) -> str:
    return server.bodies[-1]["text"].splitlines()[0]


# ---- mention rules (pure) ----------------------------------------------------------------------
@pytest.mark.parametrize("config, alert_type, expected", [
    (mentions(default=(U1, U2)), "season_change", [U1, U2]),
    (mentions(default=("@channel",)), "season_change", ["@channel"]),
    (mentions(default=("@here",)), "twap_start", ["@here"]),
    (mentions(default=(U1, "@channel")), "test", [U1, "@channel"]),
    (mentions(default=(U1,), by_type={"system_error": (U2,)}), "system_error", [U2]),
    (mentions(default=(U1,), by_type={"system_error": (U2,)}), "twap_complete", [U1]),
    (mentions(default=(U1,), by_type={"test": ()}), "test", []),
    (mentions(default=(U1,), channel_types=("critical_risk",)), "critical_risk", [U1, "@channel"]),
    (mentions(default=(U1,), channel_types=("critical_risk",)), "tracking_error", [U1]),
    (mentions(default=(U1, "@channel", U1), channel_types=("test",)), "test", [U1, "@channel"]),
    (mentions(), "weekly_analysis", []),
])
def test_mention_targets_follow_the_configuration(config: MentionSettings, alert_type: str, expected: list[str]) -> None:
    assert mention_targets(config, alert_type) == expected


@pytest.mark.parametrize("token, markup", [
    (U1, f"<@{U1}>"), ("W0123456789", "<@W0123456789>"), ("S0123ABCD", "<!subteam^S0123ABCD>"),
    ("@channel", "<!channel>"), ("@here", "<!here>"), ("@everyone", "<!everyone>"),
])
def test_mention_markup(token: str, markup: str) -> None:
    assert mention_markup(token) == markup


def test_mention_line_keeps_order_and_drops_duplicates() -> None:
    assert mention_line([U2, "@here", U1, U2]) == f"<@{U2}> <!here> <@{U1}>"


# ---- real HTTP round trips -----------------------------------------------------------------------
@pytest.mark.parametrize("config, alert_type, expected_first_line", [
    (mentions(default=(U1, U2)), "season_change", f"<@{U1}> <@{U2}>"),
    (mentions(default=("@channel",)), "season_change", "<!channel>"),
    (mentions(default=("@here",)), "season_change", "<!here>"),
    (mentions(default=(U1, "@channel")), "season_change", f"<@{U1}> <!channel>"),
    (mentions(default=(U1,), by_type={"season_change": (U2, "S0123ABCD")}), "season_change",
     f"<@{U2}> <!subteam^S0123ABCD>"),
    (mentions(default=(U1,), by_type={"system_error": (U2,)}), "season_change", f"<@{U1}>"),
    (mentions(default=(U2,), channel_types=("season_change",)), "season_change", f"<@{U2}> <!channel>"),
])
def test_posted_text_starts_with_the_configured_mentions(server: SlackServer, config: MentionSettings,
                                                          alert_type: str, expected_first_line: str) -> None:
    delivery = SlackChannel(slack(server.url, config)).send(alert(alert_type))
    assert delivery.ok, delivery.detail
    assert first_line(server) == expected_first_line
    assert server.requests[-1]["path"] == "/services/T/B/X"


def test_no_mentions_means_the_title_comes_first(server: SlackServer) -> None:
    SlackChannel(slack(server.url)).send(alert())
    assert first_line(server) == "⚠️ *계절 변경: 위험선호*"
    assert "<@" not in server.bodies[-1]["text"] and "<!" not in server.bodies[-1]["text"]


def test_message_is_slack_mrkdwn_with_numbers_and_next_step(server: SlackServer) -> None:
    a = alert("system_error", title="KAIROS-1 --process-twap 실패", action="logs/kairos.log 확인",
              fields={"ATR": Decimal("0.0734"), "slices": 24})
    SlackChannel(slack(server.url)).send(a)
    lines = server.bodies[-1]["text"].splitlines()
    assert lines[0] == "🚨 *KAIROS-1 --process-twap 실패*"
    assert "**" not in server.bodies[-1]["text"]
    assert lines[1:5] == ["• BTC 95,123,456 KRW", "• 200주 MA 61,000,000 KRW", "• ATR: 0.0734", "• slices: 24"]
    assert lines[5] == "*다음 조치:* logs/kairos.log 확인"


def test_english_labels_on_request(server: SlackServer) -> None:
    SlackChannel(slack(server.url), lang="en").send(alert("twap_stalled", action="Top up KRW", simulated=True))
    text = server.bodies[-1]["text"]
    assert "*What to do next:* Top up KRW" in text
    assert text.splitlines()[-1] == "_[SIMULATED] KAIROS-1 · warning · twap_stalled_"


def test_context_line_marks_simulated_runs_only(server: SlackServer) -> None:
    channel = SlackChannel(slack(server.url))
    channel.send(alert(simulated=True))
    channel.send(alert(simulated=False))
    assert server.bodies[0]["text"].splitlines()[-1] == "_[모의 거래소] KAIROS-1 · 경고 · season_change_"
    assert server.bodies[1]["text"].splitlines()[-1] == "_KAIROS-1 · 경고 · season_change_"


def test_channel_and_username_are_sent(server: SlackServer) -> None:
    SlackChannel(slack(server.url, channel="#kairos-ops", username="KAIROS-bot")).send(alert())
    body = server.bodies[-1]
    assert (body["channel"], body["username"]) == ("#kairos-ops", "KAIROS-bot")


def test_alert_text_cannot_inject_mentions_or_links(server: SlackServer) -> None:
    SlackChannel(slack(server.url)).send(alert(title="BTC > MA <!channel>", lines=("a & b <http://x|y>",)))
    text = server.bodies[-1]["text"]
    assert "*BTC &gt; MA &lt;!channel&gt;*" in text and "• a &amp; b &lt;http://x|y&gt;" in text
    assert "<!channel>" not in text


def test_known_secrets_are_masked_in_the_posted_text(server: SlackServer) -> None:
    redact = Redactor(["sk-very-secret-value"])
    SlackChannel(slack(server.url), redact=redact).send(alert(lines=("key sk-very-secret-value leaked",)))
    assert "sk-very-secret-value" not in server.bodies[-1]["text"]
    assert "********" in server.bodies[-1]["text"]


def test_http_500_is_a_failed_delivery_without_the_url() -> None:
    with SlackServer(statuses=(500,)) as server:
        delivery = SlackChannel(slack(server.url)).send(alert())
    assert not delivery.ok
    assert delivery.detail == "HTTP 500: internal_error"
    assert len(server.requests) == 1  # no silent retry of a webhook post


def test_refused_connection_is_a_failed_delivery_without_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}/services/T/B/X"
    delivery = SlackChannel(slack(url, timeout_seconds=Decimal(2))).send(alert())
    assert not delivery.ok
    assert "Connection refused" in delivery.detail or "URLError" in delivery.detail
    assert url not in delivery.detail and "/services/" not in delivery.detail


def test_repr_hides_the_webhook(server: SlackServer) -> None:
    channel = SlackChannel(slack(server.url))
    assert server.url not in repr(channel) and "/services/" not in repr(channel)


@contextmanager
def all_logs() -> Iterator[list[str]]:
    """Capture every log record at DEBUG from the root, `kairos` and `slack_sdk` loggers."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage() + (self.format(record) if record.exc_info else ""))

    handler = Collect(logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("kairos"), logging.getLogger("slack_sdk")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)


def test_webhook_url_never_reaches_any_log_line() -> None:
    with all_logs() as lines, SlackServer(statuses=(200, 500)) as server:
        channel = SlackChannel(slack(server.url))
        results = [channel.send(alert()), channel.send(alert())]
        refused = SlackChannel(slack(f"http://127.0.0.1:{closed_port()}/services/T/B/X")).send(alert())
    assert [r.ok for r in results + [refused]] == [True, False, False]
    assert all("/services/T/B/X" not in line for line in lines)
    assert all("/services/" not in r.detail for r in results + [refused])


def test_mrkdwn_renders_without_a_network() -> None:
    text = mrkdwn(alert("test", title="t*x"), "ko", [U1])
    assert text.splitlines()[:2] == [f"<@{U1}>", "ℹ️ *t∗x*"]
