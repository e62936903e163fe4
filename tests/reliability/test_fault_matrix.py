"""Fault matrix: every Coinone error code and every transport failure, at every endpoint each command calls.

The real CLI runs in-process (`kairos.cli.main`) on the simulator passed as `Env.sim_app`, wrapped
in `FaultInjector`, a WSGI middleware that answers one endpoint with one fault (once, or every
time). Endpoints are discovered per command by a clean, counted run, so the matrix follows the
program. Each scenario's home folder (state, ledger, paper account) is prepared once and copied
per case. Every case must end with: exit 0 and nothing on stderr, or the right non-zero exit and
one `error:` line; no traceback (stderr or the log file); no order the clean run would not send,
none twice for one slot, none unknown to the ledger; a state file that parses with every order
either resolved or waiting for reconciliation. Order-path cases are followed by a clean tick that
must reconcile without a new duplicate.

Default run: a stratified sample (every endpoint, every fault at least once). `-m slow`: all cases.
"""
from __future__ import annotations

import base64
import io
import json
import multiprocessing
import shutil
import signal
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import parse_qs

import pytest
import yaml

from kairos.cli import main
from kairos.clock import FixedClock
from kairos.coinone.errors import ERROR_CLASSES
from kairos.env import Env
from kairos.errors import AuthError, OrderRejected, TemporaryExchangeError
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.faults import TransportFault
from kairos.sim.market import MarketModel
from kairos.sim.store import SqliteStore
from tests.reliability.harness import (
    SHORT_SCHEDULE, START, UOID, copy_sqlite, merge, scratch_dir, state_records, workers,
)

NO_RATE_LIMITS = {"private_rate_per_sec": None, "order_rate_per_sec": None, "public_rate_per_min": None}
UNDOCUMENTED = ("999", "-1", "1000", "abc")
READS_RETRIED = {"tickers", "ticker", "markets", "range_units", "chart:1w", "chart:1d", "account/balance/all",
                 "order/detail"}
ORDER_PATHS = {"order", "order/cancel"}
ORDER_MUST = ("timeout", "reset-after-processing", "http-502-after-processing", "malformed-json-after-processing")
KNOWN_STATUSES = {"intent", "unknown", "submitted", "open", "done", "rejected", "lost"}
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


