"""The JSON state file: one writer at a time, atomic replace, rolling backups, never silently reset.

The file is decoded once here into the typed models of `kairos.engine.model` (their docstring gives the
layout) and encoded once on save. A file that does not decode is refused with exit 3 and one line naming
the JSON path; an older schema_version is migrated (`kairos.engine.migrate`), and the file as it was is
copied to `backups/` before the first save rewrites it.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock, Timeout

from kairos import binding, crashpoints
from kairos.binding import ExchangeIdentity
from kairos.clock import Clock
from kairos.engine import codec, migrate
from kairos.engine.model import SCHEMA_VERSION, ExchangeRef, Installation, State
from kairos.errors import KairosError, StateError

log = logging.getLogger("kairos.state")

BACKUPS = 5


class LockBusy(KairosError):
    """Another KAIROS-1 process holds the state lock."""

    exit_code = 0


class StateStore:
    """Reads and atomically replaces `state.json`, guarded by a lock file."""

    def __init__(self, path: Path, lock_path: Path, backups: int = BACKUPS, *,
                 identity: ExchangeIdentity | None = None, extra: dict[str, str] | None = None,
                 notify: Callable[[str], None] | None = None, clock: Clock | None = None) -> None:
        self.path = path
        self.lock_path = lock_path
        self.identity = identity
        self.extra = extra or {}
        self.notify = notify or (lambda line: log.warning("%s", line))
        self.clock = clock
        self.backup_dir = path.parent / "backups"
        self.backups = backups
        self._backed_up = False
        self.read_version = SCHEMA_VERSION  # the version of the file as last read (older: migrated in memory)

    # ---- reading ---------------------------------------------------------------------------
    def read(self) -> State:
        """The current state (an empty one if no file exists); StateError if it cannot be trusted."""
        if not self.path.exists():
            self.read_version = SCHEMA_VERSION
            return State.empty()
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise StateError(f"state file {self.path} cannot be read ({exc.strerror}); {self._backup_hint()}") from None
        return self._parse(raw, str(self.path))

    def _parse(self, raw: bytes, name: str) -> State:
        try:
            tree = json.loads(raw.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise StateError(f"state file {name} is not valid JSON{where}; it was NOT reset. {self._backup_hint()}") from None
        if not isinstance(tree, dict):
            raise StateError(f"state file {name} does not hold a JSON object; it was NOT reset. {self._backup_hint()}")
        try:
            tree, version = migrate.migrate(tree)
            state = codec.decode(State, tree)
        except (migrate.VersionError, codec.DecodeError) as exc:
            raise StateError(f"state file {name}: {exc}; it was NOT changed. {self._backup_hint()}") from None
        self.read_version = version
        if self.identity is not None and state.installation is not None:
            recorded = ExchangeIdentity.from_json(codec.encode(state.installation.exchange))
            binding.check(f"data directory {self.path.parent}", recorded, self.identity)
        return state

    def bind(self, state: State) -> None:
        """Give a state without an installation block (new, or from before bindings) its id and exchange."""
        if self.identity is None or state.installation is not None:
            self._compare_extra(state)
            return
        created = self.clock.now() if self.clock is not None else datetime.now().astimezone()
        state.installation = Installation(id=binding.new_installation_id(), created_at=created,
                                          exchange=ExchangeRef(**self.identity.to_json()), **self.extra)
        log.info("data directory %s bound to %s as installation %s", self.path.parent, self.identity.describe(),
                 state.installation.id)

    def _compare_extra(self, state: State) -> None:
        """Settings fixed at creation (mock.initial_krw) that changed since: said, not silently ignored."""
        for key, value in self.extra.items():
            recorded = getattr(state.installation, key, None)
            if recorded is not None and recorded != value:
                setting = key.replace("_", ".", 1)
                flag = "--reset-paper" if key.startswith("paper") else "--reset-mock"
                self.notify(f"notice: {setting} is now {value}, but this paper account started with "
                            f"{recorded}; its balances are unchanged ({flag} --yes starts a new one)")

    def _backup_hint(self) -> str:
        good = self.last_good_backup()
        if good is None:
            return "No usable backup exists; inspect the file by hand."
        return f"Last good backup: {good} — check it, then restore with: cp {good} {self.path}"

    def backup_files(self) -> list[Path]:
        return [self.backup_dir / f"{self.path.name}.{i}" for i in range(1, self.backups + 1)
                if (self.backup_dir / f"{self.path.name}.{i}").exists()]

    def last_good_backup(self) -> Path | None:
        for candidate in self.backup_files():
            try:
                tree = json.loads(candidate.read_text(encoding="utf-8"), parse_float=Decimal)
                codec.decode(State, migrate.migrate(tree)[0] if isinstance(tree, dict) else tree)
            except (OSError, ValueError):  # DecodeError and VersionError are ValueErrors
                continue
            return candidate
        return None

    # ---- locking and writing -----------------------------------------------------------------
    @contextmanager
    def locked(self, wait_seconds: float = 0) -> Iterator["StateSession"]:
        """Hold the lock for a whole run; LockBusy if another process has it after `wait_seconds`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path), timeout=wait_seconds)
        try:
            lock.acquire()
        except Timeout:
            raise LockBusy(f"another KAIROS-1 run holds {self.lock_path}") from None
        try:
            self._write_lock_info()
            state = self.read()
            if self.read_version < SCHEMA_VERSION:
                self._keep_before_migration()
            self.bind(state)
            yield StateSession(self, state)
        finally:
            self._clear_lock_info()
            lock.release()

    def _keep_before_migration(self) -> None:
        """Copy an older-version file to backups/ once, before the first save rewrites it as the current version."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        kept = self.backup_dir / f"{self.path.name}.v{self.read_version}"
        if kept.exists():
            return
        try:
            shutil.copyfile(self.path, kept)
        except OSError as exc:
            raise StateError(f"state file {self.path} is version {self.read_version}; it cannot be copied to {kept} "
                             f"before it is migrated ({exc.strerror}); nothing was changed") from None
        log.warning("state file %s migrated from schema_version %d to %d; the original is kept as %s",
                    self.path, self.read_version, SCHEMA_VERSION, kept)

    def lock_info_path(self) -> Path:
        return self.lock_path.with_name(self.lock_path.name + ".info")

    def _write_lock_info(self) -> None:
        try:
            self.lock_info_path().write_text(json.dumps({"pid": os.getpid(), "since": datetime.now().astimezone().isoformat()}))
        except OSError:
            log.warning("cannot write %s", self.lock_info_path())

    def _clear_lock_info(self) -> None:
        try:
            self.lock_info_path().unlink(missing_ok=True)
        except OSError:
            pass

    def save(self, state: State, *, backup: bool = True) -> None:
        """Atomically replace the state file (tmp + fsync + rename + dir fsync); back up once per run.

        `backup=False` is for runs that only touch the heartbeat (idle ticks), so the rolling backups
        keep meaningful history instead of 75 minutes of identical idle states.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if backup and not self._backed_up:
            try:
                self._rotate_backups()
            except OSError as exc:  # disk full: the earlier backups stay as they were; the save still tries
                log.warning("state backup skipped (%s: %s); the earlier backups in %s are intact",
                            exc.strerror or type(exc).__name__, getattr(exc, "filename", "") or "", self.backup_dir)
            self._backed_up = True
        crashpoints.hit("state.save.before")
        payload = json.dumps(codec.encode(state), ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
            crashpoints.hit("state.save.after")
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StateError(f"cannot write state file {self.path}: {exc.strerror}") from None

    def _rotate_backups(self) -> None:
        if not self.path.exists():
            return
        try:
            self._parse(self.path.read_bytes(), str(self.path))
        except StateError:
            return  # never rotate a bad file over good backups
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        name = self.path.name
        fresh = self.backup_dir / f".{name}.new"
        try:  # copy first: only a complete copy shifts the older backups (a full disk leaves them untouched)
            shutil.copyfile(self.path, fresh)
            with open(fresh, "rb+") as handle:
                os.fsync(handle.fileno())
        except OSError:
            fresh.unlink(missing_ok=True)
            raise
        for i in range(self.backups - 1, 0, -1):
            older = self.backup_dir / f"{name}.{i}"
            if older.exists():
                os.replace(older, self.backup_dir / f"{name}.{i + 1}")
        os.replace(fresh, self.backup_dir / f"{name}.1")


class StateSession:
    """The state held under the lock; `save()` persists it at each durable step."""

    def __init__(self, store: StateStore, state: State) -> None:
        self.store = store
        self.data = state

    def save(self, *, backup: bool = True) -> None:
        self.store.save(self.data, backup=backup)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
