"""--print-crontab: the seed's schedule for this installation (absolute interpreter, paths and log file).

Cron runs a line when *either* day-of-month or day-of-week matches, so the seed's `0 9 1-7 1,4,7,10 1`
would run on days 1–7 *and* on every Monday of those months. The quarterly line here matches days 1–7
and tests the weekday in the shell; the per-quarter idempotency of the rebalance is the second guard.

The text goes to stdout as is (no "[SIMULATED]" prefix), so `kairos --print-crontab > kairos.cron` works.
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import kairos
from kairos.context import Context

CHECKOUT = Path(kairos.__file__).resolve().parent.parent
TZ = "Asia/Seoul"
WEEKDAY_GUARD = f'[ "$(TZ={TZ} date +%u)" = 1 ] &&'  # % is escaped for cron when the line is rendered


@dataclass(frozen=True)
class Job:
    comment: tuple[str, str]
    schedule: str
    flag: str
    guard: str = ""


JOBS = (
    Job(("주간 시장 분석 (매주 월요일 09:00 KST)", "Weekly season analysis (Mondays 09:00 KST)"),
        "0 9 * * 1", "--weekly-analysis"),
    Job(("분기 리밸런싱 (1·4·7·10월 첫 월요일 09:00 KST): 1~7일에 실행하고 요일은 셸에서 검사합니다 — "
         "cron은 '일'과 '요일'을 OR로 묶기 때문입니다. 같은 분기 두 번째 실행은 아무것도 하지 않습니다(두 번째 안전장치)",
         "Quarterly rebalance (first Monday of Jan/Apr/Jul/Oct, 09:00 KST): days 1-7 with the weekday tested in the "
         "shell, because cron ORs day-of-month and day-of-week; a second run in the same quarter does nothing "
         "(the second guard)"),
        "0 9 1-7 1,4,7,10 *", "--quarterly-rebalance-twap", WEEKDAY_GUARD),
    Job(("TWAP 슬라이스 처리 (15분마다)", "TWAP slices (every 15 minutes)"), "*/15 * * * *", "--process-twap"),
    Job(("시스템 점검 (매일 09:00, 18:00 KST)", "System status (daily 09:00 and 18:00 KST)"), "0 9,18 * * *", "--system-status"),
)

HEADER = (
    ("KAIROS-1 crontab — --print-crontab이 {home}용으로 만들었습니다", "KAIROS-1 crontab — made by --print-crontab for {home}"),
    ("설치: crontab -e 로 아래 줄을 붙여 넣으세요 (crontab 파일 하나를 통째로 바꾸려면: crontab FILE)",
     "Install: paste the lines below with crontab -e (or replace the whole crontab: crontab FILE)"),
    ("CRON_TZ는 cronie 등에서 동작합니다. Debian/Ubuntu의 cron은 무시하므로 서버 시간대를 Asia/Seoul로 두거나 deploy/의 systemd 타이머를 쓰세요",
     "CRON_TZ works with cronie and others; Debian/Ubuntu cron ignores it: set the server time zone to Asia/Seoul or use the systemd timers in deploy/"),
)


def run(ctx: Context) -> int:
    """Print the crontab (or, with --json, its entries)."""
    lines = crontab_lines(ctx)
    if ctx.out.json_mode:
        entries = [{"schedule": j.schedule, "flag": j.flag, "line": render(j, command_for(ctx, j.flag))} for j in JOBS]
        ctx.out.emit({"home": str(ctx.paths.home), "python": sys.executable, "log": str(cron_log(ctx)),
                      "entries": entries, "crontab": "\n".join(lines) + "\n"})
        return 0
    ctx.env.stdout.write("\n".join(lines) + "\n")
    ctx.env.stdout.flush()
    return 0


def crontab_lines(ctx: Context) -> list[str]:
    """Header comments, environment lines, then one comment + one entry per job."""
    pick = 1 if ctx.lang == "en" else 0
    lines = [f"# {h[pick].format(home=ctx.paths.home)}" for h in HEADER]
    if ctx.mock:
        lines.append("# " + ("모드: 모의 거래소(mock) — 실거래는 설정에서 mode: live" if pick == 0
                             else "mode: simulated exchange (mock) — set mode: live in the config for real trading"))
    lines += [f"CRON_TZ={TZ}", f"KAIROS_HOME={ctx.paths.home}", ""]
    for job in JOBS:
        lines += [f"# {job.comment[pick]}", render(job, command_for(ctx, job.flag))]
    return lines


def command_for(ctx: Context, flag: str) -> str:
    """`cd HOME && PYTHON ENTRY FLAG [--config …] [--mock] >> LOG 2>&1`, every path absolute and quoted.

    ENTRY is the kairos1_main.py of the checkout this program runs from (KAIROS_HOME, set above the
    entries, may be elsewhere); an installed package without a checkout runs as `python -m kairos.cli`.
    """
    home = ctx.paths.home.resolve()
    entry = CHECKOUT / "kairos1_main.py"
    program = [sys.executable, str(entry)] if entry.exists() else [sys.executable, "-m", "kairos.cli"]
    args = [flag, *_config_args(ctx, home)] + (["--mock"] if getattr(ctx.args, "mock", False) else [])
    run_it = " ".join(shlex.quote(part) for part in [*program, *args])
    return f"cd {shlex.quote(str(home))} && {run_it} >> {shlex.quote(str(cron_log(ctx)))} 2>&1"


def _config_args(ctx: Context, home: Path) -> list[str]:
    """--config only when the file is not the one the program finds by itself (config/config.yaml)."""
    source = ctx.settings.source
    if source is None or source.resolve() == (home / "config" / "config.yaml").resolve():
        return []
    return ["--config", str(source.resolve())]


def cron_log(ctx: Context) -> Path:
    return ctx.paths.log_dir.resolve() / "cron.log"


def render(job: Job, command: str) -> str:
    """One crontab entry; every % escaped (cron turns a bare % into a newline)."""
    body = f"{job.guard} {command}" if job.guard else command
    return f"{job.schedule} {_cron_escape(body)}"


def _cron_escape(text: str) -> str:
    return text.replace("%", "\\%")
