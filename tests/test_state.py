"""The JSON state file: atomic replace, rolling backups, the lock, and a corrupt file that is never reset."""
from __future__ import annotations

import io
import json
import os
import threading
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pytest
from filelock import FileLock

from kairos.cli import main
from kairos.core.types import Regime, Side
from kairos.engine.codec import encode
from kairos.engine.model import SCHEMA_VERSION, OrderRecord, OrderStatus, State
from kairos.env import Env
from kairos.errors import StateError
from kairos.sim.store import SqliteStore
from kairos.state import BACKUPS, LockBusy, StateStore

NOW = "2026-11-23T00:00:00Z"


def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "data" / "mock" / "state.json", tmp_path / "data" / "mock" / "kairos.lock")


def save_run(tmp_path: Path, run: int) -> StateStore:
    """One run: a fresh store (backups rotate once per run), the lock held, one save (`seq` = the run)."""
    s = store(tmp_path)
    with s.locked() as session:
        session.data.seq = run
        session.save()
    return s


def seq_of(path: Path) -> int:
    return json.loads(path.read_text(encoding="utf-8"))["seq"]


def record(uoid: str, **fields: object) -> OrderRecord:
    return OrderRecord(uoid=uoid, target="ETH", side=Side.BUY, status=OrderStatus.DONE,
                       created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), amount_krw=Decimal(100000), **fields)


def tmp_files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "data").iterdir() if p.name.endswith(".tmp"))


