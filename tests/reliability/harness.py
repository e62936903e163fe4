"""The reliability harness: the real CLI as separate processes against the standalone simulator.

    with Lifecycle(tmp_path) as life:              # `python -m kairos.sim` on 127.0.0.1:0, a KAIROS home
        life.cli("--quarterly-rebalance-twap")     # both clocks set to life.now first
        life.finish()                              # --process-twap every 15 min until the plan is closed
        report = life.audit()                      # duplicates, lost fills, distance from target

Nothing here reaches into the program's internals: it runs `kairos1_main.py`, reads what the
exchange received through the simulator's admin API, and reads the state file and the ledger the
way an operator would (read-only).
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, Mapping

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
UTC = timezone.utc
# A Monday 00:00 UTC (09:00 KST); the default market model has BTC below its 200-week band then: risk-off.
START = datetime(2026, 11, 23, tzinfo=UTC)
ADMIN_TOKEN = "sim-access-token-0000"
# A TWAP lifecycle of a handful of ticks: 3 (calm) or 4 (volatile) slices, 15 minutes apart.
SHORT_SCHEDULE: dict[str, Any] = {"execution": {"calm": {"slices": 3, "interval_minutes": 15},
                                                "volatile": {"slices": 4, "interval_minutes": 15}}}
UNRESOLVED = ("intent", "unknown", "submitted", "open")
UOID = re.compile(r"^k1-(?P<installation>[a-z0-9]{8})-(?P<plan>.+)-(?P<coin>[a-z0-9]+)-s(?P<slot>\d{3})-a(?P<attempt>\d+)$")
KILLED = -signal.SIGKILL


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the test process dies (Linux), so no server outlives it."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def child_env(home: Path, now: datetime | None, **extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: its home, the mock clock, the repo importable."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "KAIROS_HOME": str(home),
           "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    if now is not None:
        env["KAIROS_NOW"] = now.isoformat()
    env.update(extra)
    return env


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dict merge (extra wins)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def workers() -> int:
    """Parallel cases in the sweeps (subprocess-bound): KAIROS_RELIABILITY_WORKERS, else the CPU count, max 4."""
    raw = os.environ.get("KAIROS_RELIABILITY_WORKERS", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else max(1, min(4, os.cpu_count() or 1))


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder on tmpfs (/dev/shm) when there is one: thousands of fsyncs cost nothing there."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix=f"kairos-{prefix}-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite file (WAL included) through the backup API."""
    source, target = sqlite3.connect(str(src)), sqlite3.connect(str(dst))
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


# ---- the standalone simulator --------------------------------------------------------------------
class SimProcess:
    """`python -m kairos.sim --host 127.0.0.1 --port 0 --state FILE`, stopped in `stop()` / `__exit__`."""

    def __init__(self, state_file: Path, *, quiet: bool = True) -> None:
        self.state_file = state_file
        self.quiet = quiet
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.http = requests.Session()

    def start(self, timeout: float = 20) -> "SimProcess":
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.state_file.with_suffix(".log"), "a", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kairos.sim", "--host", "127.0.0.1", "--port", "0", "--state", str(self.state_file),
             *(["--quiet"] if self.quiet else [])], cwd=REPO, env=child_env(self.state_file.parent, None), stdout=subprocess.PIPE, stderr=log,
            text=True, preexec_fn=_die_with_parent)
        log.close()
        line = self._first_line(timeout)
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"simulator did not print its URL: {line!r}")
        self.url = match.group(1)
        return self

    def _first_line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.stop()
                raise RuntimeError("simulator did not start in time")
        return self.proc.stdout.readline()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.http.close()
        self.proc = None

    def __enter__(self) -> "SimProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- admin API ----------------------------------------------------------------------------
    def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.request(method, f"{self.url}/__sim__/{path}", json=body,
                                     headers={"X-SIM-ADMIN": ADMIN_TOKEN}, timeout=30)
        data = response.json(parse_float=Decimal)
        if response.status_code != 200 or data.get("result") != "success":
            raise RuntimeError(f"admin {method} {path}: HTTP {response.status_code} {data}")
        return data

    def set_clock(self, now: datetime) -> None:
        self.admin("POST", "clock", {"now_ms": int(now.timestamp() * 1000)})

    def orders(self) -> list[dict[str, Any]]:
        return self.admin("GET", "orders")["orders"]

    def request_log(self) -> list[str]:
        """The request lines the simulator logged (started with quiet=False): 'GET /public/v2/…', 'POST /v2.1/…'."""
        path = self.state_file.with_suffix(".log")
        found = re.findall(r'"(GET|POST|PUT|DELETE|HEAD) ([^ ]+) HTTP', path.read_text(encoding="utf-8"))
        return [f"{method} {target}" for method, target in found]

    def fills(self) -> list[dict[str, Any]]:
        return self.admin("GET", "fills")["fills"]

    def balances(self) -> dict[str, Decimal]:
        return {b["currency"]: Decimal(str(b["available"])) + Decimal(str(b["limit"]))
                for b in self.admin("GET", "balances")["balances"]}  # Coinone names the locked part "limit"

    def add_fault(self, **spec: Any) -> None:
        self.admin("POST", "faults", spec)

    def clear_faults(self) -> None:
        self.admin("POST", "faults", {"clear": True})


