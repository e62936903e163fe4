"""--test-alerts end to end, in-process through kairos.cli.main, against a local Slack stand-in and SMTP server."""
from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

from kairos.cli import main
from kairos.env import Env
from notify import SlackServer, SmtpServer, closed_port, write_config

U1, U2 = "U1234567890", "U0987654321"
SEED_MENTIONS = {"default_users": [U1], "by_alert_type": {"test": [U2], "system_error": ["@channel"]},
                 "channel_mention_types": ["test", "critical_risk"]}


def run_cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = Env(stdout=StringIO(), stderr=StringIO(), environ={}, home=tmp_path)
    code = main(["--test-alerts", "--config", str(tmp_path / "config.yaml"), *args], env=env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def configure(tmp_path: Path, **kw: Any) -> Path:
    return write_config(tmp_path / "config.yaml", **kw)


def test_both_channels_delivered(tmp_path: Path) -> None:
    with SlackServer() as slack, SmtpServer() as smtp:
        configure(tmp_path, slack_url=slack.url, smtp_port=smtp.port, mentions=SEED_MENTIONS)
        code, out, err = run_cli(tmp_path)
    assert code == 0, err
    text = slack.bodies[0]["text"]
    assert text.splitlines()[0] == f"<@{U2}> <!channel>"  # by_alert_type[test] overrides default_users
    assert f"<@{U1}>" not in text and "*KAIROS-1 알림 테스트*" in text
    [mail] = smtp.received
    assert mail.message["Subject"] == "[KAIROS-1] INFO [모의 거래소] KAIROS-1 알림 테스트"
    assert mail.rcpt_tos == ["ops@example.com", "owner@example.org"]
    assert "✅ slack: 전송 성공 — HTTP 200" in out
    assert f"✅ email: 전송 성공 — sent to 2 recipient(s) via 127.0.0.1:{smtp.port}" in out
    assert "모든 채널 전송 성공 (2/2)" in out and "❌" not in out


def test_test_type_falls_back_to_default_users(tmp_path: Path) -> None:
    with SlackServer() as slack:
        configure(tmp_path, slack_url=slack.url, mentions={"default_users": [U1, "@here"]})
        code, _, err = run_cli(tmp_path)
    assert code == 0, err
    assert slack.bodies[0]["text"].splitlines()[0] == f"<@{U1}> <!here>"


def test_level_routing_is_bypassed(tmp_path: Path) -> None:
    with SlackServer() as slack, SmtpServer() as smtp:
        configure(tmp_path, slack_url=slack.url, smtp_port=smtp.port,
                  notifications={"alert_levels": {"info": [], "warning": [], "critical": []}})
        code, _, err = run_cli(tmp_path)
    assert code == 0, err
    assert (len(slack.requests), len(smtp.received)) == (1, 1)


def test_slack_500_fails_the_run_but_email_is_still_delivered(tmp_path: Path) -> None:
    with SlackServer(statuses=(500,)) as slack, SmtpServer() as smtp:
        configure(tmp_path, slack_url=slack.url, smtp_port=smtp.port)
        code, out, err = run_cli(tmp_path)
    assert code == 1
    assert len(smtp.received) == 1
    assert "❌ slack: 전송 실패 — HTTP 500: internal_error" in out and "✅ email" in out
    assert "실패한 채널 1개 / 전체 2개" in out
    log_text = (tmp_path / "logs" / "kairos.log").read_text(encoding="utf-8")
    assert "alert via slack failed: HTTP 500" in log_text
    for text in (out, err, log_text):
        assert slack.url not in text and "/services/T/B/X" not in text


def test_unreachable_smtp_fails_the_run(tmp_path: Path) -> None:
    with SlackServer() as slack:
        configure(tmp_path, slack_url=slack.url, smtp_port=closed_port())
        code, out, _ = run_cli(tmp_path)
    assert code == 1
    assert "✅ slack" in out and "❌ email: 전송 실패 — ConnectionRefusedError" in out


def test_no_channel_enabled_says_how_to_enable_one(tmp_path: Path) -> None:
    configure(tmp_path)
    code, out, _ = run_cli(tmp_path)
    assert code == 0
    assert "활성화된 알림 채널이 없어" in out and "notifications.slack.enabled: true" in out
    assert "✅" not in out


def test_json_output(tmp_path: Path) -> None:
    with SlackServer(statuses=(500,)) as slack, SmtpServer() as smtp:
        configure(tmp_path, slack_url=slack.url, smtp_port=smtp.port)
        code, out, _ = run_cli(tmp_path, "--json")
    document = json.loads(out)
    assert code == 1 and document["ok"] is False and document["simulated"] is True
    assert [(c["channel"], c["ok"]) for c in document["channels"]] == [("slack", False), ("email", True)]
    assert document["channels"][0]["detail"] == "HTTP 500: internal_error"


def test_english_output(tmp_path: Path) -> None:
    with SlackServer() as slack:
        configure(tmp_path, slack_url=slack.url)
        code, out, _ = run_cli(tmp_path, "--lang", "en")
    assert code == 0
    assert "✅ slack: delivered — HTTP 200" in out and "All channels delivered (1/1)" in out
    assert "*KAIROS-1 alert test*" in slack.bodies[0]["text"]


def test_repeated_runs_are_not_deduplicated(tmp_path: Path) -> None:
    with SlackServer() as slack:
        configure(tmp_path, slack_url=slack.url)
        codes = [run_cli(tmp_path)[0], run_cli(tmp_path)[0]]
    assert codes == [0, 0] and len(slack.requests) == 2


def test_the_exchange_client_is_never_built(tmp_path: Path) -> None:
    with SlackServer() as slack:
        configure(tmp_path, slack_url=slack.url)
        code, _, _ = run_cli(tmp_path)
    assert code == 0
    assert not (tmp_path / "data" / "mock" / "mock_exchange.sqlite").exists()  # the in-process simulator's account file
