"""Persistence of the simulated account: balances, orders, fills, nonces, user_order_ids, transfers.

One SQLite database holds one account. `SqliteStore(path)` is the paper account: WAL mode and a
busy timeout let many processes share the file, and every request runs in one `BEGIN IMMEDIATE`
transaction, so concurrent writers queue instead of corrupting each other. `MemoryStore()` is
the same schema on a private in-memory database, for unit tests.

Records are plain dataclasses with Decimal fields; they are stored as JSON text (Decimals as
strings), with the columns that queries need copied out next to the JSON.
"""
from __future__ import annotations

import hashlib

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from kairos.money import ZERO

SCHEMA_VERSION = "1"
OPEN_STATUSES = frozenset({"LIVE", "PARTIALLY_FILLED", "NOT_TRIGGERED", "TRIGGERED"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS balances(currency TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nonces(token TEXT NOT NULL, nonce TEXT NOT NULL, PRIMARY KEY(token, nonce));
CREATE TABLE IF NOT EXISTS user_order_ids(user_order_id TEXT PRIMARY KEY, order_id TEXT);
CREATE TABLE IF NOT EXISTS orders(seq INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT UNIQUE NOT NULL,
    user_order_id TEXT, target TEXT NOT NULL, is_open INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_open ON orders(is_open, target);
CREATE INDEX IF NOT EXISTS orders_uoid ON orders(user_order_id);
CREATE TABLE IF NOT EXISTS fills(seq INTEGER PRIMARY KEY AUTOINCREMENT, trade_id TEXT UNIQUE NOT NULL,
    order_id TEXT NOT NULL, target TEXT NOT NULL, timestamp INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS fills_time ON fills(timestamp);
CREATE TABLE IF NOT EXISTS transfers(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
    currency TEXT NOT NULL, type TEXT NOT NULL, created_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS transfers_time ON transfers(currency, created_at);
"""


@dataclass
class Balance:
    currency: str
    available: Decimal = ZERO
    locked: Decimal = ZERO
    average_price: Decimal = ZERO


@dataclass
class Order:
    """One order as the exchange keeps it; fields that do not apply to its type stay None."""

    order_id: str
    type: str  # LIMIT | MARKET | STOP_LIMIT
    side: str  # BUY | SELL
    target: str
    status: str
    ordered_at: int
    updated_at: int
    checked_ms: int  # market data up to here has been matched against this order
    fee_rate: Decimal
    quote: str = "KRW"
    user_order_id: str | None = None
    price: Decimal | None = None
    original_qty: Decimal | None = None
    executed_qty: Decimal = ZERO
    canceled_qty: Decimal = ZERO
    traded_amount: Decimal = ZERO  # KRW notional executed, every type
    original_amount: Decimal | None = None  # MARKET BUY
    canceled_amount: Decimal | None = None  # MARKET BUY
    limit_price: Decimal | None = None  # MARKET guard
    post_only: bool | None = None
    trigger_price: Decimal | None = None
    trigger_above: bool | None = None  # STOP_LIMIT fires when price rises to (True) / falls to the trigger
    is_triggered: bool | None = None
    triggered_at: int | None = None
    fee: Decimal = ZERO
    locked: Decimal = ZERO  # what is still locked for this order (KRW for buys, coin for sells)
    rest_until: int | None = None  # a MARKET order held open (a `rest` fault) executes at this exchange time

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remain_qty(self) -> Decimal:
        if self.original_qty is None or not self.is_open:
            return ZERO
        return self.original_qty - self.executed_qty - self.canceled_qty


@dataclass
class Fill:
    trade_id: str
    order_id: str
    target: str
    order_type: str
    is_ask: bool
    is_maker: bool
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_rate: Decimal
    timestamp: int
    quote: str = "KRW"


@dataclass
class Transfer:
    """A deposit or withdrawal of KRW or a coin."""

    id: str
    currency: str
    type: str  # DEPOSIT | WITHDRAWAL
    status: str
    amount: Decimal
    fee: Decimal
    transaction_type: str
    created_at: int


def _encode(record: Any) -> str:
    """A record as JSON text; Decimals become strings."""
    return json.dumps({k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(record).items()})


def _decode(cls: type, text: str) -> Any:
    """Rebuild a record written by `_encode`."""
    raw = json.loads(text)
    values = {}
    for f in fields(cls):
        value = raw.get(f.name)
        values[f.name] = Decimal(value) if isinstance(value, str) and "Decimal" in str(f.type) else value
    return cls(**values)


class Tx:
    """The operations of one transaction. Every method runs on the transaction's connection."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def _one(self, sql: str, *args: Any) -> Any:
        row = self._con.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def _all(self, sql: str, *args: Any) -> list[Any]:
        return [row[0] for row in self._con.execute(sql, args).fetchall()]

    # -- meta ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        return self._one("SELECT value FROM meta WHERE key = ?", key)

    def set_meta(self, key: str, value: str) -> None:
        self._con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # -- balances -------------------------------------------------------------------------
    def balance(self, currency: str) -> Balance:
        text = self._one("SELECT data FROM balances WHERE currency = ?", currency)
        return Balance(currency) if text is None else _decode(Balance, text)

    def put_balance(self, balance: Balance) -> None:
        self._con.execute("INSERT OR REPLACE INTO balances(currency, data) VALUES (?, ?)",
                          (balance.currency, _encode(balance)))

    def balances(self) -> list[Balance]:
        return [_decode(Balance, t) for t in self._all("SELECT data FROM balances ORDER BY currency")]

    # -- nonces and user_order_ids --------------------------------------------------------
    def use_nonce(self, token: str, nonce: str) -> bool:
        """Record a nonce; False when this token already used it.

        The token is stored as a digest: the paper-account file must never hold an API key.
        """
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        cur = self._con.execute("INSERT OR IGNORE INTO nonces(token, nonce) VALUES (?, ?)", (digest, nonce))
        return cur.rowcount == 1

    def user_order_id_used(self, user_order_id: str) -> bool:
        return self._one("SELECT 1 FROM user_order_ids WHERE user_order_id = ?", user_order_id) is not None

    def use_user_order_id(self, user_order_id: str, order_id: str | None) -> None:
        self._con.execute("INSERT OR IGNORE INTO user_order_ids(user_order_id, order_id) VALUES (?, ?)",
                          (user_order_id, order_id))

    # -- orders ---------------------------------------------------------------------------
    def save_order(self, order: Order) -> None:
        """Insert a new order or update an existing one."""
        cur = self._con.execute("UPDATE orders SET is_open = ?, data = ? WHERE order_id = ?",
                                (int(order.is_open), _encode(order), order.order_id))
        if cur.rowcount == 0:
            self._con.execute(
                "INSERT INTO orders(order_id, user_order_id, target, is_open, data) VALUES (?, ?, ?, ?, ?)",
                (order.order_id, order.user_order_id, order.target, int(order.is_open), _encode(order)))

    def order(self, order_id: str) -> Order | None:
        text = self._one("SELECT data FROM orders WHERE order_id = ?", order_id)
        return None if text is None else _decode(Order, text)

    def order_by_user_id(self, user_order_id: str) -> Order | None:
        text = self._one("SELECT data FROM orders WHERE user_order_id = ? ORDER BY seq LIMIT 1", user_order_id)
        return None if text is None else _decode(Order, text)

    def open_orders(self, target: str | None = None) -> list[Order]:
        """Open orders, newest first."""
        if target is None:
            texts = self._all("SELECT data FROM orders WHERE is_open = 1 ORDER BY seq DESC")
        else:
            texts = self._all("SELECT data FROM orders WHERE is_open = 1 AND target = ? ORDER BY seq DESC", target)
        return [_decode(Order, t) for t in texts]

    def all_orders(self) -> list[Order]:
        """Every order ever placed, oldest first."""
        return [_decode(Order, t) for t in self._all("SELECT data FROM orders ORDER BY seq")]

    # -- fills ----------------------------------------------------------------------------
    def add_fill(self, fill: Fill) -> None:
        self._con.execute("INSERT INTO fills(trade_id, order_id, target, timestamp, data) VALUES (?, ?, ?, ?, ?)",
                          (fill.trade_id, fill.order_id, fill.target, fill.timestamp, _encode(fill)))

    def fills(self, *, target: str | None, from_ts: int, to_ts: int, before_id: str | None,
              limit: int) -> list[Fill]:
        """Fills in [from_ts, to_ts], newest first, optionally older than the fill `before_id`."""
        sql = "SELECT data FROM fills WHERE timestamp BETWEEN ? AND ?"
        args: list[Any] = [from_ts, to_ts]
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if before_id is not None:
            sql += " AND seq < COALESCE((SELECT seq FROM fills WHERE trade_id = ?), -1)"
            args.append(before_id)
        sql += " ORDER BY timestamp DESC, seq DESC LIMIT ?"
        return [_decode(Fill, t) for t in self._all(sql, *args, limit)]

    def all_fills(self) -> list[Fill]:
        return [_decode(Fill, t) for t in self._all("SELECT data FROM fills ORDER BY seq")]

    # -- transfers ------------------------------------------------------------------------
    def add_transfer(self, transfer: Transfer) -> None:
        self._con.execute(
            "INSERT INTO transfers(id, currency, type, created_at, data) VALUES (?, ?, ?, ?, ?)",
            (transfer.id, transfer.currency, transfer.type, transfer.created_at, _encode(transfer)))

    def transfers(self, *, currency: str, from_ts: int, to_ts: int, before_id: str | None,
                  kind: str | None, limit: int) -> list[Transfer]:
        """Transfers of one currency in [from_ts, to_ts], newest first."""
        sql = "SELECT data FROM transfers WHERE currency = ? AND created_at BETWEEN ? AND ?"
        args: list[Any] = [currency, from_ts, to_ts]
        if kind is not None:
            sql += " AND type = ?"
            args.append(kind)
        if before_id is not None:
            sql += " AND seq < COALESCE((SELECT seq FROM transfers WHERE id = ?), -1)"
            args.append(before_id)
        sql += " ORDER BY created_at DESC, seq DESC LIMIT ?"
        return [_decode(Transfer, t) for t in self._all(sql, *args, limit)]


class SqliteStore:
    """The paper account in a SQLite file, safe for many threads and processes."""

    busy_timeout_ms = 30_000

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        for attempt in range(20):
            try:
                self._prepare()
                return
            except sqlite3.OperationalError as exc:  # many processes opening a new file at once
                if "locked" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _prepare(self) -> None:
        con = self._open()
        try:
            con.execute("PRAGMA journal_mode=WAL")
            self._create_schema(con)
        finally:
            con.close()

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None,
                              check_same_thread=False)
        con.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        con.execute("PRAGMA synchronous=NORMAL")
        return con

    @staticmethod
    def _create_schema(con: sqlite3.Connection) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                con.execute(statement)
            con.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._connection() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(con)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def read_meta(self, key: str) -> str | None:
        """Read one meta value outside any write transaction."""
        with self._connection() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]


class MemoryStore(SqliteStore):
    """The same store on a private in-memory database (one connection, one lock)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.path = ":memory:"
        self._create_schema(self._con)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._con
