"""The per-run context a command receives: settings, paths, clock, output and lazily built services.

Services (exchange client, state store, ledger, alerts) are built on first use, so a command that
only reads the state file never imports requests' adapters, SQLite or the simulator.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from kairos.clock import Clock, FixedClock, SystemClock, parse_iso
from kairos.env import Env
from kairos.errors import ConfigError
from kairos.output import Output
from kairos.redact import Redactor
from kairos.settings import Settings

if TYPE_CHECKING:
    from kairos.binding import ExchangeIdentity
    from kairos.coinone.client import CoinoneClient
    from kairos.ledger import Ledger
    from kairos.notify.alerts import Alerts
    from kairos.state import StateStore

# what an installation's data directory holds (moved together when a pre-binding data/ is adopted)
DATA_FILES = ("state.json", "kairos.db", "kairos.db-wal", "kairos.db-shm", "backups", "kairos.lock",
              "kairos.lock.info")


@dataclass(frozen=True)
class Paths:
    home: Path
    data_dir: Path
    log_dir: Path
    data_root: Path = Path("data")  # where the per-mode directories live (and the global KILL file)

    @classmethod
    def resolve(cls, home: Path, settings: Settings, mode: str = "mock") -> "Paths":
        """`paths.data_dir` as given; by default `data/<mode>/`, so mock and live never share a directory."""
        explicit = settings.paths.data_dir
        root = _under(home, explicit or "data")
        return cls(home, root if explicit else root / mode, _under(home, settings.paths.log_dir), root)

    @property
    def state_file(self) -> Path:
        return self.data_dir / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "kairos.lock"

    @property
    def ledger_file(self) -> Path:
        return self.data_dir / "kairos.db"

    @property
    def kill_file(self) -> Path:
        return self.data_root / "KILL"

    @property
    def kill_files(self) -> tuple[Path, ...]:
        """The global kill file (data/KILL) and this data directory's own."""
        return tuple(dict.fromkeys((self.data_root / "KILL", self.data_dir / "KILL")))


def adopt_legacy_data(paths: Paths, mode: str, mock_exchange_file: str) -> str | None:
    """Move a data/ from before per-mode directories into data/<mode>/ when its contents show that mode.

    Its contents show mock when it holds the in-process simulator's account file, live otherwise.
    Returns the one-line notice to print, or None when there was nothing to adopt.
    """
    root = paths.data_root
    if paths.data_dir == root or not (root / "state.json").exists() or paths.data_dir.exists():
        return None
    shown = "mock" if (root / mock_exchange_file).exists() else "live"
    if shown != mode:
        return None
    paths.data_dir.mkdir(parents=True)
    moved = []
    for name in (*DATA_FILES, mock_exchange_file, f"{mock_exchange_file}-wal", f"{mock_exchange_file}-shm"):
        if (root / name).exists():
            (root / name).rename(paths.data_dir / name)
            moved.append(name)
    return (f"notice: {root} from an earlier version holds a {shown} account; adopted as {paths.data_dir} "
            f"(moved {', '.join(moved)})")


def _under(home: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else home / path


def resolve_clock(env: Env, settings: Settings, mock: bool) -> Clock:
    """The injected clock, else KAIROS_NOW (mock and paper mode only), else the system clock."""
    if env.clock is not None:
        return env.clock
    now = env.environ.get("KAIROS_NOW")
    if now:
        if not mock:
            raise ConfigError("KAIROS_NOW: only allowed in mock and paper mode (it would fake the time of real orders); "
                              "unset it")
        return FixedClock(parse_iso(now, what="KAIROS_NOW"))
    return SystemClock()


class Context:
    """Everything one run needs, built once from the environment and the settings."""

    def __init__(self, env: Env, settings: Settings, args: argparse.Namespace, redactor: Redactor) -> None:
        self.env = env
        self.settings = settings
        self.args = args
        self.redactor = redactor
        flag_mock, flag_paper = bool(getattr(args, "mock", False)), bool(getattr(args, "paper", False))
        # a flag wins over the configured mode (the default config says mock: --paper must still mean paper)
        self.mock = flag_mock or (settings.mode == "mock" and not flag_paper)
        self.paper = not self.mock and (flag_paper or settings.mode == "paper")
        self.lang = getattr(args, "lang", None) or settings.language
        self.mode = "mock" if self.mock else ("paper" if self.paper else "live")
        self.simulated = self.mode != "live"  # no real money moves (mock: simulated exchange; paper: pretend account)
        self.live = self.mode == "live"
        self.paths = Paths.resolve(env.home, settings, self.mode)
        self.clock = resolve_clock(env, settings, self.simulated)
        self.dry_run = bool(getattr(args, "dry_run", False))
        self.out = Output(env.stdout, lang=self.lang, mode=self.mode,
                          json_mode=bool(getattr(args, "json", False)), redact=redactor)

    @cached_property
    def client(self) -> "CoinoneClient":
        from kairos.wiring import build_client
        return build_client(self)

    def adopt_legacy_data(self) -> None:
        """Once per run, before anything opens the data directory."""
        notice = adopt_legacy_data(self.paths, self.mode, self.settings.mock.exchange_file)
        if notice:
            self.env.stderr.write(notice + "\n")

    @cached_property
    def identity(self) -> "ExchangeIdentity":
        """The exchange account this run talks to (mode, base URL, key fingerprint)."""
        from kairos.binding import SIM_BASE_URL, ExchangeIdentity, key_fingerprint
        if self.mock:  # the simulator's key as kairos.wiring.sim_credentials picks it (no requests import here)
            ex, mock = self.settings.exchange, self.settings.mock
            token = ex.access_token.reveal() if ex.has_keys and ex.access_token and not mock.server_url else mock.access_token
            return ExchangeIdentity("mock", mock.server_url or SIM_BASE_URL, key_fingerprint(token))
        ex = self.settings.exchange
        if self.paper:  # a pretend account on the real public data: no key is ever used
            return ExchangeIdentity("paper", ex.base_url, key_fingerprint(None))
        return ExchangeIdentity("live", ex.base_url, key_fingerprint(ex.access_token.reveal() if ex.access_token else None))

    @cached_property
    def state(self) -> "StateStore":
        from kairos.state import StateStore
        return StateStore(self.paths.state_file, self.paths.lock_file, identity=self.identity,
                          extra=self._binding_extra(), notify=self._notice, clock=self.clock)

    def _notice(self, line: str) -> None:
        self.env.stderr.write(line + "\n")

    def _binding_extra(self) -> dict[str, str]:
        if self.paper:
            return {"paper_initial_krw": str(self.settings.paper.initial_krw)}
        return {"mock_initial_krw": str(self.settings.mock.initial_krw)} if self.mock else {}

    @cached_property
    def ledger(self) -> "Ledger":
        from kairos.ledger import Ledger
        return Ledger.open(self.paths.ledger_file, identity=self.identity,
                           wait_seconds=float(self.settings.state.ledger_wait_seconds))

    @cached_property
    def alerts(self) -> "Alerts":
        from kairos.notify.channels import build_alerts
        return build_alerts(self)

    @property
    def kill_switch(self) -> str | None:
        """Why trading is stopped, or None when it is allowed."""
        from kairos.notify.texts import A

        if not self.settings.trading.enabled:
            return self.out.t(A["kill_disabled"])
        for kill in self.paths.kill_files:
            if kill.exists():
                return self.out.t(A["kill_file"], path=kill)
        return None
