"""The late-order sweep (issue: a late order bought twice): answer delays × operator re-runs.

Each cell is a whole TWAP lifecycle through the CLI, as separate processes against the standalone
simulator: every first slice is accepted by the exchange `delay` seconds after its answer was lost,
then --process-twap runs `reruns` times within a minute, then every 15 minutes to the end. Prints
the largest executed/target ratio over the plan's legs for every cell (each cell also asserts that
no leg executed more than its total plus one unit, and that no fill went unrecorded).

    .venv/bin/python bench/bench_late_orders.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.test_order_truth import sweep, sweep_table  # noqa: E402


def main() -> int:
    started = time.perf_counter()
    result = sweep()
    print(sweep_table(result))
    print(f"\nlargest executed/target: {max(result.values()):.6f} over {len(result)} cells "
          f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
