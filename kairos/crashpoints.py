"""Test-only crash injection: die with SIGKILL at the N-th I/O point of a run.

Armed only by `arm()`, which the CLI calls in mock mode when KAIROS_CRASH_AT=N is set; in live
mode it is never armed, so `hit()` is a counter increment and nothing else. The reliability
harness uses it to prove that a run killed at any durable step is reconciled by the next one.
"""
from __future__ import annotations

import os
import signal
import sys

_state = {"armed": False, "target": 0, "count": 0, "trace": None}


def arm(target: int, trace_path: str | None = None) -> None:
    _state.update(armed=target > 0, target=target, count=0, trace=trace_path)


def disarm() -> None:
    _state.update(armed=False, target=0, count=0, trace=None)


def hit(name: str) -> None:
    """Mark an I/O point; SIGKILL this process if it is the armed one."""
    if not _state["armed"]:
        return
    _state["count"] += 1
    if _state["trace"]:
        with open(_state["trace"], "a", encoding="utf-8") as handle:
            handle.write(f"{_state['count']} {name}\n")
    if _state["count"] == _state["target"]:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
