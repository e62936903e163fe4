"""The JSON state file: one writer at a time, atomic replace, rolling backups, never silently reset.

Layout (schema_version 1):
    season      regime, since, last analysis
    rebalance   last quarter done, when, how
    plans       TWAP plans not yet archived (each with its slices and order intents)
    orders      immediate-rebalance order intents awaiting their result
    heartbeat   last run time per job (for --system-status)
    notices     one-time alert markers (e.g. "waiting for KRW" per plan and coin)
    account_orders  order id → user_order_id of account orders this installation looked up (kairos.account_guard)
    installation  this data directory's installation id and the exchange it belongs to (kairos.binding);
                written at the first locked run, checked on every read
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock, Timeout

from kairos import binding, crashpoints
from kairos.binding import ExchangeIdentity
from kairos.errors import KairosError, StateError
from kairos.money import to_decimal
from kairos.output import to_jsonable

log = logging.getLogger("kairos.state")

SCHEMA_VERSION = 1
BACKUPS = 5


class LockBusy(KairosError):
    """Another KAIROS-1 process holds the state lock."""

    exit_code = 0


def empty_state() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "season": {}, "rebalance": {}, "plans": [], "orders": {},
            "heartbeat": {}, "notices": {}, "account_orders": {}}


class StateStore:
    """Reads and atomically replaces `state.json`, guarded by a lock file."""

    def __init__(self, path: Path, lock_path: Path, backups: int = BACKUPS, *,
                 identity: ExchangeIdentity | None = None, extra: dict[str, str] | None = None,
                 notify: Callable[[str], None] | None = None, clock: Any = None) -> None:
        self.path = path
        self.lock_path = lock_path
        self.identity = identity
        self.extra = extra or {}
        self.notify = notify or (lambda line: log.warning("%s", line))
        self.clock = clock
        self.backup_dir = path.parent / "backups"
        self.backups = backups
        self._backed_up = False

    # ---- reading ---------------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        """The current state (an empty one if no file exists); StateError if it cannot be trusted."""
        if not self.path.exists():
            return empty_state()
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise StateError(f"state file {self.path} cannot be read ({exc.strerror}); {self._backup_hint()}") from None
        return self._parse(raw, str(self.path))

    def _parse(self, raw: bytes, name: str) -> dict[str, Any]:
        try:
            data = json.loads(raw.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise StateError(f"state file {name} is not valid JSON{where}; it was NOT reset. {self._backup_hint()}") from None
        if not isinstance(data, dict):
            raise StateError(f"state file {name} does not hold a JSON object; it was NOT reset. {self._backup_hint()}")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise StateError(f"state file {name} has schema_version {version!r}, this program reads {SCHEMA_VERSION}; "
                             f"it was NOT changed. {self._backup_hint()}")
        for key, value in empty_state().items():
            data.setdefault(key, value)
        problem = shape_problem(data)
        if problem:
            raise StateError(f"state file {name}: {problem}; it was NOT changed. {self._backup_hint()}")
        if self.identity is not None and data.get("installation"):
            recorded = ExchangeIdentity.from_json(data["installation"]["exchange"])
            binding.check(f"data directory {self.path.parent}", recorded, self.identity)
        return data

    def bind(self, data: dict[str, Any]) -> None:
        """Give a state without an installation block (new, or from before bindings) its id and exchange."""
        if self.identity is None or data.get("installation"):
            self._compare_extra(data)
            return
        created = self.clock.now() if self.clock is not None else datetime.now().astimezone()
        data["installation"] = {"id": binding.new_installation_id(), "created_at": created.isoformat(),
                                "exchange": self.identity.to_json(), **self.extra}
        log.info("data directory %s bound to %s as installation %s", self.path.parent, self.identity.describe(),
                 data["installation"]["id"])

    def _compare_extra(self, data: dict[str, Any]) -> None:
        """Settings fixed at creation (mock.initial_krw) that changed since: said, not silently ignored."""
        recorded = data.get("installation") or {}
        for key, value in self.extra.items():
            if key in recorded and str(recorded[key]) != value:
                setting = key.replace("_", ".", 1)
                flag = "--reset-paper" if key.startswith("paper") else "--reset-mock"
                self.notify(f"notice: {setting} is now {value}, but this paper account started with "
                            f"{recorded[key]}; its balances are unchanged ({flag} --yes starts a new one)")

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
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION:
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
            data = self.read()
            self.bind(data)
            yield StateSession(self, data)
        finally:
            self._clear_lock_info()
            lock.release()

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

    def save(self, data: dict[str, Any], *, backup: bool = True) -> None:
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
        payload = json.dumps(data, default=to_jsonable, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
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

    def __init__(self, store: StateStore, data: dict[str, Any]) -> None:
        self.store = store
        self.data = data

    def save(self, *, backup: bool = True) -> None:
        self.store.save(self.data, backup=backup)


# ---- shape: what the commands index into, checked once at load (a hand-edited file fails here, not mid-run) ----
_TOP = {"season": dict, "rebalance": dict, "plans": list, "orders": dict, "heartbeat": dict, "notices": dict,
        "account_orders": dict}
_ID = re.compile(r"[a-z0-9]{8}")
_LEG_NUMBERS = ("total", "est_krw", "qty_unit", "min_order_krw", "atr_pct")
_LEG_INTS = ("slices", "interval_minutes", "slots_used")
_RECORD_NUMBERS = ("executed_qty", "executed_krw", "fee", "avg_price", "amount_krw", "qty", "mid")


def shape_problem(data: dict[str, Any]) -> str | None:
    """The first place where the state does not have the shape the commands rely on, or None."""
    for key, kind in _TOP.items():
        if not isinstance(data[key], kind):
            return f"{key} is not a JSON {'object' if kind is dict else 'array'}"
    installation = data.get("installation")
    if installation is not None:
        if not isinstance(installation, dict) or not _ID.fullmatch(str(installation.get("id"))) \
                or not isinstance(installation.get("exchange"), dict):
            return "installation: expected {id: 8 lowercase letters/digits, exchange: {...}}"
    at = data["rebalance"].get("at")
    if at is not None:
        try:
            datetime.fromisoformat(at)
        except (TypeError, ValueError):
            return f"rebalance.at is {at!r}, expected an ISO 8601 time"
    if data["season"].get("regime") not in (None, "risk_on", "risk_off"):
        return f"season.regime is {data['season']['regime']!r}, expected risk_on or risk_off"
    for i, plan in enumerate(data["plans"]):
        problem = _plan_problem(plan)
        if problem:
            return f"plans[{i}]{problem}"
    for uoid, record in data["orders"].items():
        problem = _record_problem(record)
        if problem:
            return f"orders[{uoid!r}]{problem}"
    return None


def _plan_problem(plan: Any) -> str | None:
    if not isinstance(plan, dict):
        return " is not a JSON object"
    problem = _fields(plan, texts=("plan_id", "status", "kind", "regime"), times=("start_at", "end_at"))
    if problem or not isinstance(plan.get("legs"), list) or not isinstance(plan.get("arrival", {}), dict):
        return problem or ".legs / .arrival: missing or of the wrong type"
    problem = _fields(plan.get("arrival", {}), numbers=tuple(plan.get("arrival", {})))
    if problem:
        return f".arrival{problem}"
    for j, leg in enumerate(plan["legs"]):
        if not isinstance(leg, dict):
            return f".legs[{j}] is not a JSON object"
        problem = _fields(leg, texts=("target", "side", "unit", "status"), times=("end_at",), numbers=_LEG_NUMBERS,
                          ints=_LEG_INTS) or _leg_extra(leg) or _leg_coin(leg, plan)
        if problem or not isinstance(leg.get("orders"), list) or not isinstance(leg.get("ticks"), list) \
                or not all(isinstance(t, list) and len(t) == 3 for t in leg["ticks"]):
            return f".legs[{j}]{problem or '.orders / .ticks: missing or of the wrong type'}"
        for k, record in enumerate(leg["orders"]):
            problem = _record_problem(record)
            if problem:
                return f".legs[{j}].orders[{k}]{problem}"
    return None


def _leg_extra(leg: dict[str, Any]) -> str | None:
    """The leg fields the shape check used to miss (found by the state-file fuzzer)."""
    if leg.get("side") not in ("BUY", "SELL"):
        return f".side is {leg.get('side')!r}, expected BUY or SELL"
    if leg.get("unit") not in ("krw", "qty"):
        return f".unit is {leg.get('unit')!r}, expected krw or qty"
    if not isinstance(leg.get("volatile"), bool):
        return ".volatile is missing or not true/false"
    if leg.get("waiting") is not None and not (isinstance(leg["waiting"], dict)
                                               and isinstance(leg["waiting"].get("since", ""), str)):
        return ".waiting is not null or an object"
    ticks = leg.get("ticks")
    for k, tick in enumerate(ticks if isinstance(ticks, list) else []):  # not a list: reported by the caller
        if not isinstance(tick, list) or len(tick) != 3:
            return f".ticks[{k}]: expected [range_min, next_range_min, price_unit]"
        for n, value in enumerate(tick):
            if value is None and n == 1:
                continue
            try:
                to_decimal(value, what="tick")
            except (TypeError, ValueError):
                return f".ticks[{k}][{n}]: expected a number, got {json.dumps(value, default=str)}"
    return None


def _leg_coin(leg: dict[str, Any], plan: dict[str, Any]) -> str | None:
    """A leg trades one of its plan's coins (the arrival mids are taken for every coin the plan was made for)."""
    coins = plan.get("arrival") or {}
    if coins and leg["target"] not in coins:
        return f".target is {leg['target']!r}, not one of the plan's coins ({', '.join(sorted(coins))})"
    return None


def _record_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return " is not a JSON object"
    present = tuple(k for k in _RECORD_NUMBERS if record.get(k) is not None)
    return _fields(record, texts=("status",), numbers=present, ints=tuple(k for k in ("slot", "slots_to") if k in record))


def _fields(obj: dict[str, Any], *, texts: tuple[str, ...] = (), times: tuple[str, ...] = (),
            numbers: tuple[str, ...] = (), ints: tuple[str, ...] = ()) -> str | None:
    for key in texts:
        if not isinstance(obj.get(key), str):
            return f".{key} is missing or not text"
    for key in ints:
        if not isinstance(obj.get(key), int) or isinstance(obj.get(key), bool):
            return f".{key} is not a whole number"
    for key in (*numbers, *times):
        try:
            datetime.fromisoformat(obj[key]) if key in times else to_decimal(obj.get(key), what=key)
        except (TypeError, ValueError, KeyError):
            return f".{key} is missing or not a {'time' if key in times else 'number'}"
    return None


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
