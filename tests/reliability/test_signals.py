"""SIGTERM during a tick: the order in flight finishes, nothing new is sent, the state is saved, exit 143.

The simulator delays one endpoint (admin faults API, `latency`) so the `--process-twap` subprocess
is provably in the middle of that request when SIGTERM arrives (its intent is already in the
state file). Afterwards: the state parses, the in-flight order is resolved, no order was sent after
the signal, and the next ticks reconcile and finish the plan with no duplicate and no lost fill.
The slow sweep sends SIGTERM at 20 different moments of a tick instead.
"""
from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.reliability.harness import Lifecycle, Result, scratch_dir, state_records, workers

TERMINATED = 143


@dataclass(frozen=True)
class Snapshot:
    path: Path
    now: datetime


@pytest.fixture(scope="module")
def mid_plan() -> Iterator[Snapshot]:
    """A paper account and home right after the first slices, the next slice due in 15 minutes."""
    with scratch_dir("signals") as root:
        with Lifecycle(root / "base") as life:
            made = life.cli("--quarterly-rebalance-twap")
            assert made.code == 0, made.err
            life.step()
            life.snapshot(root / "snap")
            yield Snapshot(root / "snap", life.now)


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def in_flight(life: Lifecycle) -> bool:
    """True once an order intent is saved (the request is being sent), read as an operator would."""
    try:
        return any(r.get("status") == "intent" for r in state_records(life.state()))
    except ValueError:
        return False


@dataclass(frozen=True)
class Outcome:
    result: Result
    sent_in_tick: int
    unresolved_after: list[str]
    audit_problems: dict[str, list[str]]


def terminate_tick(life: Lifecycle, *, slow_path: str | None, delay: float | None) -> Outcome:
    """Start --process-twap; SIGTERM it mid-request on `slow_path` (or after `delay` s); then finish the plan."""
    if slow_path:
        life.sim.add_fault(kind="latency", path=slow_path, seconds=2.5, count=1)
    before = len(life.sim.orders())
    life.sync_clock()
    proc = life.install.popen("--process-twap", "--lang", "en", now=life.now)
    try:
        if slow_path == "/v2.1/order":
            assert wait_for(lambda: in_flight(life), 30), "the order intent never appeared"
            time.sleep(0.3)  # the request is now waiting on the simulator
        else:
            time.sleep(delay if delay is not None else 0.8)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    result = Result(proc.returncode, out, err)
    sent = len(life.sim.orders()) - before
    after = [f"{r.get('uoid')}={r.get('status')}" for r in state_records(life.state()) if r.get("status") == "intent"]
    life.sim.clear_faults()
    life.finish()
    return Outcome(result, sent, after, life.audit().problems())


def test_sigterm_while_an_order_is_in_flight(mid_plan: Snapshot) -> None:
    with scratch_dir("sigterm") as root, Lifecycle.from_snapshot(mid_plan.path, root, mid_plan.now) as life:
        outcome = terminate_tick(life, slow_path="/v2.1/order", delay=None)
    assert outcome.result.code == TERMINATED, outcome.result.err
    assert outcome.sent_in_tick == 1  # the order in flight, and nothing after the signal
    assert outcome.unresolved_after == []  # its intent was completed before the exit
    assert "Traceback" not in outcome.result.err and len(outcome.result.err.strip().splitlines()) <= 1
    assert outcome.audit_problems == {}


def test_sigterm_while_reading_prices_sends_nothing(mid_plan: Snapshot) -> None:
    with scratch_dir("sigterm") as root, Lifecycle.from_snapshot(mid_plan.path, root, mid_plan.now) as life:
        outcome = terminate_tick(life, slow_path="/public/v2/ticker_new/KRW", delay=1.0)
    assert outcome.result.code == TERMINATED, outcome.result.err
    assert outcome.sent_in_tick == 0
    assert outcome.audit_problems == {}


@pytest.mark.slow
def test_sigterm_at_twenty_moments_of_a_tick(mid_plan: Snapshot) -> None:
    delays = [0.05 * k for k in range(20)]

    def one(delay: float) -> tuple[float, Outcome]:
        with scratch_dir("sigterm") as root, Lifecycle.from_snapshot(mid_plan.path, root, mid_plan.now) as life:
            return delay, terminate_tick(life, slow_path=None, delay=delay)

    with ThreadPoolExecutor(max_workers=workers()) as pool:
        outcomes = list(pool.map(one, delays))
    codes = [o.result.code for _, o in outcomes]
    print(f"\nsignals: SIGTERM at {len(delays)} moments 0–{delays[-1]:.2f}s into a tick: exit codes {codes}; "
          f"orders sent per terminated tick {[o.sent_in_tick for _, o in outcomes]}; "
          f"problems {sum(len(o.audit_problems) for _, o in outcomes)}")
    # -15: the signal arrived before the CLI installed its handler (during imports): nothing was started
    assert set(codes) <= {0, TERMINATED, -signal.SIGTERM}, codes
    assert [(d, o.unresolved_after, o.audit_problems) for d, o in outcomes
            if o.unresolved_after or o.audit_problems] == []
    assert all("Traceback" not in o.result.err for _, o in outcomes)
