"""User-supplied daily history: one CSV per coin in a folder (`--data DIR`).

File name: `SYMBOL.csv` in upper case (`BTC.csv`, `ETH.csv`, …), one for every coin of the configured
universe and for the season filter's reference coin (BTC). UTF-8 (a BOM is fine), comma-separated:

    date,open,high,low,close,volume
    2017-01-02,1150000,1180000,1140000,1172000,312.5

- `date`: the UTC day, YYYY-MM-DD; one row per day, any order, no day twice. Gaps are allowed
  (a missing day is valued at the previous close and never traded on).
- `open`, `high`, `low`, `close`: KRW prices, > 0, with low ≤ open, close ≤ high.
- `volume`: traded quantity that day in coin units, ≥ 0. KRW turnover, which prices market impact,
  is estimated as volume × close.
- The header names the six columns (any case, any order); other columns are ignored.

Every bad row is reported on one line naming the file and the row (the header is row 1), e.g.
`data/BTC.csv row 17: close: expected a number, got 'abc'`; the run then stops with exit 2.
"""
from __future__ import annotations

import csv
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Sequence

from kairos.backtest.data import DAY_MS, from_date
from kairos.coinone.models import Candle
from kairos.errors import ConfigError
from kairos.money import to_decimal

COLUMNS = ("date", "open", "high", "low", "close", "volume")
MAX_PROBLEMS = 20
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class CsvError(ConfigError):
    """One or more bad rows or files; `problems` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems in the CSV data, first: {self.problems[0]}"
        super().__init__(message)


def load_dir(directory: Path, coins: Iterable[str], shown: str | None = None) -> dict[str, list[Candle]]:
    """Read `SYMBOL.csv` for every coin; CsvError listing every problem in every file."""
    label_dir = shown if shown is not None else str(directory)
    if not directory.is_dir():
        raise ConfigError(f"--data {label_dir}: not a folder")
    result: dict[str, list[Candle]] = {}
    problems: list[str] = []
    for coin in coins:
        path = directory / f"{coin}.csv"
        label = f"{label_dir.rstrip('/')}/{coin}.csv"
        if not path.is_file():
            problems.append(f"{label}: not found (--data needs one SYMBOL.csv per coin: {', '.join(coins)})")
            continue
        try:
            result[coin] = read_csv(path, label)
        except CsvError as exc:
            problems.extend(exc.problems)
    if problems:
        raise CsvError(problems[:MAX_PROBLEMS] + _more(len(problems)))
    return result


def _more(count: int) -> list[str]:
    return [f"… and {count - MAX_PROBLEMS} more problems"] if count > MAX_PROBLEMS else []


def read_csv(path: Path, label: str) -> list[Candle]:
    """Daily candles (oldest-first) from one CSV file; CsvError naming every bad row."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return _parse(csv.reader(handle), label)
    except UnicodeDecodeError:
        raise CsvError([f"{label}: not UTF-8 text"]) from None
    except OSError as exc:
        raise CsvError([f"{label}: cannot read ({exc.strerror or exc})"]) from None


def _parse(reader: Any, label: str) -> list[Candle]:  # a csv.reader: rows and line_num
    header = next(reader, None)
    if header is None:
        raise CsvError([f"{label}: empty file (expected the header {','.join(COLUMNS)})"])
    positions = _positions(header, label)
    rows: dict[int, tuple[int, Candle]] = {}
    problems: list[str] = []
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        line = reader.line_num
        try:
            candle = _candle(fields, positions)
        except ValueError as exc:
            problems.append(f"{label} row {line}: {exc}")
            continue
        day = candle.timestamp // DAY_MS
        if day in rows:
            problems.append(f"{label} row {line}: date: {_date_text(fields, positions)} already given in row {rows[day][0]}")
            continue
        rows[day] = (line, candle)
    if problems:
        raise CsvError(problems)
    if not rows:
        raise CsvError([f"{label}: no data rows after the header"])
    return [rows[day][1] for day in sorted(rows)]


def _positions(header: Sequence[str], label: str) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise CsvError([f"{label} row 1: header lacks {', '.join(missing)} "
                        f"(expected {','.join(COLUMNS)}, got {','.join(h.strip() for h in header)})"])
    return {c: names.index(c) for c in COLUMNS}


def _date_text(fields: Sequence[str], positions: dict[str, int]) -> str:
    index = positions["date"]
    return fields[index].strip() if index < len(fields) else ""


def _candle(fields: Sequence[str], positions: dict[str, int]) -> Candle:
    width = max(positions.values()) + 1
    if len(fields) < width:
        raise ValueError(f"expected {width} fields, got {len(fields)}")
    day = _day(fields[positions["date"]])
    o, h, lo, c = (_price(fields[positions[k]], k) for k in ("open", "high", "low", "close"))
    volume = _number(fields[positions["volume"]], "volume")
    if volume < 0:
        raise ValueError(f"volume: must not be negative, got {volume}")
    if lo > h:
        raise ValueError(f"low {lo} is above high {h}")
    for name, value in (("open", o), ("close", c)):
        if not lo <= value <= h:
            raise ValueError(f"{name} {value} is outside low {lo} .. high {h}")
    return Candle(timestamp=day * DAY_MS, open=o, high=h, low=lo, close=c,
                  target_volume=volume, quote_volume=volume * c)


def _day(text: str) -> int:
    value = text.strip()
    if not _DATE.fullmatch(value):
        raise ValueError(f"date: expected YYYY-MM-DD, got {text!r}")
    try:
        return from_date(date.fromisoformat(value))
    except ValueError:
        raise ValueError(f"date: no such day {text!r}") from None


def _number(text: str, what: str) -> Decimal:
    if not text.strip():
        raise ValueError(f"{what}: expected a number, got an empty field")
    return to_decimal(text, what=what)


def _price(text: str, what: str) -> Decimal:
    value = _number(text, what)
    if value <= 0:
        raise ValueError(f"{what}: must be positive, got {text.strip()!r}")
    return value
