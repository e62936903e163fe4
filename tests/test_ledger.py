"""The SQLite ledger: schema created and migrated, WAL, Decimals kept as text, traded_krw, plans and alerts."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kairos.errors import StateError
from kairos.ledger import SCHEMA, Ledger

UTC = timezone.utc
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
TABLES = {"decisions", "snapshots", "orders", "alerts", "plans"}


def raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def order(uoid: str, at: datetime, status: str, **fields: Any) -> dict[str, Any]:
    """An order row as the executor writes it (every amount column given, "0" until known)."""
    zero = {"executed_qty": "0", "executed_krw": "0", "avg_price": "0", "fee": "0"}
    return {"user_order_id": uoid, "created_at": at, "updated_at": at, "kind": "twap", "target": "BTC",
            "side": fields.pop("side", "BUY"), "order_type": "MARKET", "status": status, **zero, **fields}


def test_a_new_ledger_has_every_table_the_schema_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "data" / "mock" / "kairos.db"
    ledger = Ledger.open(path)
    ledger.close()
    tables = {r[0] for r in raw(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert TABLES <= tables
    assert raw(path, "PRAGMA user_version") == [(len(SCHEMA),)]
    assert raw(path, "PRAGMA journal_mode") == [("wal",)]


def test_reopening_keeps_the_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "kairos.db"
    first = Ledger.open(path)
    first.record_decision(T0, "weekly_analysis", {"regime": "risk_on"})
    first.close()
    second = Ledger.open(path)
    assert [d["regime"] for d in second.decisions(T0 - timedelta(days=1))] == ["risk_on"]
    assert second.conn.execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA)


def test_an_unversioned_empty_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "kairos.db"
    raw(path, "CREATE TABLE unrelated (x INTEGER)")  # a file created before the program managed it
    ledger = Ledger.open(path)
    ledger.record_snapshot(T0, Decimal("1"), Decimal("1"), None, {})
    assert TABLES <= {r[0] for r in ledger.read("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA)


def test_a_half_applied_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "kairos.db"
    raw(path, "CREATE TABLE plans (x INTEGER)")  # version 1 would create `plans` too: its script fails
    with pytest.raises(StateError):
        Ledger.open(path)
    tables = {r[0] for r in raw(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"plans"}  # nothing of version 1 stayed behind
    assert raw(path, "PRAGMA user_version") == [(0,)]


def test_a_ledger_from_a_newer_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kairos.db"
    raw(path, "PRAGMA user_version = 99")
    with pytest.raises(StateError, match="schema version 99, newer than this program"):
        Ledger.open(path)


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "kairos.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="cannot be opened"):
        Ledger.open(path)
    assert path.read_bytes() == b"this is not a database" * 100


def test_decimals_are_stored_as_text_and_round_trip_exactly(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "kairos.db")
    tiny, huge = Decimal("0.00000001"), Decimal("123456789012.123456789")
    ledger.upsert_order(order("u1", T0, "done", qty=tiny, amount_krw=huge, executed_qty=tiny, executed_krw=huge,
                              avg_price=Decimal("0.1"), fee=Decimal("0.30"), mid_price=Decimal("2611000")))
    types = ledger.read("SELECT typeof(qty), typeof(amount_krw), typeof(executed_krw), typeof(fee) FROM orders")
    assert tuple(types[0]) == ("text",) * 4
    [row] = ledger.orders()
    assert row.qty == tiny and row.executed_krw == huge
    assert str(row.fee) == "0.30"  # exactly as given: no float ever rounded it
    assert row.avg_price + Decimal("0.2") == Decimal("0.3")  # 0.1 + 0.2 is 0.3 here
    payload = {"coins": {"BTC": {"qty": tiny, "price": huge, "value": Decimal(1), "weight": Decimal("0.7")}},
               "krw_weight": Decimal("0.3"), "targets": {"BTC": Decimal("0.7")}, "outside": {"DOGE": Decimal("1e-8")}}
    ledger.record_snapshot(T0, Decimal("10000000.0000001"), Decimal("7000000.5"), "risk_off", payload)
    [snap] = ledger.snapshots(T0 - timedelta(seconds=1))
    assert snap.total_krw == Decimal("10000000.0000001") and snap.krw == Decimal("7000000.5")
    assert snap.coins["BTC"]["qty"] == tiny and snap.outside == {"DOGE": Decimal("1e-8")}
    assert snap.weights() == {"BTC": Decimal("0.7"), "KRW": Decimal("0.3")} and snap.at == T0


def test_upsert_updates_by_user_order_id_without_erasing_known_fields(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "kairos.db")
    ledger.upsert_order(order("u1", T0, "intent", amount_krw=Decimal(100000), mid_price=Decimal(1000)))
    ledger.upsert_order(order("u1", T0 + timedelta(minutes=1), "done", order_id="abc", executed_krw=Decimal(99990)))
    [row] = ledger.orders()
    assert (row.status, row.order_id, row.executed_krw) == ("done", "abc", Decimal(99990))
    assert row.amount_krw == 100000 and row.mid_price == 1000  # kept from the intent
    assert row.created_at == T0  # creation time is never moved


def test_traded_krw_counts_executed_value_and_unknown_orders_at_full_size(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "kairos.db")
    rows = [
        order("done-buy", T0, "done", amount_krw=Decimal(100000), executed_krw=Decimal(99000)),
        order("intent-buy", T0 + timedelta(minutes=1), "intent", amount_krw=Decimal(50000)),
        order("unknown-sell", T0 + timedelta(minutes=2), "unknown", side="SELL", qty=Decimal("0.5"),
              mid_price=Decimal(20000)),  # 10,000 KRW at the mid: the result is unknown, so count it all
        order("submitted", T0 + timedelta(minutes=3), "submitted", amount_krw=Decimal(1000), executed_krw=Decimal(1500)),
        order("rejected", T0 + timedelta(minutes=4), "rejected", amount_krw=Decimal(70000)),
        order("lost", T0 + timedelta(minutes=5), "lost", amount_krw=Decimal(80000)),
        order("before", T0 - timedelta(seconds=1), "done", executed_krw=Decimal(1)),
        order("after", T0 + timedelta(days=1), "done", executed_krw=Decimal(2)),  # end is exclusive
    ]
    for r in rows:
        ledger.upsert_order(r)
    total = ledger.traded_krw(T0, T0 + timedelta(days=1))
    assert total == Decimal(99000) + Decimal(50000) + Decimal(10000) + Decimal(1500)
    assert ledger.traded_krw(T0 - timedelta(days=1), T0) == Decimal(1)


def test_traded_krw_of_an_empty_ledger_is_zero(tmp_path: Path) -> None:
    assert Ledger.open(tmp_path / "k.db").traded_krw(T0, T0 + timedelta(days=1)) == Decimal(0)


def test_decisions_are_filtered_by_kind_and_time(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "kairos.db")
    ledger.record_decision(T0, "weekly_analysis", {"n": 1})
    ledger.record_decision(T0 + timedelta(hours=1), "twap_plan", {"n": 2, "amount": Decimal("0.1")})
    ledger.record_decision(T0 + timedelta(hours=2), "weekly_analysis", {"n": 3})
    assert [d["n"] for d in ledger.decisions(T0)] == [1, 2, 3]
    assert [d["n"] for d in ledger.decisions(T0, "weekly_analysis")] == [1, 3]
    assert [d["n"] for d in ledger.decisions(T0 + timedelta(minutes=1))] == [2, 3]
    assert ledger.decisions(T0, "twap_plan")[0]["amount"] == "0.1"


def test_alerts_and_archived_plans(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "kairos.db")
    assert ledger.last_alert_at("k") is None
    ledger.record_alert(T0, "k", "twap_stalled", "warning", [], ["-"])
    ledger.record_alert(T0 + timedelta(minutes=5), "k", "twap_stalled", "warning", ["slack"], [])  # not delivered
    assert ledger.last_alert_at("k") == T0
    plan = {"plan_id": "tw-1", "status": "superseded", "legs": [{"total": Decimal("0.5")}]}
    ledger.archive_payload(T0, "tw-1", "superseded", plan)
    ledger.archive_payload(T0 + timedelta(hours=1), "tw-1", "expired", {**plan, "status": "expired"})  # replaced
    assert ledger.archived_plans() == [{"plan_id": "tw-1", "status": "expired", "legs": [{"total": "0.5"}]}]


def test_a_failed_write_is_rolled_back_and_reported_as_state_error(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "kairos.db")
    with pytest.raises(StateError):
        with ledger.write() as c:
            c.execute("INSERT INTO decisions(at, kind, payload) VALUES ('x', 'k', '{}')")
            c.execute("INSERT INTO nowhere VALUES (1)")
    assert ledger.read("SELECT COUNT(*) FROM decisions")[0][0] == 0
    ledger.record_decision(T0, "ok", {})  # the connection is usable again
    assert len(ledger.decisions(T0)) == 1


def test_two_connections_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "kairos.db"
    a, b = Ledger.open(path), Ledger.open(path)
    a.record_alert(T0, "shared", "test", "info", [], ["-"])
    assert b.last_alert_at("shared") == T0
