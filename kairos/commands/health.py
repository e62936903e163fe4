"""The extra --system-status checks: is the schedule alive, are the files healthy, is anything about to expire.

Each check returns one `Check` (defined here) (ok / warn / fail) with a one-line text in the
run's language. None of them calls the exchange; the state file is read once, without the lock.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from kairos.engine.model import State
from kairos.clock import KST
from kairos.commands.plan_view import regime_name
from kairos.context import Context
from kairos.errors import StateError
from kairos.permissions import loose_files
from kairos.secrets import master_key_file

OK, WARN, FAIL = "ok", "warn", "fail"
ICON = {OK: "✅", WARN: "⚠️", FAIL: "❌"}


@dataclass(frozen=True)
class Check:
    """One line of --system-status / --preflight: a key, ok / warn / fail, and the text in the run's language."""

    key: str
    status: str
    text: str


LOCK_STALE = timedelta(hours=1)
LEDGER_WARN_BYTES = 1 << 30  # 1 GiB: worth a look (VACUUM, archiving)
DISK_FAIL_BYTES = 100 << 20  # 100 MiB: the next state save or ledger write may fail
DISK_WARN_BYTES = 1 << 30
DISK_WARN_SHARE = 0.05

M = {
    "weekly_none": ("주간 분석 기록 없음 — --weekly-analysis가 한 번도 실행되지 않았습니다 (cron: 월요일 09:00)",
                    "No weekly analysis recorded — --weekly-analysis has never run (cron: Monday 09:00)"),
    "weekly_ok": ("국면 {regime}, 마지막 주간 분석 {age} 전 ({at} KST)", "Regime {regime}, last weekly analysis {age} ago ({at} KST)"),
    "weekly_old": ("국면 {regime}, 마지막 주간 분석이 {age} 전 ({at} KST) — 기준 {days}일 초과: cron을 확인하세요",
                   "Regime {regime}, last weekly analysis {age} ago ({at} KST) — over {days} days: check cron"),
    "quarter_ok": ("분기 리밸런싱: 마지막 {q} ({at} KST)", "Quarterly rebalance: last {q} ({at} KST)"),
    "quarter_late_on": ("분기 리밸런싱 {q}이(가) 예정({due} KST)이 지났는데 실행되지 않았습니다 — 다음 --process-twap이 늦게 시작합니다",
                        "Quarterly rebalance {q} was due {due} KST and has not run — the next --process-twap starts it late"),
    "quarter_late_off": ("분기 리밸런싱 {q}이(가) 예정({due} KST)이 지났는데 실행되지 않았습니다 — rebalance.catch_up이 꺼져 있으니 "
                         "--quarterly-rebalance-twap을 직접 실행하세요",
                         "Quarterly rebalance {q} was due {due} KST and has not run — strategy.rebalance.catch_up is off: "
                         "run --quarterly-rebalance-twap yourself"),
    "twap_idle": ("활성 TWAP 계획 없음 (마지막 --process-twap: {last})", "No active TWAP plan (last --process-twap: {last})"),
    "twap_ok": ("활성 TWAP 계획 {n}개 ({plans}), 마지막 --process-twap {last}", "{n} active TWAP plan(s) ({plans}), last --process-twap {last}"),
    "twap_old": ("활성 TWAP 계획 {n}개 ({plans})인데 마지막 --process-twap이 {last} — 기준 {minutes}분 초과: cron이 멈췄을 수 있습니다",
                 "{n} active TWAP plan(s) ({plans}) but the last --process-twap was {last} — over {minutes} min: cron may be dead"),
    "ago": ("{age} 전", "{age} ago"), "never": ("기록 없음", "never"),
    "state_none": ("상태 파일 없음 (첫 실행 전): {path}", "No state file yet (before the first run): {path}"),
    "state_ok": ("상태 파일 정상, 백업 {n}개{latest}", "State file OK, {n} backup(s){latest}"),
    "state_latest": (" (최근 정상 백업: {name})", " (latest good: {name})"),
    "state_bad_backups": ("상태 파일 정상, 그러나 백업 {n}개 중 읽을 수 있는 것이 없습니다 ({dir})",
                          "State file OK, but none of the {n} backup(s) can be read ({dir})"),
    "state_fail": ("상태 파일 이상: {err}", "State file problem: {err}"),
    "lock_none": ("잠금 없음 (실행 중인 작업 없음)", "No lock held (no run in progress)"),
    "lock_ok": ("실행 중인 작업: pid {pid}, {age} 전 시작", "Run in progress: pid {pid}, started {age} ago"),
    "lock_dead": ("오래된 잠금 정보: pid {pid}는 실행 중이 아닙니다 ({since}부터) — 이전 실행이 비정상 종료된 것 같습니다. logs/kairos.log 확인 후 {path} 삭제",
                  "Stale lock info: pid {pid} is not running (since {since}) — an earlier run died; check logs/kairos.log, then delete {path}"),
    "lock_old": ("pid {pid}가 {age} 동안 잠금을 쥐고 있습니다 — 멈춘 실행인지 확인하세요 ({path})",
                 "pid {pid} has held the lock for {age} — check whether that run hangs ({path})"),
    "lock_bad": ("잠금 정보 파일을 읽을 수 없습니다: {path}", "Lock info file unreadable: {path}"),
    "ledger_none": ("원장 없음 (아직 기록 없음): {path}", "No ledger yet: {path}"),
    "ledger_ok": ("원장 크기 {size} ({path})", "Ledger size {size} ({path})"),
    "ledger_big": ("원장이 {size}로 큽니다 ({path}) — 보관/정리를 고려하세요", "Ledger is large: {size} ({path}) — consider archiving"),
    "disk": ("데이터 폴더 여유 공간 {free} / {total} ({pct})", "Free disk on the data folder: {free} of {total} ({pct})"),
    "disk_low": ("데이터 폴더 여유 공간 부족: {free} / {total} ({pct})", "Low free disk on the data folder: {free} of {total} ({pct})"),
    "key_unknown": ("API 키 유효기간: 알 수 없음 (exchange.key_issued_on 미설정; 코인원 키는 발급 후 1년 유효)",
                    "API key validity: unknown (exchange.key_issued_on not set; Coinone keys last one year)"),
    "key_mock": ("API 키 유효기간: 모의 모드라 해당 없음", "API key validity: not applicable (no keys are used in this mode)"),
    "key_ok": ("API 키 만료까지 {left}일 ({expires}, 발급 {issued})", "API key expires in {left} days ({expires}, issued {issued})"),
    "key_soon": ("API 키가 {left}일 뒤 만료됩니다 ({expires}) — 코인원에서 새 키를 발급해 설정을 바꾸세요",
                 "API key expires in {left} days ({expires}) — issue a new key at Coinone and update the config"),
    "key_expired": ("API 키가 {expires}에 만료되었습니다 (발급 {issued}) — 새 키를 발급하고 exchange.key_issued_on도 바꾸세요",
                    "API key expired on {expires} (issued {issued}) — issue a new key and update exchange.key_issued_on"),
    "perm_ok": ("파일 권한 정상: {files}", "File permissions OK: {files}"),
    "perm_none": ("권한 검사할 설정 파일 없음 (기본값 사용)", "No config file to check permissions of (built-in defaults)"),
    "perm_bad": ("그룹/다른 사용자가 읽거나 쓸 수 있는 파일: {files} — chmod 600 {paths}{why}",
                 "Readable or writable by group/others: {files} — chmod 600 {paths}{why}"),
    "perm_live": (" (실거래 모드에서는 실패로 처리; 허용하려면 trading.allow_insecure_permissions: true)",
                  " (a failure in live mode; trading.allow_insecure_permissions: true accepts it)"),
    "kill_on": ("거래 중지(킬 스위치): {why} — 새 주문이 나가지 않습니다", "Trading stopped (kill switch): {why} — no new order goes out"),
    "kill_off": ("킬 스위치 꺼짐 (거래 허용)", "Kill switch off (trading allowed)"),
    "minutes": ("{n}분", "{n} min"), "hours": ("{n}시간", "{n} h"), "days": ("{n}일", "{n} days"),
}


