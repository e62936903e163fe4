"""Dedupe across processes: separate runs share only the SQLite ledger under the same home."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kairos.clock import FixedClock
from notify import SlackServer, context_for, write_config

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 0, 0, tzinfo=timezone.utc)

# One cron-like run: build the context as the CLI does, send one alert, print what happened.
RUN_ONCE = """
import argparse, sys
from kairos.context import Context
from kairos.env import Env
from kairos.redact import Redactor
from kairos.settings import load
env = Env.from_process()
settings = load(sys.argv[1], env.environ, env.home)
ctx = Context(env, settings, argparse.Namespace(), Redactor(settings.secrets()))
deliveries = ctx.alerts.send("season_change", "계절 변경: 위험선호", ["BTC 95,000,000 KRW"])
print(len(deliveries), ",".join(str(d.ok) for d in deliveries))
"""


def run_process(home: Path, config: Path, now: datetime) -> str:
    """Run one separate Python process at the mock-mode time `now`; return its stdout line."""
    environ = {**os.environ, "KAIROS_HOME": str(home), "KAIROS_NOW": now.isoformat(), "PYTHONPATH": str(REPO)}
    environ.pop("KAIROS_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", RUN_ONCE, str(config)], env=environ, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_second_process_within_the_window_is_suppressed_and_sent_again_after_it(tmp_path: Path) -> None:
    with SlackServer() as slack:
        config = write_config(tmp_path / "c.yaml", slack_url=slack.url)
        outputs = [run_process(tmp_path, config, T0), run_process(tmp_path, config, T0 + timedelta(minutes=59)),
                   run_process(tmp_path, config, T0 + timedelta(minutes=60))]
    assert outputs == ["1 True", "0", "1 True"]
    assert len(slack.requests) == 2


def test_a_failed_send_in_one_process_is_retried_by_the_next(tmp_path: Path) -> None:
    with SlackServer(statuses=(500, 200)) as slack:
        config = write_config(tmp_path / "c.yaml", slack_url=slack.url)
        outputs = [run_process(tmp_path, config, T0), run_process(tmp_path, config, T0 + timedelta(minutes=15)),
                   run_process(tmp_path, config, T0 + timedelta(minutes=30))]
    assert outputs == ["1 False", "1 True", "0"]
    assert len(slack.requests) == 2


def test_separate_contexts_in_one_process_share_the_ledger_file(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    with SlackServer() as slack:
        config = write_config(tmp_path / "c.yaml", slack_url=slack.url)
        first = context_for(tmp_path, config, clock=clock).alerts.send("tracking_error", "BTC 괴리 6.2%")
        clock.advance(minutes=30)
        second = context_for(tmp_path, config, clock=clock).alerts.send("tracking_error", "BTC 괴리 6.2%")
        other_key = context_for(tmp_path, config, clock=clock).alerts.send("tracking_error", "ETH 괴리 5.1%")
        clock.advance(minutes=31)
        third = context_for(tmp_path, config, clock=clock).alerts.send("tracking_error", "BTC 괴리 6.2%")
    assert [len(first), len(second), len(other_key), len(third)] == [1, 0, 1, 1]
    assert len(slack.requests) == 3


def test_in_process_then_subprocess(tmp_path: Path) -> None:
    with SlackServer() as slack:
        config = write_config(tmp_path / "c.yaml", slack_url=slack.url)
        ctx = context_for(tmp_path, config, clock=FixedClock(T0))
        sent = ctx.alerts.send("season_change", "계절 변경: 위험선호", ["BTC 95,000,000 KRW"])
        ctx.ledger.close()
        later = run_process(tmp_path, config, T0 + timedelta(minutes=5))
    assert [d.ok for d in sent] == [True] and later == "0"
    assert len(slack.requests) == 1
