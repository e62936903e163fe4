#!/usr/bin/env python3
"""Thin wrapper: `python scripts/quarterly_rebalance.py [options]` = `python kairos1_main.py --quarterly-rebalance-twap [options]` — 분기 TWAP 리밸런싱 (quarterly TWAP rebalance)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from kairos.cli import main  # noqa: E402 - after the path fix


def run() -> int:
    """Run KAIROS-1 with --quarterly-rebalance-twap followed by this script's own arguments."""
    return main(["--quarterly-rebalance-twap", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(run())