# ---- faults ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """One way an answer can go wrong. `processed`: the exchange acts on the request, then the answer is lost."""

    name: str
    kind: str  # "transport" | "http" | "code"
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    transport: str = ""  # TransportFault kind: "timeout" | "drop"
    processed: bool = False
    error: type | None = None  # the exception class a Coinone code maps to

    @property
    def temporary(self) -> bool:
        """Worth a retry by the client (reads): transport, 5xx / 429, or codes 4 / 405."""
        if self.kind == "transport" or (self.kind == "http" and (self.status >= 500 or self.status == 429)):
            return True
        return self.error is not None and issubclass(self.error, TemporaryExchangeError)

    def answer(self, app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.processed:
            b"".join(app(environ, lambda *a, **k: (lambda data: None)))
        if self.transport:
            raise TransportFault(self.transport)
        start_response(f"{self.status} Fault", [("Content-Type", self.content_type)])
        return [self.body]


def envelope(code: str, camel: bool = False) -> bytes:
    if camel:
        return json.dumps({"result": "error", "errorCode": code, "errorMsg": "injected"}).encode()
    return json.dumps({"result": "error", "error_code": code, "error_msg": "injected"}).encode()


HTML = b"<html><head><title>{s}</title></head><body><h1>{s}</h1><hr>nginx</body></html>"


def all_faults() -> list[Fault]:
    transport = [
        Fault("timeout", "transport", transport="timeout"), Fault("reset", "transport", transport="drop"),
        Fault("timeout-after-processing", "transport", transport="timeout", processed=True),
        Fault("reset-after-processing", "transport", transport="drop", processed=True),
        *[Fault(f"http-{s}-html", "http", status=s, body=HTML.replace(b"{s}", str(s).encode()), content_type="text/html")
          for s in (500, 502, 503, 504)],
        Fault("http-502-after-processing", "http", status=502, body=HTML.replace(b"{s}", b"502"), content_type="text/html",
              processed=True),
        Fault("http-429-empty", "http", status=429), Fault("http-403-html", "http", status=403, body=HTML.replace(b"{s}", b"403"),
                                                           content_type="text/html"),
        Fault("http-200-html", "http", body=HTML.replace(b"{s}", b"maintenance"), content_type="text/html"),
        Fault("malformed-json", "http", body=b'{"result":"success","error_code":"0","'),
        Fault("malformed-json-after-processing", "http", body=b'{"result":"succ', processed=True),
        Fault("empty-body", "http"), Fault("json-array", "http", body=b"[]"),
        # an envelope is classified by its code whatever the HTTP status (tests/coinone pins this): not retried
        Fault("http-500-unknown-code", "code", status=500, body=envelope("500")),
        Fault("http-500-unknown-code-after-processing", "code", status=500, body=envelope("500"), processed=True),
        Fault("legacy-405-maintenance", "code", body=b'{"errorCode":"405","status":"maintenance","result":"error"}',
              error=ERROR_CLASSES["405"]),
    ]
    codes = [Fault(f"code-{c}", "code", body=envelope(c), error=cls) for c, cls in sorted(ERROR_CLASSES.items(), key=lambda x: int(x[0]))]
    codes += [Fault(f"code-{c}-undocumented", "code", body=envelope(c)) for c in UNDOCUMENTED]
    codes += [Fault("code-12-camel", "code", body=envelope("12", camel=True), error=ERROR_CLASSES["12"])]
    return transport + codes


def endpoint_of(environ: Mapping[str, Any]) -> str:
    """A short name for the endpoint of a request ("tickers", "chart:1d", "order/detail" …)."""
    path = str(environ.get("PATH_INFO") or "")
    parts = path.strip("/").split("/")
    if path.startswith("/public/v2/"):
        name = parts[2]
        if name == "chart":
            return "chart:" + parse_qs(str(environ.get("QUERY_STRING") or "")).get("interval", ["?"])[0]
        if name == "ticker_new":
            return "ticker" if len(parts) > 4 else "tickers"
        return name
    if path.startswith("/v2.1/"):
        return "/".join(parts[1:])
    return path


class FaultInjector:
    """WSGI middleware: counts requests per endpoint; answers `endpoint` with `fault` (once or always)."""

    def __init__(self, app: WsgiApp, endpoint: str | None = None, fault: Fault | None = None, always: bool = False) -> None:
        self.app, self.endpoint, self.fault, self.always = app, endpoint, fault, always
        self.calls: Counter[str] = Counter()
        self.injected = 0
        self.order_requests: list[str] = []  # user_order_id of every /v2.1/order request, in order

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        name = endpoint_of(environ)
        self.calls[name] += 1
        if name == "order":
            payload = json.loads(base64.b64decode(str(environ.get("HTTP_X_COINONE_PAYLOAD", "e30="))))
            self.order_requests.append(str(payload.get("user_order_id")))
        if self.fault is not None and name == self.endpoint and (self.always or not self.injected):
            self.injected += 1
            return self.fault.answer(self.app, environ, start_response)
        return self.app(environ, start_response)


# ---- a world: one home folder with its paper account, run in-process ---------------------------------------
@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    calls: Counter[str]
    injected: int
    order_requests: list[str]


class World:
    """An installation and its simulated exchange under `home`, both on one FixedClock."""

    def __init__(self, home: Path, model: MarketModel, now: datetime) -> None:
        self.home, self.model, self.clock = home, model, FixedClock(now)
        home.mkdir(parents=True, exist_ok=True)
        self.app = SimExchange(model, SqliteStore(home / "exchange.sqlite"), self.clock, config=SimConfig(**NO_RATE_LIMITS))
        self.config = home / "config.yaml"
        if not self.config.exists():
            settings = merge({"mode": "mock", "language": "en", "trading": {"max_daily_krw": 10_000_000_000}}, SHORT_SCHEDULE)
            self.config.write_text(yaml.safe_dump(settings), encoding="utf-8")
            self.config.chmod(0o600)

    def run(self, *args: str, endpoint: str | None = None, fault: Fault | None = None, always: bool = False) -> Run:
        injector = FaultInjector(self.app, endpoint, fault, always)
        env = Env(stdout=io.StringIO(), stderr=io.StringIO(), environ={}, home=self.home, clock=self.clock, sim_app=injector)
        previous = signal.getsignal(signal.SIGTERM)
        try:
            code = main([*args, "--config", str(self.config)], env=env)
        finally:
            signal.signal(signal.SIGTERM, previous)  # main() routes SIGTERM to the CLI's flag; give it back
        return Run(code, env.stdout.getvalue(), env.stderr.getvalue(), injector.calls, injector.injected,  # type: ignore[attr-defined]
                   injector.order_requests)

    def exchange_orders(self) -> list[Any]:
        with self.app.store.transaction() as tx:
            self.app.engine.sync(tx, self.app.now_ms())
            return tx.all_orders()

    def state(self) -> dict[str, Any]:
        path = self.home / "data" / "mock" / "state.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"plans": [], "orders": {}}

    def ledger_uoids(self) -> dict[str, str]:
        import sqlite3
        path = self.home / "data" / "mock" / "kairos.db"
        if not path.exists():
            return {}
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return dict(con.execute("SELECT user_order_id, status FROM orders").fetchall())
        finally:
            con.close()

    def log_text(self) -> str:
        path = self.home / "logs" / "kairos.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def copy_to(self, dst: Path) -> "World":
        shutil.copytree(self.home, dst, ignore=shutil.ignore_patterns("*.sqlite*", "kairos.db*", "*.lock*", "logs"))
        for db in (Path("exchange.sqlite"), Path("data/mock/kairos.db")):
            if (self.home / db).exists():
                copy_sqlite(self.home / db, dst / db)
        return World(dst, self.model, self.clock.now())


# ---- scenarios: prepared once, copied per case -------------------------------------------------------------
SCENARIO_COMMANDS: dict[str, list[tuple[str, ...]]] = {
    "fresh": [("--weekly-analysis",), ("--quarterly-rebalance",), ("--quarterly-rebalance-twap",), ("--system-status",)],
    "twap": [("--process-twap",), ("--quarterly-rebalance-twap", "--force")],
    "unknown": [("--process-twap",), ("--quarterly-rebalance", "--force")],
}


def prepare(name: str, root: Path, model: MarketModel) -> World:
    world = World(root / name, model, START)
    if name in ("twap", "unknown"):
        drop = Fault("reset-after-processing", "transport", transport="drop", processed=True) if name == "unknown" else None
        made = world.run("--quarterly-rebalance-twap", endpoint="order", fault=drop)
        assert made.code == 0, made.err
        world.clock.advance(minutes=15)
        if name == "unknown":
            assert any(r.get("status") == "unknown" for r in state_records(world.state()))
    return world


@dataclass(frozen=True)
class Case:
    scenario: str
    command: tuple[str, ...]
    endpoint: str
    fault: Fault
    always: bool

    @property
    def id(self) -> str:
        return f"{self.scenario}:{' '.join(self.command)}@{self.endpoint}:{self.fault.name}:{'always' if self.always else 'once'}"


@dataclass
class Matrix:
    worlds: dict[str, World]
    baselines: dict[tuple[str, tuple[str, ...]], tuple[Run, int]]
    cases: list[Case]


@pytest.fixture(scope="module")
def matrix() -> Iterator[Matrix]:
    """Prepared scenarios, a clean counted run of every command, and the full list of cases."""
    with scratch_dir("faults") as root:
        yield build_matrix(root)


def build_matrix(root: Path) -> Matrix:
    model = MarketModel()
    worlds = {name: prepare(name, root / "prepared", model) for name in SCENARIO_COMMANDS}
    baselines, cases = {}, []
    faults = all_faults()
    for scenario, commands in SCENARIO_COMMANDS.items():
        for command in commands:
            world = worlds[scenario].copy_to(root / "baseline" / f"{scenario}{'_'.join(command)}")
            before = len(world.exchange_orders())
            clean = world.run(*command)
            assert clean.code == 0 and clean.err == "", (scenario, command, clean.err)
            baselines[(scenario, command)] = (clean, len(world.exchange_orders()) - before)
            for endpoint in sorted(clean.calls):
                for fault in faults:
                    cases.append(Case(scenario, command, endpoint, fault, always=True))
                    if endpoint in READS_RETRIED and fault.temporary:
                        cases.append(Case(scenario, command, endpoint, fault, always=False))
    return Matrix(worlds, baselines, cases)


def stratified(cases: list[Case], per_endpoint: int) -> list[Case]:
    """`per_endpoint` cases per (scenario, command, endpoint), walking the fault list so every fault is used;
    where a read is retried, one of them is a single transient failure (the retry path); on the order path,
    the four answers-lost faults besides."""
    groups: dict[tuple[str, tuple[str, ...], str], list[Case]] = {}
    for case in cases:
        groups.setdefault((case.scenario, case.command, case.endpoint), []).append(case)
    names = [f.name for f in all_faults()]
    picked, cursor = [], 0
    for (_scenario, _command, endpoint), group in groups.items():
        always = {c.fault.name: c for c in group if c.always}
        once = [c for c in group if not c.always]
        if endpoint in ORDER_PATHS:  # where a blind re-send would hurt: the answer lost after the order was placed
            picked += [always[name] for name in ORDER_MUST]
        for j in range(per_endpoint):
            if once and j == per_endpoint - 1:
                picked.append(once[cursor % len(once)])
            else:
                picked.append(always[names[cursor % len(names)]])
                cursor += 1
    return picked


# ---- one case ------------------------------------------------------------------------------------------------
def run_case(matrix: Matrix, case: Case, root: Path) -> list[str]:
    """Run one faulted command (and a clean follow-up tick on the order path); the list of violations."""
    world = matrix.worlds[case.scenario].copy_to(root)
    before = {o.order_id for o in world.exchange_orders()}
    run = world.run(*case.command, endpoint=case.endpoint, fault=case.fault, always=case.always)
    problems = check_outcome(case, run, world) + check_orders(matrix, case, world, before) + check_resends(run)
    if case.endpoint in ORDER_PATHS | {"order/detail"} and not problems:
        world.clock.advance(minutes=15)
        follow = world.run("--process-twap")
        problems += [f"follow-up tick: {p}" for p in check_outcome(None, follow, world) + check_resends(follow)]
        problems += [f"follow-up tick: {p}" for p in check_orders(matrix, case, world, before, follow_up=True)]
    return [f"{case.id}: {p}" for p in problems]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith(("WARNING: ", "warning: ", "경고: "))]


