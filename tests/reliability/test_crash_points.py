"""Crash points: SIGKILL the real CLI at one I/O point of one run, then keep ticking to the end.

The standalone simulator holds a persistent paper account; every command is a separate
`python kairos1_main.py` process. `KAIROS_CRASH_AT=N` (mock mode only) makes the N-th I/O point of
the run SIGKILL its own process; `KAIROS_CRASH_TRACE` on a normal run lists the points. After the
kill the lifecycle goes on as cron would run it (the killed command once more when it was the one
that creates the plan, then `--process-twap` every 15 minutes) and the exchange is audited:
no two orders per user_order_id or per scheduled (plan, coin, slot), every execution in the ledger
and the state file with the exchange's quantity, every leg within one minimum order of its target.

Four runs are swept: `create` (`--quarterly-rebalance-twap`, which also sends the first slices),
`tick` (the second slice's `--process-twap`), `close` (the tick that finishes the plan) and `force`
(`--quarterly-rebalance-twap --force` in the middle of the plan: supersede it, start a new one).
The default run tries five representative points of `tick`; `-m slow` tries every point of all four.
"""
from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest

from tests.reliability.harness import KILLED, Audit, Lifecycle, finished, scratch_dir, trace_points, workers

NEVER = "1000000"  # a crash index no run reaches: the trace is written, nothing is killed
CREATE = ("--quarterly-rebalance-twap",)
FORCE = ("--quarterly-rebalance-twap", "--force")
TICK = ("--process-twap",)
REPRESENTATIVE = ("intent.after", "http.received:/v2.1/order", "order.placed", "http.received:/v2.1/order/detail",
                  "state.save.after")


@dataclass(frozen=True)
class Phase:
    name: str
    snapshot: Path
    now: datetime
    args: tuple[str, ...]
    points: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    phase: str
    index: int
    point: str
    crash_code: int
    audit: Audit
    runs_after: int

    def failures(self) -> list[str]:
        problems = [f"{k}: {v}" for k, v in self.audit.problems().items()]
        if self.crash_code != KILLED:
            problems.append(f"the run was not killed at point {self.index} (exit {self.crash_code})")
        return [f"{self.phase}#{self.index} {self.point}: {p}" for p in problems]


def traced(life: Lifecycle, args: tuple[str, ...], trace: Path) -> tuple[str, ...]:
    result = life.cli(*args, KAIROS_CRASH_AT=NEVER, KAIROS_CRASH_TRACE=str(trace))
    assert result.code == 0, result.err
    return tuple(trace_points(trace))


@pytest.fixture(scope="module")
def phases() -> Iterator[dict[str, Phase]]:
    with scratch_dir("crash") as root:
        yield prepare_phases(root)


def prepare_phases(root: Path) -> dict[str, Phase]:
    """One clean lifecycle, traced, with a snapshot of the account and home before each swept run."""
    with Lifecycle(root / "base") as life:
        life.snapshot(root / "create")
        made = {"create": Phase("create", root / "create", life.now, CREATE, traced(life, CREATE, root / "create.trace"))}
        life.step()
        life.snapshot(root / "tick")
        made["tick"] = Phase("tick", root / "tick", life.now, TICK, traced(life, TICK, root / "tick.trace"))
        for number in range(40):
            life.step()
            shutil.rmtree(root / "close", ignore_errors=True)
            life.snapshot(root / "close")
            points = traced(life, TICK, root / f"close{number}.trace")
            if finished(life.state()):
                made["close"] = Phase("close", root / "close", life.now, TICK, points)
                break
        baseline = life.audit()
    with Lifecycle.from_snapshot(made["tick"].snapshot, root / "force-trace", made["tick"].now) as other:
        made["force"] = Phase("force", made["tick"].snapshot, other.now, FORCE, traced(other, FORCE, root / "force.trace"))
    assert "close" in made, "the baseline lifecycle never finished"
    assert baseline.clean, baseline.problems()
    assert {"intent.after", "order.placed", "http.received:/v2.1/order"} <= set(made["tick"].points)
    return made


def run_case(phase: Phase, index: int, root: Path) -> Case:
    """Kill the phase's run at its `index`-th point, recover as cron would, audit the exchange."""
    with Lifecycle.from_snapshot(phase.snapshot, root, phase.now) as life:
        crashed = life.cli(*phase.args, KAIROS_CRASH_AT=str(index))
        life.state()  # the state file parses after a SIGKILL at any point (raises otherwise)
        runs = 0
        if phase.args == CREATE:
            again = life.cli(*CREATE)
            assert again.code == 0, f"create#{index}: the re-run exited {again.code}: {again.err}"
            runs += 1
        runs += len(life.finish())
        return Case(phase.name, index, phase.points[index - 1], crashed.code, life.audit(), runs)


def sweep(phase: Phase, indexes: list[int], root: Path) -> list[Case]:
    with ThreadPoolExecutor(max_workers=workers()) as pool:
        return list(pool.map(lambda i: run_case(phase, i, root / f"{phase.name}-{i}"), indexes))


def summary(phase: Phase, cases: list[Case]) -> str:
    dup = sum(len(c.audit.duplicate_uoids) + len(c.audit.duplicate_slots) for c in cases)
    lost = sum(len(c.audit.lost_fills) for c in cases)
    worst = max((abs(d) for c in cases for d in c.audit.distance_krw.values()), default=0)
    return (f"crash points [{phase.name}]: {len(cases)} points killed, {dup} duplicate orders, {lost} lost fills, "
            f"largest distance from target {worst:.0f} KRW, orders on the exchange {min(c.audit.orders for c in cases)}"
            f"–{max(c.audit.orders for c in cases)}")


@pytest.mark.parametrize("point", REPRESENTATIVE)
def test_kill_at_a_representative_point_then_recover(phases: dict[str, Phase], point: str) -> None:
    phase = phases["tick"]
    index = phase.points.index(point) + 1
    with scratch_dir("crash-case") as root:
        case = run_case(phase, index, root / "case")
    assert case.crash_code == KILLED
    assert case.failures() == []
    assert case.audit.orders > 0


def test_the_trace_lists_every_kind_of_io_point(phases: dict[str, Phase]) -> None:
    kinds = {p.split(":")[0] for p in phases["tick"].points}
    assert kinds >= {"http.send", "http.received", "intent.before", "intent.after", "order.placed",
                     "state.save.before", "state.save.after", "ledger.write.begin"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["create", "tick", "close", "force"])
def test_kill_at_every_point(phases: dict[str, Phase], name: str) -> None:
    phase = phases[name]
    with scratch_dir("crash-sweep") as root:
        cases = sweep(phase, list(range(1, len(phase.points) + 1)), root)
    print("\n" + summary(phase, cases))
    assert [f for c in cases for f in c.failures()] == []
    assert len(cases) == len(phase.points)
