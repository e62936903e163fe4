"""File permission checks for files that hold secrets (config, master key)."""
from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Iterable

from kairos.errors import ConfigError

log = logging.getLogger("kairos.permissions")


def loose_files(paths: Iterable[Path | None]) -> list[tuple[Path, int]]:
    """(path, mode) for every existing file readable or writable by group or others."""
    found = []
    for path in paths:
        if path is None:
            continue
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            found.append((path, mode))
    return found


def enforce(paths: Iterable[Path | None], *, live: bool, allow: bool) -> list[str]:
    """Warn about loose permissions; in live mode refuse them unless explicitly allowed."""
    problems = [f"{path} is readable by group/others (mode {mode:o}); fix with: chmod 600 {path}"
                for path, mode in loose_files(paths)]
    for text in problems:
        log.warning(text)
    if problems and live and not allow:
        raise ConfigError(f"{problems[0]} (live mode refuses this; set trading.allow_insecure_permissions: true to override)")
    return problems
