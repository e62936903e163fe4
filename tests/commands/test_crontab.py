"""--print-crontab lines parsed and simulated; the line actually run by sh; systemd timers; scripts/ wrappers."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from io import StringIO
from pathlib import Path

import pytest

from kairos.cli import main
from kairos.env import Env

REPO = Path(__file__).resolve().parents[2]
KST = timezone(timedelta(hours=9))
FIELD = re.compile(r"^(\*|\*/\d+|\d+(-\d+)?(,\d+(-\d+)?)*)$")
RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
GUARD = '[ "$(TZ=Asia/Seoul date +\\%u)" = 1 ] &&'


def crontab(home: Path, *args: str) -> tuple[int, str]:
    env = Env(stdout=StringIO(), stderr=StringIO(), environ={}, home=home)
    code = main(["--print-crontab", *args], env=env)
    return code, env.stdout.getvalue()  # type: ignore[attr-defined]


def entries(text: str) -> dict[str, tuple[list[str], str]]:
    """flag → (5 time fields, command) for every entry line (not comments, blanks or NAME=value)."""
    found = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or re.match(r"^[A-Z_]+=", line):
            continue
        parts = line.split(None, 5)
        flag = re.search(r" (--[a-z-]+) ", parts[5]).group(1)  # type: ignore[union-attr]
        found[flag] = (parts[:5], parts[5])
    return found


def expand(field: str, lo: int, hi: int) -> set[int]:
    if field == "*":
        return set(range(lo, hi + 1))
    if field.startswith("*/"):
        return set(range(lo, hi + 1, int(field[2:])))
    out: set[int] = set()
    for part in field.split(","):
        a, _, b = part.partition("-")
        out |= set(range(int(a), int(b or a) + 1))
    return out


def cron_days(fields: list[str], start: date, end: date) -> list[date]:
    """Days on which (Vixie) cron fires a 09:00 entry: day-of-month and day-of-week are ORed when both are set."""
    dom, month, dow = expand(fields[2], 1, 31), expand(fields[3], 1, 12), {d % 7 for d in expand(fields[4], 0, 7)}
    days, d = [], start
    while d <= end:
        by_dom, by_dow = d.day in dom, d.isoweekday() % 7 in dow
        hit = (by_dom or by_dow) if fields[2] != "*" and fields[4] != "*" else (by_dom and by_dow)
        if d.month in month and hit:
            days.append(d)
        d += timedelta(days=1)
    return days


def test_lines_have_five_fields_absolute_paths_and_the_quarterly_guard(tmp_path: Path) -> None:
    code, text = crontab(tmp_path)
    assert code == 0
    assert "CRON_TZ=Asia/Seoul" in text.splitlines() and f"KAIROS_HOME={tmp_path}" in text.splitlines()
    assert "[모의 거래소]" not in text  # plain crontab text, not prefixed output
    jobs = entries(text)
    assert set(jobs) == {"--weekly-analysis", "--quarterly-rebalance-twap", "--process-twap", "--system-status"}
    for flag, (fields, command) in jobs.items():
        assert all(FIELD.match(f) for f in fields), fields
        for f, (lo, hi) in zip(fields, RANGES):
            assert all(lo <= v <= hi for v in expand(f, lo, hi))
        assert f"cd {tmp_path} && {sys.executable} {REPO / 'kairos1_main.py'} {flag} " in command
        assert command.endswith(f">> {tmp_path / 'logs' / 'cron.log'} 2>&1")
        assert Path(sys.executable).is_absolute()
        assert re.search(r"(?<!\\)%", command) is None  # a bare % would end the command in cron
    assert jobs["--weekly-analysis"][0] == ["0", "9", "*", "*", "1"]
    assert jobs["--process-twap"][0] == ["*/15", "*", "*", "*", "*"]
    assert jobs["--system-status"][0] == ["0", "9,18", "*", "*", "*"]
    fields, command = jobs["--quarterly-rebalance-twap"]
    assert fields == ["0", "9", "1-7", "1,4,7,10", "*"] and command.startswith(GUARD + " cd ")
    comment = text.splitlines()[text.splitlines().index(" ".join([*fields, command])) - 1]
    assert "OR" in comment and "두 번째 안전장치" in comment


def test_quarterly_line_means_the_first_monday_of_the_quarter(tmp_path: Path) -> None:
    fields, command = entries(crontab(tmp_path)[1])["--quarterly-rebalance-twap"]
    start, end = date(2026, 1, 1), date(2027, 12, 31)
    guarded = [d for d in cron_days(fields, start, end) if d.isoweekday() == 1]  # the shell's weekday test
    first_mondays = [date(y, m, next(d for d in range(1, 8) if date(y, m, d).isoweekday() == 1))
                     for y in (2026, 2027) for m in (1, 4, 7, 10)]
    assert guarded == first_mondays
    assert len(cron_days(fields, start, end)) == 8 * 7  # cron alone fires days 1-7: the guard matters
    seed = cron_days(["0", "9", "1-7", "1,4,7,10", "1"], start, end)
    assert len(seed) > 8 * 7 and date(2026, 1, 12) in seed  # the seed's line also fires on every Monday


def test_the_weekday_guard_runs_in_sh() -> None:
    guard = GUARD.replace("\\%", "%").removesuffix(" &&")
    result = subprocess.run(["sh", "-c", guard], check=False)
    assert (result.returncode == 0) == (datetime.now(KST).isoweekday() == 1)


def test_a_printed_line_runs_under_a_cron_like_environment(tmp_path: Path) -> None:
    _, command = entries(crontab(tmp_path)[1])["--process-twap"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh", "KAIROS_HOME": str(tmp_path)}
    subprocess.run(["sh", "-c", command.replace("\\%", "%")], env=env, cwd="/", timeout=60, check=True)
    log = (tmp_path / "logs" / "cron.log").read_text(encoding="utf-8")
    assert "[모의 거래소] 활성 TWAP 계획이 없습니다." in log


def test_config_mock_json_and_english(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere" / "my config.yaml"
    config.parent.mkdir()
    config.write_text("mode: mock\n", encoding="utf-8")
    config.chmod(0o600)
    code, text = crontab(tmp_path, "--config", str(config), "--mock", "--lang", "en")
    assert code == 0
    _, command = entries(text)["--weekly-analysis"]
    assert f"--weekly-analysis --config '{config}' --mock >>" in command
    assert "# Weekly season analysis (Mondays 09:00 KST)" in text
    doc = json.loads(crontab(tmp_path, "--json")[1])
    assert doc["python"] == sys.executable and [e["flag"] for e in doc["entries"]][1] == "--quarterly-rebalance-twap"
    assert doc["crontab"].count("\n0 9 1-7 1,4,7,10 * [ ") == 1


# ---- systemd units ---------------------------------------------------------------------------------------------
UNITS = {"weekly": "--weekly-analysis", "quarterly": "--quarterly-rebalance-twap", "process-twap": "--process-twap",
         "system-status": "--system-status"}


def unit(name: str) -> dict[str, str]:
    values = {}
    for line in (REPO / "deploy" / name).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


@pytest.mark.parametrize("name, flag", UNITS.items())
def test_systemd_service_and_timer_pair(name: str, flag: str) -> None:
    service, timer = unit(f"kairos-{name}.service"), unit(f"kairos-{name}.timer")
    assert service["Type"] == "oneshot" and service["ExecStart"].endswith(f"kairos1_main.py {flag}")
    assert service["WorkingDirectory"] == "/opt/kairos-1" and timer["WantedBy"] == "timers.target"
    assert "/opt/kairos-1" in (REPO / "deploy" / "README.md").read_text(encoding="utf-8")


def elapses(expression: str, n: int = 6) -> list[datetime]:
    """The next n times systemd would fire `expression`, in KST."""
    out = subprocess.run(["systemd-analyze", "calendar", f"--iterations={n}", expression], capture_output=True,
                         text=True, env={**os.environ, "TZ": "UTC"}, check=True).stdout
    stamps = re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", out)
    return [datetime.fromisoformat(s).replace(tzinfo=timezone.utc).astimezone(KST) for s in stamps]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_calendars() -> None:
    quarterly = elapses(unit("kairos-quarterly.timer")["OnCalendar"])
    assert len(quarterly) == 6
    assert all(t.isoweekday() == 1 and t.day <= 7 and t.month in (1, 4, 7, 10) and (t.hour, t.minute) == (9, 0)
               for t in quarterly)
    weekly = elapses(unit("kairos-weekly.timer")["OnCalendar"])
    assert all(t.isoweekday() == 1 and (t.hour, t.minute) == (9, 0) for t in weekly)
    assert [(b - a) for a, b in zip(weekly, weekly[1:])] == [timedelta(days=7)] * 5
    twap = elapses(unit("kairos-process-twap.timer")["OnCalendar"])
    assert [(b - a) for a, b in zip(twap, twap[1:])] == [timedelta(minutes=15)] * 5
    status = elapses(unit("kairos-system-status.timer")["OnCalendar"], 4)
    assert sorted({t.hour for t in status}) == [9, 18]


# ---- scripts/ wrappers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("script, flag", [("weekly_check.py", "--weekly-analysis"),
                                          ("quarterly_rebalance.py", "--quarterly-rebalance-twap"),
                                          ("performance_report.py", "--performance-report")])
def test_wrapper_passes_its_flag_first(script: str, flag: str) -> None:
    # a conflicting action makes argparse name the flag the wrapper put in front (nothing else runs)
    result = subprocess.run([sys.executable, str(REPO / "scripts" / script), "--twap-status"], capture_output=True,
                            text=True, cwd="/", timeout=60, check=False)
    assert result.returncode == 2
    assert f"argument --twap-status: not allowed with argument {flag}" in result.stderr
