"""Logging: a rotating file under logs/, a concise console on stderr, secrets masked in both."""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path
from typing import TextIO

from kairos.errors import ConfigError
from kairos.redact import Redactor, RedactingFilter

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s"
CRON_LOG = "cron.log"  # where the printed crontab sends each job's output; rotated here like the main log


LEVEL_WORDS = {"WARNING": ("경고", "warning"), "ERROR": ("오류", "error"), "CRITICAL": ("심각", "critical"),
               "INFO": ("정보", "info"), "DEBUG": ("디버그", "debug")}


class ConsoleFormatter(logging.Formatter):
    """The console's short form: the level as a word in the reader's language, then the (English) log message."""

    def __init__(self, lang: str) -> None:
        super().__init__("%(message)s")
        self.pick = 1 if lang == "en" else 0

    def format(self, record: logging.LogRecord) -> str:
        word = LEVEL_WORDS.get(record.levelname, (record.levelname, record.levelname))[self.pick]
        return f"{word}: {super().format(record)}"


class IsoFormatter(logging.Formatter):
    """ISO 8601 timestamps with the UTC offset (2026-12-01T09:00:00.123+09:00): a log a person can audit."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        from datetime import datetime

        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")
_OWNED = "_kairos_handler"
FILE_ONLY = {"file_only": True}  # `extra=` for records that belong in the log file, not on the console

logging.getLogger("kairos").addHandler(logging.NullHandler())  # no "last resort" output before setup


def setup_logging(log_dir: Path | None, level: str, stderr: TextIO, redactor: Redactor,
                  max_bytes: int = 5_000_000, backups: int = 5, console_level: int = logging.WARNING,
                  strict: bool = False, verbose: bool = False, lang: str = "en") -> Path | None:
    """(Re)configure the `kairos` logger; returns the log file path, or None when it cannot be written
    (`strict`: a ConfigError naming the directory and its setting instead)."""
    root = logging.getLogger("kairos")
    for handler in [h for h in root.handlers if getattr(h, _OWNED, False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)
    root.propagate = False
    console = logging.StreamHandler(stderr)
    if verbose:  # --verbose: the log file's lines, timestamps and all, also on stderr
        console.setLevel(getattr(logging, level))
        console.setFormatter(IsoFormatter(FILE_FORMAT))
    else:
        console.setLevel(console_level)
        console.setFormatter(ConsoleFormatter(lang))
        console.addFilter(lambda record: not getattr(record, "file_only", False))
    _own(root, console, redactor)
    if log_dir is None:
        return None
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "kairos.log"
        with open(path, "a", encoding="utf-8"):  # fail here, in one line, not in every record later
            pass
        rotate_if_large(log_dir / CRON_LOG, max_bytes, backups)
        file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                            encoding="utf-8", delay=True)
    except OSError as exc:
        if strict:
            raise ConfigError(f"log directory {log_dir} (paths.log_dir) cannot be written: "
                              f"{exc.strerror or exc}") from None
        root.warning("cannot write logs to %s (%s); logging to the console only", log_dir, exc.strerror)
        return None
    file_handler.setLevel(getattr(logging, level))
    file_handler.setFormatter(IsoFormatter(FILE_FORMAT))
    _own(root, file_handler, redactor)
    return path


def rotate_if_large(path: Path, max_bytes: int, backups: int) -> None:
    """Rotate the crontab's output file as the main log rotates (the shell reopens it on the next run)."""
    try:
        if not path.exists() or path.stat().st_size < max_bytes:
            return
        for i in range(backups - 1, 0, -1):
            older = path.with_name(f"{path.name}.{i}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{i + 1}"))
        if backups > 0:
            path.replace(path.with_name(f"{path.name}.1"))
        else:
            path.unlink()
    except OSError:
        pass  # never fail a run over its cron output file


def _own(logger: logging.Logger, handler: logging.Handler, redactor: Redactor) -> None:
    handler.addFilter(RedactingFilter(redactor))
    setattr(handler, _OWNED, True)
    logger.addHandler(handler)
