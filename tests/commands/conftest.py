"""Fixtures for the command tests: the real CLI against a simulator the test controls.

`kairos` runs `kairos.cli.main` in-process with its own streams, a FixedClock the test steps, and a
prebuilt simulator (`Env.sim_app`) sharing that clock, so the test can add faults, read the orders
the exchange really received, and change balances. `kairos.process(...)` runs the CLI as a real
subprocess (`python kairos1_main.py …`) against the same simulator served over HTTP on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from kairos.cli import main
from kairos.clock import FixedClock
from kairos.env import Env
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.market import MarketModel
from kairos.sim.server import BackgroundServer
from kairos.sim.store import Order, SqliteStore

REPO = Path(__file__).resolve().parents[2]
UTC = timezone.utc
# A Monday 00:00 UTC (09:00 KST) where the default market has BTC below its 200-week band: risk-off.
START = datetime(2026, 11, 23, tzinfo=UTC)
NO_RATE_LIMITS = {"private_rate_per_sec": None, "order_rate_per_sec": None, "public_rate_per_min": None}
ONE_COIN = {"core": {"ETH": 1.0}, "satellite": {}}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Nested dict merge (extra wins); returns a new dict."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


class Kairos:
    """One installation (home folder, config, state, ledger) and the simulated exchange it trades on."""

    def __init__(self, home: Path, model: Any, *, now: datetime = START, sim: dict[str, Any] | None = None) -> None:
        self.home = home
        self.clock = FixedClock(now)
        (home / "sim").mkdir(parents=True, exist_ok=True)
        self.app = SimExchange(model, SqliteStore(home / "sim" / "exchange.sqlite"), self.clock,
                               config=SimConfig(**{**NO_RATE_LIMITS, **(sim or {})}))
        self.config_path = home / "config.yaml"
        self.settings: dict[str, Any] = {"mode": "mock"}
        self.server: BackgroundServer | None = None
        self.configure()

    # ---- configuration and clock ---------------------------------------------------------------
    def configure(self, **sections: Any) -> None:
        """Merge `sections` into config.yaml (e.g. execution={"atr_threshold": 1})."""
        self.settings = merge(self.settings, sections)
        self.config_path.write_text(yaml.safe_dump(self.settings, allow_unicode=True), encoding="utf-8")
        self.config_path.chmod(0o600)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def at(self, moment: datetime) -> datetime:
        self.clock.set(moment)
        return moment

    def step(self, **delta: float) -> datetime:
        return self.clock.advance(**(delta or {"minutes": 15}))

    # ---- running the CLI --------------------------------------------------------------------------
    def __call__(self, *args: str, sim_app: Any = None, environ: dict[str, str] | None = None,
                 live_app: Any = None) -> Result:
        """Run the CLI in-process; `live_app` answers a live-mode run's HTTP (mounted on exchange.base_url)."""
        session = None
        if live_app is not None:
            from kairos.sim.adapter import SimAdapter

            def session() -> Any:
                import requests

                http = requests.Session()
                http.mount(self.settings["exchange"]["base_url"], SimAdapter(live_app))
                return http
        env = Env(stdout=StringIO(), stderr=StringIO(), environ=dict(environ or {}), home=self.home, clock=self.clock,
                  sim_app=sim_app if sim_app is not None else self.app, http_session=session)
        code = main([*args, "--config", str(self.config_path)], env=env)
        return Result(code, env.stdout.getvalue(), env.stderr.getvalue())  # type: ignore[attr-defined]

    def serve(self) -> str:
        """Serve the simulator over HTTP and point the config at it (for subprocess runs)."""
        if self.server is None:
            self.server = BackgroundServer(self.app).__enter__()
            self.configure(mock={"server_url": self.server.url})
        return self.server.url

    def process_env(self, **extra: str) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", ""), "KAIROS_HOME": str(self.home),
               "KAIROS_NOW": self.now.isoformat(), "PYTHONDONTWRITEBYTECODE": "1", **extra}
        return env

    def process(self, *args: str, timeout: float = 60, **extra_env: str) -> Result:
        """`python kairos1_main.py ARGS` in the repo root, KAIROS_HOME and KAIROS_NOW set."""
        self.serve()
        done = subprocess.run([sys.executable, "kairos1_main.py", *args, "--config", str(self.config_path)],
                              cwd=REPO, env=self.process_env(**extra_env), capture_output=True, text=True,
                              timeout=timeout)
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, **extra_env: str) -> subprocess.Popen[str]:
        self.serve()
        return subprocess.Popen([sys.executable, "kairos1_main.py", *args, "--config", str(self.config_path)],
                                cwd=REPO, env=self.process_env(**extra_env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    # ---- what happened ------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.home / "data" / "mock" / "state.json"

    @property
    def ledger_file(self) -> Path:
        return self.home / "data" / "mock" / "kairos.db"

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text(encoding="utf-8"))

    def plans(self) -> list[dict[str, Any]]:
        return self.state()["plans"]

    def plan(self, plan_id: str | None = None) -> dict[str, Any]:
        plans = self.plans()
        return plans[-1] if plan_id is None else next(p for p in plans if p["plan_id"] == plan_id)

    def orders(self, prefix: str = "") -> list[Order]:
        """Every order the exchange received (oldest first), optionally only user_order_ids containing `prefix`
        (a KAIROS-1 id starts with k1-<installation>-, so tests name the part after it)."""
        with self.app.store.transaction() as tx:
            self.app.engine.sync(tx, self.app.now_ms())
            orders = tx.all_orders()
        return [o for o in orders if prefix in (o.user_order_id or "")]

    @property
    def installation(self) -> str:
        return self.state()["installation"]["id"]

    def balance(self, currency: str) -> Decimal:
        """Available + locked."""
        with self.app.store.transaction() as tx:
            b = tx.balance(currency)
        return b.available + b.locked

    def set_krw(self, available: Decimal) -> None:
        """Take KRW out of the account (as if spent elsewhere): available becomes `available`."""
        with self.app.store.transaction() as tx:
            balance = tx.balance("KRW")
            balance.available = Decimal(available)
            tx.put_balance(balance)

    def ledger(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        con = sqlite3.connect(f"file:{self.ledger_file}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def alerts(self, alert_type: str | None = None) -> list[sqlite3.Row]:
        if alert_type is None:
            return self.ledger("SELECT * FROM alerts ORDER BY id")
        return self.ledger("SELECT * FROM alerts WHERE alert_type = ? ORDER BY id", (alert_type,))

    def run_ticks(self, until: datetime, minutes: int = 15) -> list[Result]:
        """--process-twap every `minutes` from the next step up to `until` (inclusive)."""
        results = []
        while self.now + timedelta(minutes=minutes) <= until:
            self.step(minutes=minutes)
            results.append(self("--process-twap"))
            assert results[-1].code == 0, results[-1].err
        return results


@pytest.fixture(scope="session")
def model() -> MarketModel:
    """The default market model (deterministic; shared so its caches survive across tests)."""
    return MarketModel()


@pytest.fixture
def kairos(tmp_path: Path, model: MarketModel) -> Iterator[Kairos]:
    k = Kairos(tmp_path, model)
    yield k
    k.close()


@pytest.fixture
def make_kairos(tmp_path: Path, model: MarketModel) -> Iterator[Any]:
    """Build a Kairos with a custom start time / simulator config / market model."""
    made: list[Kairos] = []

    def factory(*, now: datetime = START, sim: dict[str, Any] | None = None, market: Any = None,
                name: str = "home") -> Kairos:
        k = Kairos(tmp_path / name, market or model, now=now, sim=sim)
        made.append(k)
        return k

    yield factory
    for k in made:
        k.close()