def health_checks(ctx: Context) -> list[Callable[[], Check]]:
    """The checks --system-status adds to the foundation's, in display order (the state file is read once)."""
    read = _state_reader(ctx)
    return [lambda: check_weekly(ctx, read()), lambda: check_quarter(ctx, read()), lambda: check_twap(ctx, read()),
            lambda: check_state(ctx, read()),
            lambda: check_lock(ctx), lambda: check_ledger(ctx), lambda: check_disk(ctx), lambda: check_key_age(ctx),
            lambda: check_permissions(ctx), lambda: check_kill_switch(ctx)]


def _state_reader(ctx: Context) -> Callable[[], State | StateError]:
    cache: dict[str, Any] = {}

    def read() -> State | StateError:
        if "state" not in cache:
            try:
                cache["state"] = ctx.state.read()
            except StateError as exc:
                cache["state"] = exc
        return cache["state"]
    return read


# ---- schedule liveness ----------------------------------------------------------------------------------
def check_weekly(ctx: Context, state: State | StateError) -> Check:
    if isinstance(state, StateError):
        return Check("weekly_analysis", WARN, ctx.out.t(M["state_fail"], err=state))
    season = state.season
    at = season.last_analysis.at if season.last_analysis is not None else state.heartbeat.get("weekly_analysis")
    if at is None:
        return Check("weekly_analysis", WARN, ctx.out.t(M["weekly_none"]))
    regime = regime_name(ctx.out, season.regime) if season.regime else "—"
    age = ctx.clock.now() - at
    limit = ctx.settings.monitoring.weekly_analysis_warn_days
    values = {"regime": regime, "age": _age(ctx, age), "at": _kst(at), "days": limit}
    if age > timedelta(days=limit):
        return Check("weekly_analysis", WARN, ctx.out.t(M["weekly_old"], **values))
    return Check("weekly_analysis", OK, ctx.out.t(M["weekly_ok"], **values))