def check_outcome(case: Case | None, run: Run, world: World) -> list[str]:
    problems = []
    if "Traceback" in run.err or "Traceback" in world.log_text() or "unexpected error" in world.log_text():
        problems.append(f"traceback / unexpected error (exit {run.code}): {run.err[-300:]!r}")
    lines = error_lines(run.err)
    if run.code == 0 and lines:
        problems.append(f"exit 0 but stderr says {lines}")
    if run.code != 0:
        status_report = case is not None and case.command == ("--system-status",)
        if status_report and (lines or "❌" not in run.out):
            problems.append(f"--system-status exit {run.code}: expected a ❌ check on stdout and a quiet stderr, got {lines}")
        if not status_report and (len(lines) != 1 or not lines[0].startswith("error: ")):
            problems.append(f"exit {run.code} without exactly one 'error:' line on stderr: {run.err!r}")
    if case is not None:
        expected = expected_codes(case, run)
        if run.code not in expected:
            problems.append(f"exit {run.code}, expected one of {sorted(expected)}; stderr {run.err.strip()[-200:]!r}")
        if run.injected == 0:
            problems.append("the fault was never injected (the endpoint was not called)")
    try:
        state = world.state()
    except ValueError as exc:
        return problems + [f"state file does not parse: {exc}"]
    bad = [f"{r.get('uoid')}={r.get('status')}" for r in state_records(state) if r.get("status") not in KNOWN_STATUSES]
    if bad:
        problems.append(f"order records in no known status: {bad}")
    return problems