# ---- one installation ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


class Install:
    """A KAIROS home (config, data/, logs/) whose CLI runs as `python kairos1_main.py …` subprocesses."""

    def __init__(self, home: Path, settings: Mapping[str, Any]) -> None:
        self.home = home
        self.config_path = home / "config.yaml"
        self.settings = dict(settings)
        home.mkdir(parents=True, exist_ok=True)
        self.configure()

    def configure(self, **sections: Any) -> None:
        self.settings = merge(self.settings, sections)
        self.config_path.write_text(yaml.safe_dump(self.settings, allow_unicode=True), encoding="utf-8")
        self.config_path.chmod(0o600)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "kairos1_main.py", *args, "--config", str(self.config_path)]

    def run(self, *args: str, now: datetime, timeout: float = 120, **env: str) -> Result:
        done = subprocess.run(self.argv(*args), cwd=REPO, env=child_env(self.home, now, **env), capture_output=True,
                              text=True, timeout=timeout)
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, now: datetime, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), cwd=REPO, env=child_env(self.home, now, **env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @property
    def state_file(self) -> Path:
        return self.home / "data" / "mock" / "state.json"

    def state(self) -> dict[str, Any]:
        """The state file, parsed (an empty state when there is none yet); raises if it does not parse."""
        if not self.state_file.exists():
            return {"plans": [], "orders": {}}
        return json.loads(self.state_file.read_text(encoding="utf-8"), parse_float=Decimal)

    def ledger(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a read-only query on the ledger (none when it does not exist yet)."""
        path = self.home / "data" / "mock" / "kairos.db"
        if not path.exists():
            return []
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute(sql)]
        finally:
            con.close()

    def ledger_orders(self) -> list[dict[str, Any]]:
        return self.ledger("SELECT * FROM orders")

    def ledger_plans(self) -> dict[str, str]:
        return {r["plan_id"]: r["status"] for r in self.ledger("SELECT plan_id, status FROM plans")}


def state_records(state: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every order record in a state file: TWAP leg orders and immediate orders."""
    for plan in state.get("plans", []):
        for leg in plan.get("legs", []):
            yield from leg.get("orders", [])
    yield from state.get("orders", {}).values()


def unresolved(state: Mapping[str, Any]) -> list[str]:
    return [f"{r.get('uoid')}={r.get('status')}" for r in state_records(state) if r.get("status") in UNRESOLVED]


def finished(state: Mapping[str, Any]) -> bool:
    """No active plan, no order with an unknown result, no deferred rebalance."""
    active = [p for p in state.get("plans", []) if p.get("status") == "active"]
    return not active and not unresolved(state) and not state.get("pending_rebalance")


# ---- what happened: duplicates, lost fills, distance from target -------------------------------------------
@dataclass
class Audit:
    orders: int = 0
    duplicate_uoids: list[str] = field(default_factory=list)
    duplicate_slots: list[str] = field(default_factory=list)
    lost_fills: list[str] = field(default_factory=list)
    overfilled: list[str] = field(default_factory=list)
    far_from_target: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    unarchived: list[str] = field(default_factory=list)
    distance_krw: dict[str, Decimal] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.problems()

    def problems(self) -> dict[str, list[str]]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, list) and v}


