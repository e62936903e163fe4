"""The per-run context a command receives: settings, paths, clock, output and lazily built services.

Services (exchange client, state store, ledger, alerts) are built on first use, so a command that
only reads the state file never imports requests' adapters, SQLite or the simulator.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kairos.clock import Clock, FixedClock, SystemClock, parse_iso
from kairos.env import Env
from kairos.errors import ConfigError
from kairos.output import Output
from kairos.redact import Redactor
from kairos.settings import Settings

if TYPE_CHECKING:
    from kairos.coinone.client import CoinoneClient

@dataclass(frozen=True)
class Paths:
    home: Path
    data_dir: Path
    log_dir: Path

    @classmethod
    def resolve(cls, home: Path, settings: Settings) -> "Paths":
        return cls(home, _under(home, settings.paths.data_dir), _under(home, settings.paths.log_dir))

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
        return self.data_dir / "KILL"


def _under(home: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else home / path


def resolve_clock(env: Env, settings: Settings, mock: bool) -> Clock:
    """The injected clock, else KAIROS_NOW (mock mode only), else the system clock."""
    if env.clock is not None:
        return env.clock
    now = env.environ.get("KAIROS_NOW")
    if now:
        if not mock:
            raise ConfigError("KAIROS_NOW: only allowed in mock mode (it would fake the time of real orders); unset it")
        return FixedClock(parse_iso(now, what="KAIROS_NOW"))
    return SystemClock()


class Context:
    """Everything one run needs, built once from the environment and the settings."""

    def __init__(self, env: Env, settings: Settings, args: argparse.Namespace, redactor: Redactor) -> None:
        self.env = env
        self.settings = settings
        self.args = args
        self.redactor = redactor
        self.mock = settings.mode == "mock" or bool(getattr(args, "mock", False))
        self.lang = getattr(args, "lang", None) or settings.language
        self.paths = Paths.resolve(env.home, settings)
        self.clock = resolve_clock(env, settings, self.mock)
        self.dry_run = bool(getattr(args, "dry_run", False))
        self.out = Output(env.stdout, lang=self.lang, simulated=self.mock,
                          json_mode=bool(getattr(args, "json", False)), redact=redactor)

    @cached_property
    def client(self) -> "CoinoneClient":
        from kairos.wiring import build_client
        return build_client(self)

    @cached_property
    def state(self) -> Any:
        from kairos.state import StateStore
        return StateStore(self.paths.state_file, self.paths.lock_file)

    @cached_property
    def ledger(self) -> Any:
        from kairos.ledger import Ledger
        return Ledger.open(self.paths.ledger_file)

    @cached_property
    def alerts(self) -> Any:
        from kairos.notify.alerts import build_alerts
        return build_alerts(self)

    @property
    def kill_switch(self) -> str | None:
        """Why trading is stopped, or None when it is allowed."""
        if not self.settings.trading.enabled:
            return "trading.enabled: false"
        if self.paths.kill_file.exists():
            return f"kill file {self.paths.kill_file}"
        return None