def expected_codes(case: Case, run: Run) -> set[int]:
    """The exit codes this fault may rightly cause (never 2, 3 or 4: an exchange fault is none of those)."""
    fault = case.fault
    if not case.always and case.endpoint in READS_RETRIED and fault.temporary:
        return {0}  # one transient failure of a read is retried away
    if case.endpoint == "order" and fault.error is not None and issubclass(fault.error, OrderRejected):
        return {0}  # a refused order is recorded as rejected; the run goes on
    if fault.error is not None and issubclass(fault.error, AuthError):
        return {1}  # a human must fix the keys: the run fails wherever it meets this
    return {0, 1}


def check_resends(run: Run) -> list[str]:
    """No blind re-send: within one run, one /v2.1/order request per user_order_id and per slot."""
    again = [u for u, n in Counter(run.order_requests).items() if n > 1]
    slots = Counter((m["plan"], m["coin"], m["slot"]) for m in map(UOID.match, run.order_requests) if m)
    twice = [k for k, n in slots.items() if n > 1]
    return ([f"/v2.1/order sent again with the same user_order_id: {again}"] if again else []) + \
        ([f"two /v2.1/order requests for one slot in one run: {twice}"] if twice else [])


def check_orders(matrix: Matrix, case: Case, world: World, before: set[str], follow_up: bool = False) -> list[str]:
    """No blind re-send: new exchange orders ≤ the clean run's, one per slot, each known to the ledger."""
    problems = []
    new = [o for o in world.exchange_orders() if o.order_id not in before]
    uoids = [o.user_order_id or "" for o in new]
    _clean, clean_orders = matrix.baselines[(case.scenario, case.command)]
    if not follow_up and len(new) > clean_orders:
        problems.append(f"{len(new)} new orders on the exchange, the clean run sends {clean_orders}")
    slots = Counter((m["plan"], m["coin"], m["slot"]) for m in map(UOID.match, uoids) if m)
    immediate = Counter(u.rsplit("-a", 1)[0] for u in uoids if not UOID.match(u))
    twice = [k for k, n in (*slots.items(), *immediate.items()) if n > 1]
    if twice:
        problems.append(f"an order sent twice for one slot: {twice}")
    ledger = world.ledger_uoids()
    unknown = [u for u in uoids if u not in ledger]
    if unknown:
        problems.append(f"orders on the exchange the ledger does not know: {unknown}")
    wrong = [u for u in uoids if ledger.get(u) in ("rejected", "lost")]
    if wrong:
        problems.append(f"orders on the exchange recorded as rejected/lost: {[(u, ledger[u]) for u in wrong]}")
    return problems