def audit(sim_orders: list[dict[str, Any]], ledger_rows: list[dict[str, Any]], state: Mapping[str, Any],
          ledger_plans: Mapping[str, str] | None = None) -> Audit:
    """Compare what the exchange did with what the program recorded (see the module docstring)."""
    report = Audit(orders=len(sim_orders), unresolved=unresolved(state))
    if ledger_plans is not None:  # a finished plan must be archived in the ledger with its final status
        report.unarchived = [f"{p['plan_id']}={p['status']} (ledger: {ledger_plans.get(p['plan_id'])})"
                             for p in state.get("plans", []) if p.get("status") != "active"
                             and ledger_plans.get(p["plan_id"]) != p.get("status")]
    by_uoid: dict[str, list[dict[str, Any]]] = {}
    by_slot: dict[tuple[str, str, int], list[str]] = {}
    for order in sim_orders:
        uoid = order.get("user_order_id") or ""
        by_uoid.setdefault(uoid, []).append(order)
        match = UOID.match(uoid)
        if match:
            by_slot.setdefault((match["plan"], match["coin"], int(match["slot"])), []).append(uoid)
    report.duplicate_uoids = [u for u, rows in by_uoid.items() if len(rows) > 1]
    slices = {(p["plan_id"], leg["target"].lower()): int(leg["slices"]) for p in state.get("plans", []) for leg in p["legs"]}
    # slots past the schedule ("+": after-end catch-up of a remainder) may legitimately hold several orders
    report.duplicate_slots = [f"{k}: {v}" for k, v in by_slot.items() if len(v) > 1 and k[2] < slices.get(k[:2], 10 ** 6)]
    report.lost_fills = lost_fills(sim_orders, ledger_rows, state)
    check_targets(report, sim_orders, state)
    return report


def lost_fills(sim_orders: list[dict[str, Any]], ledger_rows: list[dict[str, Any]], state: Mapping[str, Any]) -> list[str]:
    """Exchange executions missing from the ledger or the state file, or recorded with another quantity."""
    ledger = {r["user_order_id"]: r for r in ledger_rows}
    records = {r.get("uoid"): r for r in state_records(state)}
    archived = {p["plan_id"] for p in state.get("plans", [])}
    problems = []
    for order in sim_orders:
        uoid, qty = order.get("user_order_id"), Decimal(str(order.get("executed_qty") or 0))
        row = ledger.get(uoid)
        if row is None:
            problems.append(f"{uoid}: on the exchange (executed {qty}) but not in the ledger")
        elif Decimal(row["executed_qty"]) != qty:
            problems.append(f"{uoid}: ledger executed_qty {row['executed_qty']} != exchange {qty}")
        record = records.get(uoid)
        match = UOID.match(uoid or "")
        if record is None and match and match["plan"] in archived:
            problems.append(f"{uoid}: on the exchange but not in its plan in the state file")
        elif record is not None and Decimal(str(record.get("executed_qty") or 0)) != qty:
            problems.append(f"{uoid}: state executed_qty {record.get('executed_qty')} != exchange {qty}")
    return problems


def check_targets(report: Audit, sim_orders: list[dict[str, Any]], state: Mapping[str, Any]) -> None:
    """Per plan leg: what the exchange executed vs the leg's total, within one minimum order (or qty unit)."""
    for plan in state.get("plans", []):
        for leg in plan["legs"]:
            prefix = f"k1-{state['installation']['id']}-{plan['plan_id']}-{leg['target'].lower()}-s"
            mine = [o for o in sim_orders if (o.get("user_order_id") or "").startswith(prefix)]
            qty = sum((Decimal(str(o.get("executed_qty") or 0)) for o in mine), Decimal(0))
            krw = sum((Decimal(str(o.get("traded_amount") or 0)) for o in mine), Decimal(0))
            price = krw / qty if qty > 0 else Decimal(str(plan.get("arrival", {}).get(leg["target"]) or 0))
            total = Decimal(leg["total"])
            done = krw if leg["unit"] == "krw" else qty
            left_krw = (total - done) * (1 if leg["unit"] == "krw" else price)
            tolerance = max(Decimal(leg["min_order_krw"]), Decimal(leg["qty_unit"]) * price)
            name = f"{plan['plan_id']}:{leg['target']}"
            if done > total:
                report.overfilled.append(f"{name}: executed {done} > planned {total} ({leg['unit']})")
            if plan.get("status") == "superseded":
                continue  # replaced by a newer plan on purpose: its shortfall is that plan's job
            report.distance_krw[name] = left_krw
            if abs(left_krw) > tolerance:
                report.far_from_target.append(f"{name}: {left_krw:.0f} KRW from target (tolerance {tolerance:.0f})")


