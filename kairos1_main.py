#!/usr/bin/env python3
"""KAIROS-1 entry point: `python kairos1_main.py --help`."""
import sys

from kairos.cli import main

if __name__ == "__main__":
    sys.exit(main())
