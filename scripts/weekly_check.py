#!/usr/bin/env python3
"""Thin wrapper: `python scripts/weekly_check.py [options]` = `python kairos1_main.py --weekly-analysis [options]` — 주간 시장 분석 (weekly season analysis)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from kairos.cli import main  # noqa: E402 - after the path fix


def run() -> int:
    """Run KAIROS-1 with --weekly-analysis followed by this script's own arguments."""
    return main(["--weekly-analysis", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(run())
