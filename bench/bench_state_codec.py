"""Cost of reading and writing the typed state file (decode once at read, encode once at save). Prints figures.

Run: python bench/bench_state_codec.py [RUNS]        (default 200)

Starts from the version-1 installation in tests/data/v1_install (a plan 1h30 in), migrates it, then grows the
plan to a whole one (every leg with 24 order records: the largest a TWAP plan gets) and times
json.loads + decode, and encode + json.dumps, as `StateStore.read` and `save` do them.
"""
from __future__ import annotations

import copy
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kairos.engine import codec  # noqa: E402
from kairos.engine.migrate import migrate  # noqa: E402
from kairos.engine.model import State  # noqa: E402


def timed(runs: int, work) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(runs):
        work()
    return (time.perf_counter() - start) / runs * 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    tree = migrate(json.loads((REPO / "tests/data/v1_install/state.json").read_text(), parse_float=Decimal))[0]
    for name, grow in (("as recorded (12 order records)", False), ("a whole plan (4 legs × 24 records)", True)):
        state_tree = copy.deepcopy(tree)
        if grow:
            for leg in state_tree["plans"][0]["legs"]:
                leg["orders"] = [dict(leg["orders"][0], uoid=f"{leg['orders'][0]['uoid']}-{i}") for i in range(24)]
        text = json.dumps(state_tree, indent=1, sort_keys=True)
        state = codec.decode(State, json.loads(text, parse_float=Decimal))
        read = timed(runs, lambda: codec.decode(State, json.loads(text, parse_float=Decimal)))
        write = timed(runs, lambda: json.dumps(codec.encode(state), ensure_ascii=False, indent=1, sort_keys=True))
        print(f"{name:<38} {len(text) / 1024:6.1f} KiB   read+decode {read:6.2f} ms   encode+write {write:6.2f} ms")


if __name__ == "__main__":
    main()