# ---- tests ------------------------------------------------------------------------------------------------------
_SHARED: dict[str, Any] = {}  # what forked workers inherit: the matrix and the case list


def _work(index: int) -> list[str]:
    matrix, cases, root = _SHARED["matrix"], _SHARED["cases"], _SHARED["root"]
    path = root / f"c{index}"
    try:
        return run_case(matrix, cases[index], path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_all(matrix: Matrix, cases: list[Case], root: Path) -> tuple[list[str], Counter[str]]:
    """Run the cases (in forked workers when there are several CPUs); the violations and a tally."""
    _SHARED.update(matrix=matrix, cases=cases, root=root)
    count = workers()
    if count > 1 and "fork" in multiprocessing.get_all_start_methods():
        pool = multiprocessing.get_context("fork").Pool(count)
        try:
            found = pool.map(_work, range(len(cases)), chunksize=4)
        finally:
            # close + join, never terminate(): the workers run main(), which routes SIGTERM to the
            # CLI's stop flag, so a terminate() would wait for them forever
            pool.close()
            pool.join()
    else:
        found = [_work(i) for i in range(len(cases))]
    outcomes = Counter("violations" if f else "ok" for f in found)
    return [p for f in found for p in f], outcomes


def test_every_command_endpoint_is_in_the_matrix(matrix: Matrix) -> None:
    endpoints = {c.endpoint for c in matrix.cases}
    assert endpoints >= {"chart:1w", "chart:1d", "ticker", "tickers", "markets", "range_units", "account/balance/all",
                         "order", "order/detail"}
    assert len(matrix.cases) >= 1000


def test_stratified_sample(matrix: Matrix) -> None:
    sample = stratified(matrix.cases, per_endpoint=4)
    assert {c.fault.name for c in sample} == {f.name for f in all_faults()}
    with scratch_dir("fault-cases") as root:
        problems, outcomes = run_all(matrix, sample, root)
    assert problems == [], "\n".join(problems[:40])
    assert outcomes["ok"] == len(sample) >= 100


@pytest.mark.slow
def test_full_matrix(matrix: Matrix) -> None:
    with scratch_dir("fault-cases") as root:
        problems, outcomes = run_all(matrix, matrix.cases, root)
    endpoints = Counter(c.endpoint for c in matrix.cases)
    print(f"\nfault matrix: {len(matrix.cases)} injected cases ({len(all_faults())} faults × "
          f"{len({(c.scenario, c.command, c.endpoint) for c in matrix.cases})} command endpoints, once/always), "
          f"{outcomes['ok']} clean, {len(problems)} violations; per endpoint {dict(endpoints)}")
    assert problems == [], "\n".join(problems[:60])
