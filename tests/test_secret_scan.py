"""A full mock lifecycle with recognisable secrets; every file, output line, Slack body and e-mail is scanned.

Lifecycle: weekly analysis, a TWAP plan run to completion tick by tick, status in text and JSON, the
performance report, system status, test alerts, and two forced errors (a failing exchange and a
corrupt state file). Zero occurrences of any secret (or its base64 form) may remain anywhere the
program wrote, except the user's own config file.
"""
from __future__ import annotations

import base64
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import yaml
from notify import SlackServer, SmtpServer

from kairos.cli import main
from kairos.clock import FixedClock
from kairos.coinone.auth import Credentials
from kairos.env import Env
from kairos.schema import Secret
from kairos.sim.factory import paper_exchange
from kairos.sim.faults import Fault

ACCESS = "ACCESS-TOKEN-SCAN-7F3A9C"
SECRET = "SECRET-KEY-SCAN-B41C2E77"
SMTP_PASSWORD = "SMTP-PASS-SCAN-9911"
WEBHOOK_TAIL = "WEBHOOK-SCAN-5511"
START = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)


def forms(secret: str) -> list[str]:
    encoded = base64.b64encode(secret.encode()).decode().rstrip("=")
    return [secret, encoded]


def write_config(home: Path, slack_port: int, smtp_port: int) -> None:
    config = {
        "mode": "mock",
        "exchange": {"access_token": ACCESS, "secret_key": SECRET},
        "execution": {"calm": {"slices": 3, "interval_minutes": 15}, "volatile": {"slices": 3, "interval_minutes": 15}},
        "notifications": {
            "dedupe_minutes": 0,
            "alert_levels": {"critical": ["slack", "email"], "warning": ["slack", "email"], "info": ["slack", "email"]},
            "slack": {"enabled": True, "webhook_url": f"http://127.0.0.1:{slack_port}/services/T1/B1/{WEBHOOK_TAIL}",
                      "mentions": {"default_users": ["U1234567890"], "channel_mention_types": ["system_error"]}},
            "email": {"enabled": True, "smtp_server": "127.0.0.1", "smtp_port": smtp_port, "security": "none",
                      "username": "kairos", "password": SMTP_PASSWORD, "sender": "kairos@example.com",
                      "recipients": ["owner@example.com"]},
        },
    }
    path = home / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    os.chmod(path, 0o600)


def test_no_secret_anywhere_after_a_full_lifecycle(tmp_path: Path) -> None:
    clock = FixedClock(START)
    app = paper_exchange(tmp_path / "data" / "mock" / "mock_exchange.sqlite", clock=clock,
                         credentials=Credentials(Secret(ACCESS), Secret(SECRET)))
    outputs: list[str] = []
    codes: list[int] = []

    def run(*argv: str) -> int:
        env = Env(io.StringIO(), io.StringIO(), {}, tmp_path, clock=clock, sim_app=app)
        code = main(list(argv), env)
        outputs.extend([env.stdout.getvalue(), env.stderr.getvalue()])
        codes.append(code)
        return code

    with SlackServer() as slack, SmtpServer(login=("kairos", SMTP_PASSWORD)) as smtp:
        write_config(tmp_path, slack._server.server_address[1], smtp.port)
        assert run("--weekly-analysis") == 0
        assert run("--quarterly-rebalance-twap") == 0
        for _ in range(8):
            clock.advance(minutes=15)
            assert run("--process-twap") == 0
        for argv in (["--twap-status"], ["--twap-status", "--json"], ["--performance-report", "30"],
                     ["--performance-report", "30", "--json"], ["--system-status"], ["--system-status", "--json"],
                     ["--test-alerts"], ["--weekly-analysis", "--dry-run", "--json"]):
            assert run(*argv) == 0, (argv, outputs[-1])
        app.faults.add(Fault(kind="http_5xx", path="/public/v2/chart*", count=50))
        assert run("--weekly-analysis") == 1  # forced error: the exchange fails, no decision
        app.faults.clear()
        (tmp_path / "data" / "mock" / "state.json").write_text("{ truncated", encoding="utf-8")
        assert run("--process-twap") == 3  # forced error: corrupt state file
        # the request path IS the webhook (where it is sent); what must stay clean is what is sent
        slack_bodies = [json.dumps(r["json"], ensure_ascii=False) + str(r["headers"]) for r in slack.requests]
        mails = [received.message.as_string() for received in smtp.received]

    assert slack_bodies and mails, "the lifecycle must actually have sent alerts"
    assert any("system_error" in body or "오류" in body or "failed" in body for body in slack_bodies)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != tmp_path / "config" / "config.yaml"]
    assert any(p.name == "kairos.log" for p in files) and any(p.name == "kairos.db" for p in files)
    secrets = [f for s in (ACCESS, SECRET, SMTP_PASSWORD, WEBHOOK_TAIL) for f in forms(s)]
    leaks = [(secret, where) for secret in secrets
             for where, text in [*[(f"output {i}", o) for i, o in enumerate(outputs)],
                                 *[(f"slack {i}", b) for i, b in enumerate(slack_bodies)],
                                 *[(f"mail {i}", m) for i, m in enumerate(mails)]]
             if secret in text]
    leaks += [(secret, str(p)) for p in files for secret in secrets if secret.encode() in p.read_bytes()]
    assert leaks == []
