#!/usr/bin/env python3
"""Thin wrapper: `python scripts/performance_report.py [DAYS] [options]` = `python kairos1_main.py --performance-report DAYS [options]`.

성과 보고서 (performance report). DAYS defaults to 30 when the first argument is not a number.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from kairos.cli import main  # noqa: E402 - after the path fix


DEFAULT_DAYS = "30"


def run() -> int:
    """Run KAIROS-1 with --performance-report DAYS followed by this script's own arguments."""
    args = sys.argv[1:]
    if not args or not args[0].isdigit():
        args = [DEFAULT_DAYS, *args]
    return main(["--performance-report", *args])


if __name__ == "__main__":
    sys.exit(run())