def check_quarter(ctx: Context, state: State | StateError) -> Check:
    """Warn when this quarter's rebalance was due (first Monday 09:00 KST + 1 h) and has not run."""
    from kairos.commands.common import quarter_id
    from kairos.core.calendar import catch_up_due, quarter_due

    if isinstance(state, StateError):
        return Check("quarterly_rebalance", WARN, ctx.out.t(M["state_fail"], err=state))
    now = ctx.clock.now()
    months = ctx.settings.strategy.rebalance.quarter_months
    last = state.rebalance
    done = last.last_quarter if last.completed else None
    created = state.installation.created_at if state.installation is not None else None
    due = _kst(quarter_due(now, months))
    if catch_up_due(now, done, quarter_id(now), created, months):
        key = "quarter_late_on" if ctx.settings.strategy.rebalance.catch_up else "quarter_late_off"
        return Check("quarterly_rebalance", WARN, ctx.out.t(M[key], q=quarter_id(now), due=due))
    return Check("quarterly_rebalance", OK, ctx.out.t(M["quarter_ok"], q=last.last_quarter or "—",
                                                       at=_kst(last.at) if last.at else "—"))


def check_twap(ctx: Context, state: State | StateError) -> Check:
    if isinstance(state, StateError):
        return Check("twap_heartbeat", WARN, ctx.out.t(M["state_fail"], err=state))
    beat = state.heartbeat.get("process_twap")
    age = ctx.clock.now() - beat if beat else None
    last = ctx.out.t(M["ago"], age=_age(ctx, age)) if age is not None else ctx.out.t(M["never"])
    active = state.active_plans()
    if not active:
        return Check("twap_heartbeat", OK, ctx.out.t(M["twap_idle"], last=last))
    plans = ", ".join(f"{p.plan_id} {p.progress() * 100:.0f}%" for p in active)
    limit = ctx.settings.monitoring.heartbeat_warn_minutes
    values = {"n": len(active), "plans": plans, "last": last, "minutes": limit}
    if age is None or age > timedelta(minutes=limit):
        return Check("twap_heartbeat", WARN, ctx.out.t(M["twap_old"], **values))
    return Check("twap_heartbeat", OK, ctx.out.t(M["twap_ok"], **values))


# ---- files ---------------------------------------------------------------------------------------------------
def check_state(ctx: Context, state: State | StateError) -> Check:
    if isinstance(state, StateError):
        return Check("state_file", FAIL, ctx.out.t(M["state_fail"], err=state))
    store = ctx.state
    if not store.path.exists():
        return Check("state_file", OK, ctx.out.t(M["state_none"], path=store.path))
    backups = store.backup_files()
    good = store.last_good_backup()
    if backups and good is None:
        return Check("state_file", WARN, ctx.out.t(M["state_bad_backups"], n=len(backups), dir=store.backup_dir))
    latest = ctx.out.t(M["state_latest"], name=good.name) if good else ""
    return Check("state_file", OK, ctx.out.t(M["state_ok"], n=len(backups), latest=latest))


