"""KAIROS-1: rule-based long-term crypto allocation for one Coinone account."""
from __future__ import annotations

__version__ = "1.0.0"
