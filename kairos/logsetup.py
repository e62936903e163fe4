"""Logging: a rotating file under logs/, a concise console on stderr, secrets masked in both."""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path
from typing import TextIO

from kairos.errors import ConfigError
from kairos.redact import Redactor, RedactingFilter

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s"
_OWNED = "_kairos_handler"
FILE_ONLY = {"file_only": True}  # `extra=` for records that belong in the log file, not on the console

logging.getLogger("kairos").addHandler(logging.NullHandler())  # no "last resort" output before setup


def setup_logging(log_dir: Path | None, level: str, stderr: TextIO, redactor: Redactor,
                  max_bytes: int = 5_000_000, backups: int = 5, console_level: int = logging.WARNING,
                  strict: bool = False) -> Path | None:
    """(Re)configure the `kairos` logger; returns the log file path, or None when it cannot be written
    (`strict`: a ConfigError naming the directory and its setting instead)."""
    root = logging.getLogger("kairos")
    for handler in [h for h in root.handlers if getattr(h, _OWNED, False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)
    root.propagate = False
    console = logging.StreamHandler(stderr)
    console.setLevel(console_level)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    _own(root, console, redactor)
    if log_dir is None:
        return None
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "kairos.log"
        with open(path, "a", encoding="utf-8"):  # fail here, in one line, not in every record later
            pass
        file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                            encoding="utf-8", delay=True)
    except OSError as exc:
        if strict:
            raise ConfigError(f"log directory {log_dir} (paths.log_dir) cannot be written: "
                              f"{exc.strerror or exc}") from None
        root.warning("cannot write logs to %s (%s); logging to the console only", log_dir, exc.strerror)
        return None
    file_handler.setLevel(getattr(logging, level))
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
    _own(root, file_handler, redactor)
    return path


def _own(logger: logging.Logger, handler: logging.Handler, redactor: Redactor) -> None:
    handler.addFilter(RedactingFilter(redactor))
    setattr(handler, _OWNED, True)
    logger.addHandler(handler)
