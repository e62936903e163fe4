"""Disk and directory faults are one line: an unusable data or log directory (exit 2, naming the path and its
setting), --system-status that reports them and goes on, a full disk while rotating backups, a ledger locked
by another program (temporary, exit 1)."""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from tests.commands.conftest import Kairos


def lines(text: str) -> list[str]:
    return [l for l in text.splitlines() if l.strip()]


@pytest.mark.parametrize("setting", ["data_dir", "log_dir"])
def test_an_unusable_directory_is_one_line_naming_it_and_its_setting(kairos: Kairos, setting: str) -> None:
    (kairos.home / "blocker").write_text("a file where a directory should be", encoding="utf-8")
    kairos.configure(paths={setting: "blocker/sub"})
    for command in ("--weekly-analysis", "--process-twap", "--quarterly-rebalance-twap"):
        result = kairos(command, "--lang", "en")
        assert result.code == 2, (command, result.err)
        [line] = lines(result.err)
        assert f"{kairos.home / 'blocker' / 'sub'} (paths.{setting})" in line and "Not a directory" in line
        assert "Traceback" not in result.err and "Logging error" not in result.err
    assert kairos.orders() == []


@pytest.mark.parametrize("setting, label", [("data_dir", "Data folder"), ("log_dir", "Log folder")])
def test_system_status_reports_an_unusable_directory_and_goes_on(kairos: Kairos, setting: str, label: str) -> None:
    (kairos.home / "blocker").write_text("", encoding="utf-8")
    kairos.configure(paths={setting: "blocker/sub"})
    result = kairos("--system-status", "--lang", "en")
    assert result.code == 1
    assert f"❌ {label}: not writable" in result.out
    assert "Kill switch off" in result.out and "Overall:" in result.out  # the later checks still ran
    assert "Traceback" not in result.err and "Traceback" not in result.out


def test_a_full_disk_while_rotating_backups_keeps_the_earlier_ones(kairos: Kairos) -> None:
    for _ in range(3):  # three saving runs: backups .1 and .2 exist
        assert kairos("--weekly-analysis").code == 0
        kairos.step(days=7)
    backups = kairos.state_file.parent / "backups"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in backups.iterdir()}
    assert {"state.json.1", "state.json.2"} <= set(before)
    (backups / ".state.json.new").symlink_to("/dev/full")  # the copy of the backup hits ENOSPC
    result = kairos("--weekly-analysis", "--lang", "en")
    assert result.code == 0, result.err
    [warning] = [l for l in lines(result.err) if "backup" in l]
    assert "state backup skipped" in warning and "earlier backups" in warning
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in backups.iterdir() if not p.is_symlink()}
    assert after == before  # nothing shifted, nothing truncated
    assert kairos.state()["season"]["last_analysis"]["at"] == kairos.now.isoformat()  # and the state was saved


def test_a_ledger_locked_by_another_program_is_temporary(kairos: Kairos) -> None:
    kairos.configure(state={"ledger_wait_seconds": 0.5})
    assert kairos("--weekly-analysis").code == 0
    other = sqlite3.connect(kairos.ledger_file, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # e.g. a backup tool holding the file
    try:
        kairos.step(days=7)
        result = kairos("--weekly-analysis", "--lang", "en")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.code == 1, result.err  # it was exit 3, "a human must check"
    [line] = lines(result.err)
    assert "is locked by another program (waited 0.5 s)" in line and "try again" in line
    kairos.step(minutes=1)
    assert kairos("--weekly-analysis").code == 0  # and the next run simply works


def test_the_probe_leaves_no_file_behind(kairos: Kairos) -> None:
    assert kairos("--weekly-analysis").code == 0
    assert not [p for p in os.listdir(kairos.state_file.parent) if p.startswith(".write-test")]
    assert Path(kairos.state_file).exists()


def test_system_status_as_a_process_with_its_own_simulator_in_a_broken_data_dir(tmp_path: Path) -> None:
    """The paper account lives in the data directory too: every check that needs it fails alone, in one line."""
    from tests.reliability.harness import START, Install

    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "blocker").write_text("", encoding="utf-8")
    install = Install(tmp_path / "home", {"mode": "mock", "language": "en", "paths": {"data_dir": "blocker/sub"}})
    result = install.run("--system-status", now=START)
    assert result.code == 1
    assert "Traceback" not in result.err and "Traceback" not in result.out
    assert "❌ Data folder: not writable" in result.out and "Overall:" in result.out
