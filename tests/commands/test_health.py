"""--system-status health checks end to end through kairos.cli.main (mock mode), plus the live-mode rules and
the threshold tables called directly."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml

from kairos.cli import main
from kairos.clock import FixedClock
from kairos.commands import health
from kairos.commands.health import FAIL, OK, WARN
from kairos.context import Context
from kairos.env import Env
from kairos.redact import Redactor
from kairos.settings import load
from notify import SlackServer, write_config

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday, 09:00 KST


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def check(self, key: str) -> dict[str, Any]:
        return next(c for c in json.loads(self.out)["checks"] if c["key"] == key)


def status(home: Path, now: datetime, *args: str) -> Run:
    env = Env(stdout=StringIO(), stderr=StringIO(), environ={"KAIROS_NOW": now.isoformat()}, home=home)
    code = main(["--system-status", *args], env=env)
    return Run(code, env.stdout.getvalue(), env.stderr.getvalue())  # type: ignore[attr-defined]


def configure(home: Path, settings: dict[str, Any], mode: int = 0o600) -> Path:
    path = home / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture(scope="module")
def twap_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mock installation with an active TWAP plan; the last --process-twap ran at 09:15 KST."""
    home = tmp_path_factory.mktemp("twap")
    for now, flag in ((T0, "--quarterly-rebalance-twap"), (T0 + timedelta(minutes=15), "--process-twap")):
        env = Env(stdout=StringIO(), stderr=StringIO(), environ={"KAIROS_NOW": now.isoformat()}, home=home)
        assert main([flag], env=env) == 0, env.stderr.getvalue()  # type: ignore[attr-defined]
    return home


# ---- heartbeat ----------------------------------------------------------------------------------------------
def test_old_heartbeat_while_a_plan_is_active_warns(twap_home: Path) -> None:
    run = status(twap_home, T0 + timedelta(minutes=15 + 60))
    assert run.code == 0, run.err  # a warning does not fail the run
    [line] = [l for l in run.out.splitlines() if "TWAP" in l and "⚠️" in l]
    assert "활성 TWAP 계획 1개 (tw-20260105t0000-1" in line
    assert "마지막 --process-twap이 60분 전 — 기준 45분 초과: cron이 멈췄을 수 있습니다" in line
    assert "✅ 국면 위험선호(risk-on), 마지막 주간 분석 75분 전 (2026-01-05 09:00 KST)" in run.out
    assert run.out.rstrip().endswith("종합: 경고 1건, 실패 0건")
    as_json = status(twap_home, T0 + timedelta(minutes=15 + 60), "--json")
    assert as_json.check("twap_heartbeat")["status"] == WARN and json.loads(as_json.out)["warnings"] == 1


def test_recent_heartbeat_is_fine(twap_home: Path) -> None:
    run = status(twap_home, T0 + timedelta(minutes=15 + 30), "--lang", "en")
    assert run.code == 0
    assert "✅ 1 active TWAP plan(s) (tw-20260105t0000-1" in run.out and "last --process-twap 30 min ago" in run.out
    assert run.out.rstrip().endswith("Overall: healthy")


def test_fresh_installation(tmp_path: Path) -> None:
    run = status(tmp_path, T0)
    assert run.code == 0
    assert "⚠️ 주간 분석 기록 없음" in run.out  # a schedule that never ran is worth a look
    assert "✅ 활성 TWAP 계획 없음 (마지막 --process-twap: 기록 없음)" in run.out  # no plan: no heartbeat needed
    assert "✅ 상태 파일 없음 (첫 실행 전)" in run.out and "✅ 원장 없음" in run.out and "✅ 잠금 없음" in run.out
    assert "✅ API 키 유효기간: 모의 모드라 해당 없음" in run.out and "✅ 킬 스위치 꺼짐" in run.out


# ---- API key age ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("issued, code, expected", [
    (date(2025, 1, 20), 0, "⚠️ API 키가 15일 뒤 만료됩니다 (2026-01-20) — 코인원에서 새 키를 발급해 설정을 바꾸세요"),
    (date(2025, 1, 4), 1, "❌ API 키가 2026-01-04에 만료되었습니다 (발급 2025-01-04)"),
    (date(2025, 6, 1), 0, "✅ API 키 만료까지 147일 (2026-06-01, 발급 2025-06-01)"),
])
def test_key_age(tmp_path: Path, issued: date, code: int, expected: str) -> None:
    configure(tmp_path, {"mode": "mock", "exchange": {"key_issued_on": issued.isoformat()}})
    run = status(tmp_path, T0)
    assert run.code == code and expected in run.out


@pytest.mark.parametrize("issued, today, expected", [
    (date(2025, 1, 1), date(2025, 12, 1), (OK, 31)), (date(2025, 1, 1), date(2025, 12, 2), (WARN, 30)),
    (date(2025, 1, 1), date(2026, 1, 1), (FAIL, 0)), (date(2025, 1, 1), date(2026, 3, 1), (FAIL, -59)),
])
def test_key_expiry_table(issued: date, today: date, expected: tuple[str, int]) -> None:
    # 2025-01-01 + 365 days = 2026-01-01
    status_, left, expires = health.key_expiry(issued, today, 365, 30)
    assert (status_, left) == expected and expires == date(2026, 1, 1)