# ---- a lifecycle: simulator + installation + a clock both share ---------------------------------------
class Lifecycle:
    """One paper account and one installation, stepped through time together."""

    def __init__(self, root: Path, *, settings: Mapping[str, Any] | None = None, now: datetime = START,
                 sim_file: Path | None = None, home: Path | None = None) -> None:
        self.root = root
        self.now = now
        self.sim = SimProcess(sim_file or root / "sim" / "exchange.sqlite").start()
        try:
            base = merge({"mode": "mock", **SHORT_SCHEDULE}, settings or {})
            self.install = Install(home or root / "home", base)
            self.install.configure(mock={"server_url": self.sim.url})
        except BaseException:
            self.sim.stop()
            raise
        self.results: list[Result] = []

    def __enter__(self) -> "Lifecycle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sim.stop()

    def sync_clock(self) -> None:
        self.sim.set_clock(self.now)

    def cli(self, *args: str, **env: str) -> Result:
        """Run one command at `self.now` (the simulator's clock set to the same instant first)."""
        self.sync_clock()
        result = self.install.run(*args, now=self.now, **env)
        self.results.append(result)
        return result

    def step(self, minutes: int = 15) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now

    def tick(self, **env: str) -> Result:
        self.step()
        return self.cli("--process-twap", **env)

    def state(self) -> dict[str, Any]:
        return self.install.state()

    def finish(self, max_ticks: int = 60) -> list[Result]:
        """--process-twap every 15 minutes until nothing is active or unresolved; each must exit 0."""
        results = []
        for _ in range(max_ticks):
            if finished(self.state()):
                return results
            results.append(self.tick())
            if results[-1].code != 0:
                raise AssertionError(f"tick at {self.now} exited {results[-1].code}: {results[-1].err}")
        raise AssertionError(f"lifecycle not finished after {max_ticks} ticks: {unresolved(self.state())}")

    def audit(self) -> Audit:
        return audit(self.sim.orders(), self.install.ledger_orders(), self.state(), self.install.ledger_plans())

    def snapshot(self, dst: Path) -> None:
        """Copy the paper account and the home folder (for cases that start from this moment)."""
        dst.mkdir(parents=True, exist_ok=True)
        copy_sqlite(self.sim.state_file, dst / "exchange.sqlite")
        shutil.copytree(self.install.home, dst / "home", ignore=shutil.ignore_patterns("kairos.db*", "*.lock*"))
        db = self.install.home / "data" / "mock" / "kairos.db"
        if db.exists():
            copy_sqlite(db, dst / "home" / "data" / "mock" / "kairos.db")

    @classmethod
    def from_snapshot(cls, snap: Path, root: Path, now: datetime, settings: Mapping[str, Any] | None = None) -> "Lifecycle":
        """A new lifecycle on a private copy of a snapshot."""
        (root / "sim").mkdir(parents=True, exist_ok=True)
        shutil.copy2(snap / "exchange.sqlite", root / "sim" / "exchange.sqlite")
        shutil.copytree(snap / "home", root / "home")
        return cls(root, settings=settings, now=now)


def trace_points(path: Path) -> list[str]:
    """The names in a KAIROS_CRASH_TRACE file, in order."""
    if not path.exists():
        return []
    return [line.split(" ", 1)[1] for line in path.read_text(encoding="utf-8").splitlines() if " " in line]
