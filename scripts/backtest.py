#!/usr/bin/env python3
"""Backtest the strategy on history: `python scripts/backtest.py [--start …] [--end …] [--capital …] [--data DIR]
[--chart FILE.png] [--json] [--lang en] [--mock]` (the same as `python kairos1_main.py --backtest …`)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kairos.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["--backtest", *sys.argv[1:]]))