# ---- permissions ---------------------------------------------------------------------------------------------
def test_world_readable_config_warns_in_mock_mode(tmp_path: Path) -> None:
    path = configure(tmp_path, {"mode": "mock"}, mode=0o644)
    run = status(tmp_path, T0)
    assert run.code == 0
    assert f"⚠️ 그룹/다른 사용자가 읽거나 쓸 수 있는 파일: {path} (0644) — chmod 600 {path}" in run.out
    path.chmod(0o600)
    assert f"✅ 파일 권한 정상: {path} (0600)" in status(tmp_path, T0).out


def live_context(home: Path, *, allow: bool = False, issued: str | None = None) -> Context:
    settings: dict[str, Any] = {"mode": "live", "exchange": {"access_token": "live-access", "secret_key": "live-secret"},
                                "trading": {"allow_insecure_permissions": allow}}
    if issued:
        settings["exchange"]["key_issued_on"] = issued
    configure(home, settings, mode=0o644)
    loaded = load(None, {}, home)
    env = Env(StringIO(), StringIO(), {}, home, clock=FixedClock(T0))
    return Context(env, loaded, argparse.Namespace(lang="en"), Redactor(loaded.secrets()))


def test_live_mode_rules(tmp_path: Path) -> None:
    key = tmp_path / "config" / "master.key"
    ctx = live_context(tmp_path)
    key.write_text("x" * 44, encoding="utf-8")
    key.chmod(0o640)
    check = health.check_permissions(ctx)
    assert check.status == FAIL and "(0644)" in check.text and f"{key} (0640)" in check.text
    assert "allow_insecure_permissions" in check.text
    assert health.check_permissions(live_context(tmp_path, allow=True)).status == WARN
    unknown = health.check_key_age(ctx)  # live without key_issued_on: says "unknown"
    assert unknown.status == OK and unknown.text.startswith("API key validity: unknown")
    assert health.check_key_age(live_context(tmp_path, issued="2024-12-01")).status == FAIL


# ---- lock, state file ---------------------------------------------------------------------------------------
def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_lock(tmp_path: Path) -> None:
    info = tmp_path / "data" / "mock" / "kairos.lock.info"
    info.parent.mkdir(parents=True)
    pid = dead_pid()
    info.write_text(json.dumps({"pid": pid, "since": "2026-01-05T08:45:00+09:00"}), encoding="utf-8")
    run = status(tmp_path, T0)
    assert run.code == 0
    assert f"⚠️ 오래된 잠금 정보: pid {pid}는 실행 중이 아닙니다 (2026-01-05 08:45부터)" in run.out and str(info) in run.out
    # the lock info is stamped with the wall clock, so these use it too
    wall = datetime.now(UTC)
    info.write_text(json.dumps({"pid": os.getpid(), "since": (wall - timedelta(hours=2)).isoformat()}), encoding="utf-8")
    assert f"⚠️ pid {os.getpid()}가 2시간 동안 잠금을 쥐고 있습니다" in status(tmp_path, T0).out
    info.write_text(json.dumps({"pid": os.getpid(), "since": wall.isoformat()}), encoding="utf-8")
    assert f"✅ 실행 중인 작업: pid {os.getpid()}, 0분 전 시작" in status(tmp_path, T0).out
    info.write_text("{not json", encoding="utf-8")
    assert "⚠️ 잠금 정보 파일을 읽을 수 없습니다" in status(tmp_path, T0).out


def test_corrupt_state_file_fails(tmp_path: Path) -> None:
    state = tmp_path / "data" / "mock" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text("{", encoding="utf-8")
    run = status(tmp_path, T0)
    assert run.code == 1
    assert "❌ 상태 파일 이상: state file" in run.out and "NOT reset" in run.out


def test_kill_switch_warns(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "KILL").write_text("", encoding="utf-8")
    assert "⚠️ 거래 중지(킬 스위치): 킬 파일 " in status(tmp_path, T0).out


# ---- the alert summary ------------------------------------------------------------------------------------
def test_problems_are_sent_once_per_set(tmp_path: Path) -> None:
    path = tmp_path / "config" / "config.yaml"
    path.parent.mkdir()
    with SlackServer() as slack:
        write_config(path, slack_url=slack.url, top={"mode": "mock", "exchange": {"key_issued_on": "2025-01-20"}})
        path.chmod(0o600)
        assert status(tmp_path, T0).code == 0
        assert status(tmp_path, T0 + timedelta(minutes=5)).code == 0  # same problems: not repeated
        path.chmod(0o644)
        assert status(tmp_path, T0 + timedelta(minutes=10)).code == 0  # a new problem: a new summary
    first, second = (b["text"] for b in slack.bodies)
    assert "KAIROS-1 시스템 점검: 실패 0건, 경고 2건" in first
    assert "API 키가 15일 뒤 만료됩니다" in first and "주간 분석 기록 없음" in first
    assert "경고 3건" in second and "chmod 600" in second and len(slack.bodies) == 2


# ---- tables ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("free, total, expected", [
    (50 << 20, 100 << 30, FAIL), (500 << 20, 100 << 30, WARN), (2 << 30, 100 << 30, WARN), (10 << 30, 100 << 30, OK),
])
def test_disk_thresholds(free: int, total: int, expected: str) -> None:
    # fail < 100 MiB; warn < 1 GiB or < 5 % (2 GiB of 100 GiB = 2 %); 10 GiB of 100 GiB is fine
    assert health.disk_status(free, total) == expected


def test_small_helpers() -> None:
    assert [health.human_bytes(n) for n in (512, 164_557, 3 << 30)] == ["512 B", "160.7 KiB", "3.0 GiB"]
    assert health.pid_alive(os.getpid()) and not health.pid_alive(dead_pid()) and not health.pid_alive(0)
