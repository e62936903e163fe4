"""Daily candles from the exchange's chart endpoint, cached in SQLite so reruns are offline and incremental.

Rows are keyed by (source, coin, day): `source` names where the candles came from (the simulator
with its seed, or the real Coinone), so simulated prices never mix with real ones. Only completed
days (before today, UTC) are stored. Per (source, coin) the cache remembers the last day it has asked
the exchange about; a run that needs nothing after that day makes no network call at all. The first
fetch pages back to the coin's first candle (`is_last`); later ones ask only for the days since.
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol, Sequence

from kairos.backtest.data import DAY_MS, day_of, from_date
from kairos.coinone.models import Candle
from kairos.errors import StateError

FILE_NAME = "backtest_cache.sqlite"
HISTORY_FLOOR_DAY = from_date(date(2013, 1, 1))  # before any Coinone KRW market

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candles (
    source TEXT NOT NULL, coin TEXT NOT NULL, day INTEGER NOT NULL,
    open TEXT NOT NULL, high TEXT NOT NULL, low TEXT NOT NULL, close TEXT NOT NULL,
    target_volume TEXT NOT NULL, quote_volume TEXT NOT NULL,
    PRIMARY KEY (source, coin, day)
);
CREATE TABLE IF NOT EXISTS coverage (
    source TEXT NOT NULL, coin TEXT NOT NULL, checked_until INTEGER NOT NULL,
    PRIMARY KEY (source, coin)
);
"""


class ChartSource(Protocol):
    """What the cache needs from the exchange client (CoinoneClient.chart)."""

    def chart(self, target: str, interval: str, count: int, end_ms: int | None = None) -> list[Candle]: ...


class CandleCache:
    """The SQLite file; every sqlite3 error becomes a StateError naming the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as con:
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=30)
            try:
                with con:
                    yield con
            finally:
                con.close()
        except sqlite3.Error as exc:
            raise StateError(f"backtest cache {self.path}: {exc} (it is only a cache: delete the file to rebuild it)") from exc

    def checked_until(self, source: str, coin: str) -> int | None:
        """The last day already asked about for (source, coin), or None before the first fetch."""
        with self._connect() as con:
            row = con.execute("SELECT checked_until FROM coverage WHERE source = ? AND coin = ?",
                              (source, coin)).fetchone()
        return None if row is None else int(row[0])

    def candles(self, source: str, coin: str, until_day: int | None = None) -> list[Candle]:
        """Cached daily candles of (source, coin), oldest-first, up to `until_day` included."""
        limit = until_day if until_day is not None else 1 << 40
        with self._connect() as con:
            rows = con.execute("SELECT day, open, high, low, close, target_volume, quote_volume FROM candles "
                               "WHERE source = ? AND coin = ? AND day <= ? ORDER BY day", (source, coin, limit)).fetchall()
        return [_candle(row) for row in rows]

    def store(self, source: str, coin: str, candles: Iterable[Candle], checked_until: int) -> int:
        """Upsert completed candles and move the coverage mark; returns how many rows were written."""
        rows = [(source, coin, day_of(c.timestamp), str(c.open), str(c.high), str(c.low), str(c.close),
                 str(c.target_volume), str(c.quote_volume)) for c in candles]
        with self._connect() as con:
            con.executemany("INSERT OR REPLACE INTO candles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            con.execute("INSERT OR REPLACE INTO coverage VALUES (?, ?, MAX(?, COALESCE((SELECT checked_until "
                        "FROM coverage WHERE source = ? AND coin = ?), ?)))",
                        (source, coin, checked_until, source, coin, checked_until))
        return len(rows)


def _candle(row: Sequence[object]) -> Candle:
    day, *values = row
    o, h, lo, c, tv, qv = (Decimal(str(v)) for v in values)
    return Candle(timestamp=int(day) * DAY_MS, open=o, high=h, low=lo, close=c, target_volume=tv, quote_volume=qv)


def load_daily(cache: CandleCache, client_factory: Callable[[], ChartSource], source: str,
               coins: Sequence[str], today: int, need_until: int) -> tuple[dict[str, list[Candle]], int]:
    """Daily candles per coin up to `need_until` (a completed day); returns them and the number of fetches.

    `client_factory` is called only when some coin is not covered, so a fully cached run never builds
    (let alone calls) the exchange client.
    """
    need_until = min(need_until, today - 1)
    client: ChartSource | None = None
    fetches = 0
    result = {}
    for coin in coins:
        checked = cache.checked_until(source, coin)
        if checked is None or checked < need_until:
            client = client or client_factory()
            fetch_new(cache, client, source, coin, today, checked)
            fetches += 1
        result[coin] = cache.candles(source, coin, need_until)
    return result, fetches


def fetch_new(cache: CandleCache, client: ChartSource, source: str, coin: str, today: int, checked: int | None) -> int:
    """Fetch what the cache lacks for one coin (everything on the first call) and store completed days."""
    since = HISTORY_FLOOR_DAY if checked is None else checked
    count = today - since + 1  # through today's open candle, which is dropped below
    labelled = [_on_its_day(c) for c in client.chart(coin, "1d", count)]
    return cache.store(source, coin, [c for c in labelled if day_of(c.timestamp) < today], today - 1)


def _on_its_day(candle: Candle) -> Candle:
    """Stamp a daily candle at 00:00 UTC of the day it stands for (nearest midnight).

    UTC-aligned candles keep their day; a candle opening at 00:00 KST (15:00 UTC the day before)
    is labelled with its KST date, so it is counted as completed only after it has really closed.
    """
    day = (candle.timestamp + DAY_MS // 2) // DAY_MS
    return candle if candle.timestamp == day * DAY_MS else replace(candle, timestamp=day * DAY_MS)