# ---- reading and writing -----------------------------------------------------------------------
def test_missing_file_reads_as_empty_and_reading_creates_nothing(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert encode(s.read()) == encode(State.empty())
    assert not s.path.exists()


def test_save_round_trips_decimals_exactly_and_keeps_the_schema_version(tmp_path: Path) -> None:
    s = store(tmp_path)
    state = State.empty()
    state.season.regime = Regime.RISK_ON
    state.orders["u1"] = record("u1", executed_qty=Decimal("0.00000001"), executed_krw=Decimal("123456789.123456789"))
    s.save(state)
    raw = json.loads(s.path.read_text(encoding="utf-8"))
    # Decimals are kept as strings (never through a float), so they come back exact.
    assert isinstance(raw["orders"]["u1"]["executed_qty"], str) and raw["schema_version"] == SCHEMA_VERSION
    back = s.read()
    assert back.orders["u1"].executed_qty == Decimal("0.00000001")
    assert back.orders["u1"].executed_krw == Decimal("123456789.123456789")
    assert back.season.regime is Regime.RISK_ON


def test_save_replaces_atomically_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.path.parent.mkdir(parents=True)
    big = State.empty()
    big.orders = {f"u{i}": record(f"u{i}", error="x" * 2000) for i in range(60)}
    s.save(big)
    stop, seen, bad = threading.Event(), [0], []

    def reader() -> None:
        while not stop.is_set():
            try:
                json.loads(s.path.read_bytes())
                seen[0] += 1
            except ValueError as exc:  # a torn or partial file
                bad.append(str(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(150):
            big.seq = i
            s.save(big)
    finally:
        stop.set()
        thread.join()
    assert bad == [] and seen[0] > 0
    assert s.read().seq == 149
    assert tmp_files(tmp_path) == []  # no tmp file left behind


def test_a_failed_write_leaves_the_old_file_and_no_tmp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = save_run(tmp_path, 1)
    s = store(tmp_path)  # a new run
    before = s.path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StateError, match="cannot write state file .*No space left"):
        s.save(State.empty())
    assert s.path.read_bytes() == before
    assert tmp_files(tmp_path) == []


# ---- backups ---------------------------------------------------------------------------------------
def test_backups_roll_once_per_run_and_keep_the_newest(tmp_path: Path) -> None:
    for run in range(1, BACKUPS + 4):
        s = store(tmp_path)
        with s.locked() as session:
            for save in range(3):  # several saves in one run: one backup, of the file as the run found it
                session.data.seq = run * 10 + save
                session.save()
    names = sorted(p.name for p in s.backup_dir.iterdir())
    assert names == [f"state.json.{i}" for i in range(1, BACKUPS + 1)]
    seqs = [seq_of(s.backup_dir / f"state.json.{i}") for i in range(1, BACKUPS + 1)]
    last = BACKUPS + 3
    # .1 = the run before the last, and so on; each holds that run's final save (save 2)
    assert seqs == [run * 10 + 2 for run in range(last - 1, last - 1 - BACKUPS, -1)]
    assert s.read().seq == last * 10 + 2


def test_a_bad_file_is_never_rotated_over_the_good_backups(tmp_path: Path) -> None:
    save_run(tmp_path, 1)
    save_run(tmp_path, 2)
    s = store(tmp_path)
    s.path.write_text('{"schema_version": 2, "plans": [', encoding="utf-8")
    s.save(State.empty())  # e.g. a human restored by hand by writing a new state
    assert seq_of(s.backup_dir / "state.json.1") == 1
    assert s.last_good_backup() == s.backup_dir / "state.json.1"


# ---- corrupt files -----------------------------------------------------------------------------------
CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda good: good[: len(good) // 2],
    "garbage": lambda good: b"\x00\xff\xfe garbage \x89PNG",
    "empty": lambda good: b"",
    "not-an-object": lambda good: b"[1, 2, 3]",
    "wrong-schema-version": lambda good: json.dumps({**json.loads(good), "schema_version": 99}).encode(),
    "no-schema-version": lambda good: json.dumps({k: v for k, v in json.loads(good).items() if k != "schema_version"}).encode(),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_corrupt_file_raises_naming_the_last_good_backup(tmp_path: Path, kind: str) -> None:
    save_run(tmp_path, 1)
    s = save_run(tmp_path, 2)
    corrupt = CORRUPTIONS[kind](s.path.read_bytes())
    s.path.write_bytes(corrupt)
    with pytest.raises(StateError) as err:
        s.read()
    assert str(s.backup_dir / "state.json.1") in str(err.value)
    assert "NOT" in str(err.value)
    with pytest.raises(StateError):
        with s.locked():
            pass
    assert s.path.read_bytes() == corrupt


def test_the_hint_skips_bad_backups_and_says_when_none_is_usable(tmp_path: Path) -> None:
    for run in (1, 2, 3):
        s = save_run(tmp_path, run)
    (s.backup_dir / "state.json.1").write_text("{broken", encoding="utf-8")
    s.path.write_text("{broken", encoding="utf-8")
    with pytest.raises(StateError, match=r"state\.json\.2"):
        s.read()
    (s.backup_dir / "state.json.2").write_text('{"schema_version": 7}', encoding="utf-8")
    with pytest.raises(StateError, match="No usable backup exists"):
        s.read()


def cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = Env(stdout=io.StringIO(), stderr=io.StringIO(), environ={"KAIROS_NOW": NOW}, home=tmp_path)
    code = main([*args, "--mock"], env=env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def installed(tmp_path: Path) -> StateStore:
    """An installation whose state file was written by two real runs (so one backup exists).

    --clear-failed-twap saves with a backup; an idle --process-twap saves only its heartbeat, without one.
    """
    for _ in range(2):
        code, _, err = cli(tmp_path, "--clear-failed-twap")
        assert code == 0, err
    s = store(tmp_path)
    assert s.backup_files() == [s.backup_dir / "state.json.1"]
    return s


@pytest.mark.parametrize("kind", ["truncated", "garbage", "wrong-schema-version"])
@pytest.mark.parametrize("command", ["--process-twap", "--quarterly-rebalance", "--quarterly-rebalance-twap",
                                     "--weekly-analysis", "--twap-status", "--clear-failed-twap"])
def test_cli_stops_with_exit_3_one_line_naming_the_backup_and_leaves_the_file(
        tmp_path: Path, installed: StateStore, kind: str, command: str) -> None:
    corrupt = CORRUPTIONS[kind](installed.path.read_bytes())
    installed.path.write_bytes(corrupt)
    backups = {p: p.read_bytes() for p in installed.backup_files()}
    code, out, err = cli(tmp_path, command)
    assert code == 3
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert str(installed.backup_dir / "state.json.1") in lines[0]
    assert installed.path.read_bytes() == corrupt  # not reset, not rewritten
    assert {p: p.read_bytes() for p in installed.backup_files()} == backups
    with SqliteStore(tmp_path / "data" / "mock" / "mock_exchange.sqlite").transaction() as tx:
        assert tx.all_orders() == []  # nothing was traded


# ---- the lock ------------------------------------------------------------------------------------------
def test_the_lock_admits_one_holder_at_a_time(tmp_path: Path) -> None:
    s = store(tmp_path)
    with s.locked():
        assert json.loads(s.lock_info_path().read_text())["pid"] == os.getpid()
        with pytest.raises(LockBusy):
            with store(tmp_path).locked(wait_seconds=0):
                pass
    assert not s.lock_info_path().exists()
    with store(tmp_path).locked():  # free again
        pass


def test_the_lock_is_held_across_processes_by_the_lock_file(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.path.parent.mkdir(parents=True)
    other = FileLock(str(s.lock_path))  # a second holder, as another process would be
    with other:
        with pytest.raises(LockBusy, match="another KAIROS-1 run holds"):
            with s.locked(wait_seconds=0.05):
                pass
    assert LockBusy("x").exit_code == 0  # an overlapping run is not a failure
