"""The SQLite ledger (WAL): decisions, portfolio snapshots, orders and fills, alerts sent, archived plans.

Decimals are stored as TEXT so nothing is ever rounded through a float. The schema is created and
migrated by the program (`PRAGMA user_version`). sqlite3 errors are translated to StateError here.
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from kairos import crashpoints
from kairos.engine.codec import encode
from kairos.engine.model import UNRESOLVED

if TYPE_CHECKING:
    from kairos.binding import ExchangeIdentity
    from kairos.engine.model import TwapPlan
from kairos.errors import ConfigError, KairosError, StateError
from kairos.output import to_jsonable

@dataclass(frozen=True)
class OrderRow:
    """One row of the ledger's orders table (Decimals exact; times as datetimes)."""

    user_order_id: str
    created_at: datetime
    updated_at: datetime
    plan_id: str | None
    kind: str
    target: str
    side: str
    order_type: str
    amount_krw: Decimal | None
    qty: Decimal | None
    limit_price: Decimal | None
    mid_price: Decimal | None
    order_id: str | None
    status: str
    executed_qty: Decimal
    executed_krw: Decimal
    avg_price: Decimal
    fee: Decimal
    slippage_bps: Decimal | None

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> "OrderRow":
        values: dict[str, Any] = dict(row)
        for name in ("created_at", "updated_at"):
            values[name] = datetime.fromisoformat(values[name])
        for name in ("amount_krw", "qty", "limit_price", "mid_price", "slippage_bps"):
            values[name] = Decimal(values[name]) if values[name] not in (None, "") else None
        for name in ("executed_qty", "executed_krw", "avg_price", "fee"):
            values[name] = Decimal(values[name] or 0)
        return cls(**values)


@dataclass(frozen=True)
class Snapshot:
    """A portfolio snapshot: totals, and per coin its quantity, price, value and weight (as recorded)."""

    at: datetime
    total_krw: Decimal
    krw: Decimal
    regime: str | None
    coins: dict[str, dict[str, Decimal]]
    krw_weight: Decimal
    targets: dict[str, Decimal]
    outside: dict[str, Decimal]

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> "Snapshot":
        payload = json.loads(row["payload"])
        coins = {c: {k: Decimal(v) for k, v in data.items()} for c, data in (payload.get("coins") or {}).items()}
        return cls(datetime.fromisoformat(row["at"]), Decimal(row["total_krw"]), Decimal(row["krw"]), row["regime"],
                   coins, Decimal(payload.get("krw_weight") or 0),
                   {k: Decimal(v) for k, v in (payload.get("targets") or {}).items()},
                   {k: Decimal(v) for k, v in (payload.get("outside") or {}).items()})

    def weights(self) -> dict[str, Decimal]:
        return {c: v["weight"] for c, v in self.coins.items()} | {"KRW": self.krw_weight}


SCHEMA = [
    # version 1
    """
    CREATE TABLE decisions (id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL);
    CREATE INDEX decisions_at ON decisions(at);
    CREATE TABLE snapshots (id INTEGER PRIMARY KEY, at TEXT NOT NULL, total_krw TEXT NOT NULL, krw TEXT NOT NULL,
        regime TEXT, payload TEXT NOT NULL);
    CREATE INDEX snapshots_at ON snapshots(at);
    CREATE TABLE orders (user_order_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        plan_id TEXT, kind TEXT NOT NULL, target TEXT NOT NULL, side TEXT NOT NULL, order_type TEXT NOT NULL,
        amount_krw TEXT, qty TEXT, limit_price TEXT, mid_price TEXT, order_id TEXT, status TEXT NOT NULL,
        executed_qty TEXT NOT NULL DEFAULT '0', executed_krw TEXT NOT NULL DEFAULT '0',
        avg_price TEXT NOT NULL DEFAULT '0', fee TEXT NOT NULL DEFAULT '0', slippage_bps TEXT);
    CREATE INDEX orders_created ON orders(created_at);
    CREATE TABLE alerts (id INTEGER PRIMARY KEY, at TEXT NOT NULL, dedupe_key TEXT NOT NULL, alert_type TEXT NOT NULL,
        level TEXT NOT NULL, channels TEXT NOT NULL, delivered TEXT NOT NULL);
    CREATE INDEX alerts_key ON alerts(dedupe_key, at);
    CREATE TABLE plans (plan_id TEXT PRIMARY KEY, archived_at TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL);
    """,
    # version 2: the exchange this ledger belongs to (kairos.binding)
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
]


