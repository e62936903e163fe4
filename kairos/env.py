"""The environment a run sees: streams, process environment, home folder, clock and HTTP seams.

Built at call time (never as a default argument), so tests run `main([...], env=Env(...))` in-process
with their own streams, clock and simulator.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, TextIO

from kairos.clock import Clock

if TYPE_CHECKING:
    import requests


@dataclass
class Env:
    stdout: TextIO
    stderr: TextIO
    environ: Mapping[str, str]
    home: Path
    clock: Clock | None = None  # None: the system clock (or KAIROS_NOW in mock mode)
    http_session: "Callable[[], requests.Session] | None" = None  # live-mode session factory
    sim_app: Any = None  # a prebuilt simulator WSGI app for mock mode (tests)
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_process(cls) -> "Env":
        environ = dict(os.environ)
        return cls(sys.stdout, sys.stderr, environ, default_home(environ))


def default_home(environ: Mapping[str, str], package_dir: Path | None = None) -> Path:
    """KAIROS_HOME, else the checkout holding kairos1_main.py, else a per-user data directory — never the
    current directory (an installed `kairos` run from two folders would otherwise keep two account histories).

    The per-user directory follows XDG: `$XDG_DATA_HOME/kairos`, else `~/.local/share/kairos`.
    """
    if environ.get("KAIROS_HOME"):
        return Path(environ["KAIROS_HOME"]).expanduser().resolve()
    checkout = (package_dir or Path(__file__).resolve().parent).parent
    if (checkout / "kairos1_main.py").exists():
        return checkout
    xdg = environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path(environ.get("HOME") or Path.home()) / ".local" / "share"
    return base / "kairos"
