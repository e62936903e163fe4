"""Overlapping cron runs: many `--process-twap` processes at once, every tick of a lifecycle.

Exactly one process may act in a tick: the exchange receives at most one order per plan leg per
tick, only one process reports sending slices, the others say they skipped (the lock was held) or
found nothing due. The state file parses at every moment: a reader thread re-reads it while the
processes run, and it is read again after each tick. Since every one of those processes pays the
start-up, the last test checks the cron paths import neither pandas nor matplotlib.
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.harness import REPO, UOID, Lifecycle, Result, child_env, finished, scratch_dir

SKIPPED = "Another KAIROS-1 run holds the lock"
SENT = re.compile(r"• [A-Z0-9]+ (BUY|SELL) slice (\d+|\+)/\d+: ")  # "  • BTC BUY slice 2/3: …" (English output)


@dataclass
class StateWatcher:
    """Re-reads the state file in a loop; counts reads and the ones that did not parse."""

    path: Path
    reads: int = 0
    bad: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "StateWatcher":
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                json.loads(self.path.read_bytes())
                self.reads += 1
            except FileNotFoundError:
                pass
            except ValueError as exc:
                self.bad.append(str(exc))
            time.sleep(0.002)


@dataclass(frozen=True)
class TickOutcome:
    results: list[Result]
    new_orders: list[str]

    @property
    def skipped(self) -> int:
        return sum(SKIPPED in r.out for r in self.results)

    @property
    def actors(self) -> int:
        return sum(bool(SENT.search(r.out)) for r in self.results)


def overlapping_tick(life: Lifecycle, processes: int) -> TickOutcome:
    """Step the clocks, start `processes` --process-twap at once, wait for all."""
    life.step()
    life.sync_clock()
    before = {o["order_id"] for o in life.sim.orders()}
    with StateWatcher(life.install.state_file) as watcher:
        procs = [life.install.popen("--process-twap", "--lang", "en", now=life.now) for _ in range(processes)]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            results.append(Result(proc.returncode, out, err))
    assert watcher.bad == [], f"the state file did not parse while the tick ran: {watcher.bad[:3]}"
    assert watcher.reads > 0
    life.state()  # and after the tick
    new = [o["user_order_id"] for o in life.sim.orders() if o["order_id"] not in before]
    return TickOutcome(results, new)


def check_tick(outcome: TickOutcome, processes: int) -> None:
    assert [r.code for r in outcome.results] == [0] * processes, [r.err for r in outcome.results if r.code]
    assert all(r.err.strip() == "" for r in outcome.results), [r.err for r in outcome.results if r.err.strip()]
    legs = Counter((m["plan"], m["coin"]) for m in map(UOID.match, outcome.new_orders) if m)
    assert all(n == 1 for n in legs.values()), f"more than one order for a leg in one tick: {legs}"
    assert outcome.actors == (1 if outcome.new_orders else 0), [r.out for r in outcome.results]


def lifecycle_under_overlap(tmp_path: Path, processes: int, max_ticks: int) -> list[TickOutcome]:
    outcomes = []
    with Lifecycle(tmp_path) as life:
        created = life.cli("--quarterly-rebalance-twap")
        assert created.code == 0, created.err
        while len(outcomes) < max_ticks and not finished(life.state()):
            outcome = overlapping_tick(life, processes)
            check_tick(outcome, processes)
            outcomes.append(outcome)
        audit = life.audit()
    assert audit.duplicate_uoids == [] and audit.duplicate_slots == [] and audit.lost_fills == []
    assert audit.overfilled == [] and audit.unresolved == []
    return outcomes


def test_ten_overlapping_ticks_three_times() -> None:
    with scratch_dir("overlap") as root:
        outcomes = lifecycle_under_overlap(root, processes=10, max_ticks=3)
    assert len(outcomes) == 3
    assert sum(o.skipped for o in outcomes) > 0, "no process ever met a held lock: the overlap was not exercised"
    assert sum(o.actors for o in outcomes) >= 2  # slices were really sent under contention


@pytest.mark.slow
@pytest.mark.parametrize("run", range(3))
def test_twenty_overlapping_processes_every_tick_of_a_lifecycle(run: int) -> None:
    with scratch_dir("overlap") as root:
        outcomes = lifecycle_under_overlap(root, processes=20, max_ticks=60)
    acted = [o.actors for o in outcomes]
    print(f"\noverlaps run {run}: {len(outcomes)} ticks × 20 processes; actors per tick {acted}; "
          f"skipped per tick {[o.skipped for o in outcomes]}; orders per tick {[len(o.new_orders) for o in outcomes]}")
    assert max(acted) == 1 and sum(o.skipped for o in outcomes) > 0


# ---- the footprint every one of those processes pays ------------------------------------------------
@pytest.mark.parametrize("args, active", [(("--twap-status",), True), (("--process-twap",), False),
                                          (("--process-twap",), True), (("--weekly-analysis",), False)],
                         ids=["twap-status", "idle-tick", "tick", "weekly"])
def test_the_cron_paths_import_neither_pandas_nor_matplotlib(args: tuple[str, ...], active: bool) -> None:
    """`python -X importtime` on the real command: the 15-minute paths stay light (DESIGN §2)."""
    with scratch_dir("imports") as root, Lifecycle(root) as life:
        if active:
            assert life.cli("--quarterly-rebalance-twap").code == 0
            life.step()
        life.sync_clock()
        argv = life.install.argv(*args)
        done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], cwd=REPO,
                              env=child_env(life.install.home, life.now), capture_output=True, text=True, timeout=120)
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert done.returncode == 0, done.stderr[-500:]
    assert {"kairos.cli", "kairos.state"} <= modules  # the measurement saw the program's own imports
    assert sorted(m for m in modules if m.split(".")[0] in ("pandas", "matplotlib")) == []
    if args == ("--weekly-analysis",) or not active:  # no numpy either (the simulator runs in its own process)
        assert sorted(m for m in modules if m.split(".")[0] == "numpy") == []
    if args == ("--twap-status",) or (args == ("--process-twap",) and not active):  # nothing to send: no HTTP stack
        assert "requests" not in modules