BUSY_WAIT_SECONDS = 5.0


class LedgerBusy(KairosError):
    """The ledger stayed locked by another program for the whole wait (exit 1: temporary, retry later)."""


def _busy(exc: sqlite3.DatabaseError) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


def dumps(value: Any) -> str:
    return json.dumps(value, default=to_jsonable, ensure_ascii=False, sort_keys=True)


class Ledger:
    """Append-mostly history shared by every process (WAL, busy timeout)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, wait_seconds: float = BUSY_WAIT_SECONDS) -> None:
        self.conn = conn
        self.path = path
        self.wait_seconds = wait_seconds

    @classmethod
    def open(cls, path: Path, identity: "ExchangeIdentity | None" = None,
             wait_seconds: float = BUSY_WAIT_SECONDS) -> "Ledger":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"data directory {path.parent} (paths.data_dir) cannot be used: "
                              f"{exc.strerror or exc}") from None
        try:
            conn = sqlite3.connect(str(path), timeout=wait_seconds, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            ledger = cls(conn, path, wait_seconds)
            ledger._migrate()
            if identity is not None:
                ledger._bind(identity)
        except sqlite3.DatabaseError as exc:
            if _busy(exc):
                raise LedgerBusy(f"ledger {path} is locked by another program (waited {wait_seconds:g} s); "
                                 f"nothing was changed — try again") from None
            raise StateError(f"ledger {path} cannot be opened ({exc}); it was not changed") from None
        return ledger

    def _bind(self, identity: "ExchangeIdentity") -> None:
        """Record the exchange at creation (or adoption); refuse a ledger of another exchange."""
        from kairos.binding import ExchangeIdentity, check

        row = self.conn.execute("SELECT value FROM meta WHERE key = 'exchange'").fetchone()
        if row is None:
            self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('exchange', ?)", (dumps(identity.to_json()),))
            return
        check(f"ledger {self.path}", ExchangeIdentity.from_json(json.loads(row[0])), identity)

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(SCHEMA):
            raise StateError(f"ledger {self.path} has schema version {version}, newer than this program ({len(SCHEMA)})")
        for number in range(version, len(SCHEMA)):
            # executescript commits any open transaction first, so the script carries its own
            self.conn.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA[number]}\nPRAGMA user_version={number + 1};\nCOMMIT;")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; sqlite3 errors become StateError."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            crashpoints.hit("ledger.write.begin")
            yield self.conn
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._rollback()
            raise self._error(exc) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            pass

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None

    def _error(self, exc: sqlite3.DatabaseError) -> KairosError:
        """A lock held by another program is temporary (exit 1); anything else needs a human (exit 3)."""
        if _busy(exc):
            return LedgerBusy(f"ledger {self.path} is locked by another program (waited {self.wait_seconds:g} s); "
                              f"try again")
        return StateError(f"ledger {self.path}: {exc}")

    def close(self) -> None:
        self.conn.close()

    # ---- decisions and snapshots --------------------------------------------------------------
    def record_decision(self, at: datetime, kind: str, payload: dict[str, Any]) -> None:
        with self.write() as c:
            c.execute("INSERT INTO decisions(at, kind, payload) VALUES (?, ?, ?)", (at.isoformat(), kind, dumps(payload)))

    def decisions(self, since: datetime, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT at, kind, payload FROM decisions WHERE at >= ?" + (" AND kind = ?" if kind else "") + " ORDER BY at, id"
        rows = self.read(sql, (since.isoformat(), kind) if kind else (since.isoformat(),))
        return [{"at": r["at"], "kind": r["kind"], **json.loads(r["payload"])} for r in rows]

    def record_snapshot(self, at: datetime, total: Decimal, krw: Decimal, regime: str | None, payload: dict[str, Any]) -> None:
        with self.write() as c:
            c.execute("INSERT INTO snapshots(at, total_krw, krw, regime, payload) VALUES (?, ?, ?, ?, ?)",
                      (at.isoformat(), str(total), str(krw), regime, dumps(payload)))

    def snapshots(self, since: datetime, until: datetime | None = None) -> list[Snapshot]:
        rows = self.read("SELECT at, total_krw, krw, regime, payload FROM snapshots WHERE at >= ? AND at <= ? ORDER BY at, id",
                         (since.isoformat(), (until.isoformat() if until else "9999")))
        return [Snapshot.from_sql(r) for r in rows]

    # ---- orders --------------------------------------------------------------------------------
    def upsert_order(self, record: dict[str, Any]) -> None:
        """Insert or update one order row keyed by user_order_id."""
        cols = ["user_order_id", "created_at", "updated_at", "plan_id", "kind", "target", "side", "order_type",
                "amount_krw", "qty", "limit_price", "mid_price", "order_id", "status", "executed_qty", "executed_krw",
                "avg_price", "fee", "slippage_bps"]
        values = [_text(record.get(c)) for c in cols]
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols[2:] if record.get(c) is not None)
        sql = (f"INSERT INTO orders({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(user_order_id) DO UPDATE SET {updates}")
        with self.write() as c:
            c.execute(sql, values)

    def orders(self, since: datetime | None = None, plan_id: str | None = None) -> list[OrderRow]:
        sql, params = "SELECT * FROM orders WHERE 1=1", []
        if since is not None:
            sql, params = sql + " AND created_at >= ?", [*params, since.isoformat()]
        if plan_id is not None:
            sql, params = sql + " AND plan_id = ?", [*params, plan_id]
        return [OrderRow.from_sql(r) for r in self.read(sql + " ORDER BY created_at, user_order_id", tuple(params))]

    def has_orders(self) -> bool:
        """True once this account has any order recorded (its first rebalance has begun)."""
        return bool(self.read("SELECT 1 FROM orders LIMIT 1"))

    def order_ids(self) -> set[str]:
        """Every exchange order id the ledger has recorded."""
        return {r[0] for r in self.read("SELECT order_id FROM orders WHERE order_id IS NOT NULL")}

    def traded_krw(self, since: datetime, until: datetime) -> Decimal:
        """KRW committed by orders created in [since, until): executed value, or the order size while unknown."""
        rows = self.read("SELECT status, amount_krw, qty, mid_price, executed_krw FROM orders "
                         "WHERE created_at >= ? AND created_at < ?", (since.isoformat(), until.isoformat()))
        total = Decimal(0)
        for r in rows:
            executed = Decimal(r["executed_krw"] or "0")
            if r["status"] in UNRESOLVED:  # the text of an OrderStatus finds the member
                size = Decimal(r["amount_krw"]) if r["amount_krw"] else Decimal(r["qty"] or 0) * Decimal(r["mid_price"] or 0)
                total += max(size, executed)
            else:
                total += executed
        return total

    # ---- alerts and plans ------------------------------------------------------------------------
    def record_alert(self, at: datetime, key: str, alert_type: str, level: str, channels: list[str],
                     delivered: list[str]) -> None:
        with self.write() as c:
            c.execute("INSERT INTO alerts(at, dedupe_key, alert_type, level, channels, delivered) VALUES (?, ?, ?, ?, ?, ?)",
                      (at.isoformat(), key, alert_type, level, ",".join(channels), ",".join(delivered)))

    def last_alert_at(self, key: str) -> datetime | None:
        rows = self.read("SELECT at FROM alerts WHERE dedupe_key = ? AND delivered != '' ORDER BY at DESC LIMIT 1", (key,))
        return datetime.fromisoformat(rows[0]["at"]) if rows else None

    def archive_plan(self, at: datetime, plan: "TwapPlan") -> None:
        """Keep a plan (as the state file holds it) in the ledger; archiving it again replaces it."""
        self.archive_payload(at, plan.plan_id, plan.status.value, encode(plan))

    def archive_payload(self, at: datetime, plan_id: str, status: str, payload: dict[str, Any]) -> None:
        with self.write() as c:
            c.execute("INSERT OR REPLACE INTO plans(plan_id, archived_at, status, payload) VALUES (?, ?, ?, ?)",
                      (plan_id, at.isoformat(), status, dumps(payload)))

    def archived_ids(self) -> set[str]:
        return {r[0] for r in self.read("SELECT plan_id FROM plans")}

    def archived_plans(self) -> list[dict[str, Any]]:
        return [json.loads(r["payload"]) for r in self.read("SELECT payload FROM plans ORDER BY archived_at")]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