def check_lock(ctx: Context) -> Check:
    """A lock info file left by a dead process, or held for over an hour, is stale."""
    path = ctx.state.lock_info_path()
    if not path.exists():
        return Check("lock", OK, ctx.out.t(M["lock_none"]))
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        pid, since = int(info["pid"]), datetime.fromisoformat(info["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return Check("lock", WARN, ctx.out.t(M["lock_bad"], path=path))
    age = datetime.now(timezone.utc) - since  # the lock info is stamped with the wall clock, not the run's clock
    if not pid_alive(pid):
        return Check("lock", WARN, ctx.out.t(M["lock_dead"], pid=pid, since=_kst(since), path=path))
    if age > LOCK_STALE:
        return Check("lock", WARN, ctx.out.t(M["lock_old"], pid=pid, age=_age(ctx, age), path=path))
    return Check("lock", OK, ctx.out.t(M["lock_ok"], pid=pid, age=_age(ctx, age)))


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (even one owned by another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def check_ledger(ctx: Context) -> Check:
    path = ctx.paths.ledger_file
    if not path.exists():
        return Check("ledger", OK, ctx.out.t(M["ledger_none"], path=path))
    size = sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    key = "ledger_big" if size > LEDGER_WARN_BYTES else "ledger_ok"
    return Check("ledger", WARN if size > LEDGER_WARN_BYTES else OK, ctx.out.t(M[key], size=human_bytes(size), path=path))


def check_disk(ctx: Context) -> Check:
    folder = _existing(ctx.paths.data_dir)
    usage = shutil.disk_usage(folder)
    status = disk_status(usage.free, usage.total)
    pct = f"{usage.free / usage.total * 100:.1f}%" if usage.total else "?"
    text = ctx.out.t(M["disk" if status == OK else "disk_low"], free=human_bytes(usage.free),
                     total=human_bytes(usage.total), pct=pct)
    return Check("disk", status, text)


def disk_status(free: int, total: int) -> str:
    """fail under 100 MiB free; warn under 1 GiB or under 5 % of the disk; else ok."""
    if free < DISK_FAIL_BYTES:
        return FAIL
    if free < DISK_WARN_BYTES or (total > 0 and free / total < DISK_WARN_SHARE):
        return WARN
    return OK


def check_permissions(ctx: Context) -> Check:
    """Config file and master key must not be open to group or others (same rule as kairos.permissions).

    In live mode the CLI already refuses to start with such files unless trading.allow_insecure_permissions,
    so a live run reaching this check with loose files has that override set: warn. Fail otherwise.
    """
    files = [p for p in (ctx.settings.source, master_key_file(ctx.paths.home)) if p is not None and p.exists()]
    if not files:
        return Check("permissions", OK, ctx.out.t(M["perm_none"]))
    loose = dict(loose_files(files))
    listing = ", ".join(f"{p} ({(loose.get(p) or stat.S_IMODE(p.stat().st_mode)):04o})" for p in (loose or files))
    if not loose:
        return Check("permissions", OK, ctx.out.t(M["perm_ok"], files=listing))
    strict = ctx.live and not ctx.settings.trading.allow_insecure_permissions
    why = ctx.out.t(M["perm_live"]) if ctx.live else ""
    paths = " ".join(str(p) for p in loose)
    return Check("permissions", FAIL if strict else WARN, ctx.out.t(M["perm_bad"], files=listing, paths=paths, why=why))


# ---- expiry and switches --------------------------------------------------------------------------------------
def check_key_age(ctx: Context) -> Check:
    """Coinone API keys are valid for a year from issue: warn ahead, fail once expired."""
    m = ctx.settings.monitoring
    issued = ctx.settings.exchange.key_issued_on
    if issued is None:
        return Check("api_key_age", OK, ctx.out.t(M["key_mock"] if ctx.simulated else M["key_unknown"]))
    today = ctx.clock.now().astimezone(KST).date()
    status, left, expires = key_expiry(issued, today, m.key_validity_days, m.key_expiry_warn_days)
    key = {OK: "key_ok", WARN: "key_soon", FAIL: "key_expired"}[status]
    return Check("api_key_age", status, ctx.out.t(M[key], left=left, expires=expires, issued=issued))


def key_expiry(issued: date, today: date, validity_days: int, warn_days: int) -> tuple[str, int, date]:
    """(status, days left, expiry date): fail once past expiry, warn within `warn_days` of it."""
    expires = issued + timedelta(days=validity_days)
    left = (expires - today).days
    if left <= 0:
        return FAIL, left, expires
    return (WARN if left <= warn_days else OK), left, expires


def check_kill_switch(ctx: Context) -> Check:
    why = ctx.kill_switch
    if why:
        return Check("kill_switch", WARN, ctx.out.t(M["kill_on"], why=why))
    return Check("kill_switch", OK, ctx.out.t(M["kill_off"]))


# ---- helpers ------------------------------------------------------------------------------------------------
def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _kst(moment: datetime) -> str:
    return moment.astimezone(KST).strftime("%Y-%m-%d %H:%M")


def _age(ctx: Context, age: timedelta) -> str:
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 120:
        return ctx.out.t(M["minutes"], n=minutes)
    if minutes < 48 * 60:
        return ctx.out.t(M["hours"], n=minutes // 60)
    return ctx.out.t(M["days"], n=minutes // (24 * 60))


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _existing(path: Path) -> Path:
    """The folder itself, or its nearest existing parent (disk usage of a folder not created yet)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path
