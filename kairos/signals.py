"""Graceful SIGTERM: finish the order step in progress, send nothing new, save, exit 143.

A cron run killed politely (systemd stop, `kill`) must leave the state consistent. The handler
only sets a flag; commands check it before each new order. The order in flight completes (its
intent and result are both saved), and whatever was not started is picked up by the next run.
"""
from __future__ import annotations

import logging
import signal
import threading
from typing import Any

log = logging.getLogger("kairos.signals")
EXIT_TERMINATED = 143
_flag = {"stop": False}


def install() -> Any:
    """Route SIGTERM to the stop flag; returns the previous handler (None off the main thread)."""
    _flag["stop"] = False
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_term)


def restore(previous: Any) -> None:
    """Put back the handler `install` replaced (in-process callers such as tests get theirs back)."""
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)


def _on_term(signum: int, frame: object) -> None:
    _flag["stop"] = True
    log.warning("SIGTERM received: finishing the current step, then stopping")


def stop_requested() -> bool:
    return _flag["stop"]
