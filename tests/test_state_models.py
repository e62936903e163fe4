"""The typed state: every field of every model refused by its JSON path when deleted, of the wrong type or out of
range; older versions migrated (a real version-1 installation finishes its TWAP plan); newer ones refused."""
from __future__ import annotations

import copy
import dataclasses
import io
import json
import shutil
import types
import typing
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Iterator, Literal, get_args, get_origin, get_type_hints

import pytest

from kairos.cli import main
from kairos.clock import FixedClock
from kairos.engine import codec
from kairos.engine.model import SCHEMA_VERSION, State
from kairos.env import Env
from kairos.errors import StateError
from kairos.state import StateStore

V1 = Path(__file__).parent / "data" / "v1_install"  # written by the round-2 code: a TWAP plan 1h30 in
V1_LAST_RUN = datetime(2026, 11, 23, 1, 30, tzinfo=timezone.utc)


def v1_tree() -> dict[str, Any]:
    return json.loads((V1 / "state.json").read_text(encoding="utf-8"))


def current_tree() -> dict[str, Any]:
    """The version-1 installation's state as this version writes it (every field present)."""
    from kairos.engine.migrate import migrate

    return codec.encode(codec.decode(State, migrate(v1_tree())[0]))


def install_v1(home: Path) -> Path:
    data = home / "data" / "mock"
    data.mkdir(parents=True)
    for item in V1.iterdir():
        shutil.copy(item, data / item.name)
    return data


def cli(home: Path, now: datetime, *args: str) -> tuple[int, str, str]:
    env = Env(stdout=io.StringIO(), stderr=io.StringIO(), environ={}, home=home, clock=FixedClock(now))
    code = main([*args, "--mock", "--lang", "en"], env=env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


# ---- migration -------------------------------------------------------------------------------------------
def test_a_version_1_installation_is_migrated_backed_up_and_finishes_its_plan(tmp_path: Path) -> None:
    data = install_v1(tmp_path)
    original = (data / "state.json").read_bytes()
    assert json.loads(original)["schema_version"] == 1
    code, out, err = cli(tmp_path, V1_LAST_RUN, "--twap-status")  # a read without the lock changes nothing
    assert code == 0, err
    assert (data / "state.json").read_bytes() == original and not (data / "backups").exists()
    now = V1_LAST_RUN
    for _ in range(120):  # every 15 minutes, as cron would, until the plan is closed
        now += timedelta(minutes=15)
        code, out, err = cli(tmp_path, now, "--process-twap")
        assert code == 0, err
        state = json.loads((data / "state.json").read_text(encoding="utf-8"))
        if state["plans"][0]["status"] != "active":
            break
    assert (data / "backups" / "state.json.v1").read_bytes() == original  # kept before the first rewrite
    assert state["schema_version"] == SCHEMA_VERSION
    [plan] = state["plans"]
    assert plan["status"] == "completed", plan["summary"]
    for leg in plan["legs"]:  # the orders from before the migration count toward each leg's total
        first = leg["orders"][0]
        assert first["plan_id"] == plan["plan_id"] and first["kind"] == "twap"
        filled = sum(Decimal(o["executed_krw"]) for o in leg["orders"])
        assert Decimal(leg["total"]) - filled < Decimal(leg["total"]) * Decimal("0.01")


def test_the_migration_fills_every_optional_field_and_drops_the_unused_counter() -> None:
    old, new = v1_tree(), current_tree()
    assert "rejections" in old["plans"][0] and "rejections" not in new["plans"][0]
    assert "closed_at" not in old["plans"][0] and new["plans"][0]["closed_at"] is None
    record = new["plans"][0]["legs"][0]["orders"][0]
    assert {"late", "lost_at", "error", "plan_id", "kind"} <= set(record)
    assert new["pending_rebalance"] is None and new["installation"]["id"] == old["installation"]["id"]


@pytest.mark.parametrize("version, words", [(SCHEMA_VERSION + 1, "newer than this program reads"),
                                            (0, "older than any"), ("2", "expected a whole number"),
                                            (None, "expected a whole number")])
def test_a_version_this_program_cannot_read_is_refused_in_one_line(tmp_path: Path, version: Any, words: str) -> None:
    data = install_v1(tmp_path)
    tree = v1_tree()
    tree["schema_version"] = version
    (data / "state.json").write_text(json.dumps(tree), encoding="utf-8")
    before = (data / "state.json").read_bytes()
    code, _, err = cli(tmp_path, V1_LAST_RUN, "--process-twap")
    assert code == 3 and words in err and len(err.strip().splitlines()) == 1, err
    assert (data / "state.json").read_bytes() == before


# ---- every field of every model ----------------------------------------------------------------------------
def walk(tp: Any, value: Any, path: str, parent: Any, key: Any) -> Iterator[tuple[str, Any, Any, Any, dict[str, Any]]]:
    """(path, type, container, key, metadata) for every field value in the tree, model by model."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is not None:
            (inner,) = [a for a in get_args(tp) if a is not type(None)]
            yield from walk(inner, value, path, parent, key)
        return
    if dataclasses.is_dataclass(tp):
        hints = get_type_hints(tp)
        for f in dataclasses.fields(tp):
            sub = f"{path}.{f.name}" if path else f.name
            yield sub, hints[f.name], value, f.name, dict(f.metadata)
            yield from walk(hints[f.name], value[f.name], sub, value, f.name)
    elif origin is list:
        for i, v in enumerate(value[:1]):  # the first element stands for all
            yield from walk(get_args(tp)[0], v, f"{path}[{i}]", value, i)
    elif origin is dict:
        for k in list(value)[:1]:
            yield from walk(get_args(tp)[1], value[k], f"{path}[{json.dumps(k)}]", value, k)
    elif origin is tuple:
        for i, (t, v) in enumerate(zip(get_args(tp), value)):
            yield f"{path}[{i}]", t, value, i, {}


def wrong_value(tp: Any) -> Any:
    """A JSON value of the wrong type for `tp` (None when every JSON value would do)."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return wrong_value([a for a in get_args(tp) if a is not type(None)][0])
    if tp is str or origin is Literal or (isinstance(tp, type) and issubclass(tp, Enum)):
        return 12 if tp is str else "not-a-choice"
    if tp is bool:
        return "yes"
    if tp in (int, Decimal):
        return "many" if tp is Decimal else 1.5
    if tp is datetime:
        return "yesterday"
    if tp is Any:
        return None
    return "text"  # objects, lists and tuples


def full_tree() -> dict[str, Any]:
    """The real state with the optional blocks it lacks filled in, so every model has a field to damage."""
    tree = current_tree()
    leg = tree["plans"][0]["legs"][0]
    leg["waiting"] = {"code": "insufficient_krw", "why": "not enough KRW", "since": "2026-11-23T01:00:00+00:00"}
    tree["pending_rebalance"] = {"kind": "season_change", "regime": "risk_on", "since": "2026-11-23T01:00:00+00:00"}
    record = copy.deepcopy(leg["orders"][0])
    record.update(uoid="k1-immediate-eth-s000-a1", plan_id="im-1", kind="immediate", slot=None, attempt=None,
                  slots_to=None)
    tree["orders"] = {record["uoid"]: record}
    return tree


def cases() -> list[tuple[str, str, Any]]:
    tree = full_tree()
    found: list[tuple[str, str, Any]] = []
    for path, tp, _container, _key, meta in walk(State, tree, "", None, None):
        found.append((path, "deleted", None))
        if wrong_value(tp) is not None:
            found.append((path, "wrong type", wrong_value(tp)))
        if "gt" in meta or "min" in meta:
            found.append((path, "out of range", -1))
    return found


CASES = cases()


def damage(tree: dict[str, Any], path: str, how: str, value: Any) -> dict[str, Any]:
    tree = copy.deepcopy(tree)
    for _path, _tp, container, key, _meta in walk(State, tree, "", None, None):
        if _path == path:
            if how == "deleted" and isinstance(container, dict):
                del container[key]
            elif how == "deleted":  # a tuple element: the triple loses one value
                container.pop(key)
            else:
                container[key] = value
            return tree
    raise AssertionError(f"no field at {path}")


def test_the_table_covers_every_model() -> None:
    covered = {p.split("[")[0].split(".")[0] for p, _, _ in CASES}
    assert covered == {f.name for f in dataclasses.fields(State)}
    models = {"season.last_analysis.reason", "plans[0].legs[0].orders[0].late", "plans[0].legs[0].waiting.since",
              "pending_rebalance.regime", 'orders["k1-immediate-eth-s000-a1"].kind',
              "installation.exchange.key_fp", "rebalance.plan_id", "plans[0].legs[0].ticks[0][2]"}
    assert models <= {p for p, _, _ in CASES}
    assert len(CASES) > 200


@pytest.mark.parametrize("path, how, value", CASES, ids=[f"{p}-{h}" for p, h, _ in CASES])
def test_every_field_deleted_mistyped_or_out_of_range_is_refused_naming_its_path(
        tmp_path: Path, path: str, how: str, value: Any) -> None:
    tree = full_tree()
    if how == "deleted" and path.endswith("]"):  # a tuple element: the triple is short, named by the triple
        expected = path.rsplit("[", 1)[0]
    else:
        expected = path
    broken = damage(tree, path, how, value)
    store = StateStore(tmp_path / "state.json", tmp_path / "kairos.lock")
    store.path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(StateError) as err:
        store.read()
    message = str(err.value)
    assert f": {expected}" in message or f": {expected}." in message or f": {expected}[" in message, message
    assert "NOT changed" in message and "\n" not in message


def test_the_cli_refuses_a_damaged_field_with_exit_3_and_leaves_the_file(tmp_path: Path) -> None:
    data = install_v1(tmp_path)
    broken = damage(current_tree(), "plans[0].legs[0].orders[0].executed_krw", "deleted", None)
    (data / "state.json").write_text(json.dumps(broken), encoding="utf-8")
    before = (data / "state.json").read_bytes()
    for command in ("--process-twap", "--twap-status", "--quarterly-rebalance", "--cancel-twap"):
        args = (command, json.loads(before)["plans"][0]["plan_id"]) if command == "--cancel-twap" else (command,)
        code, _, err = cli(tmp_path, V1_LAST_RUN, *args)
        assert code == 3 and "plans[0].legs[0].orders[0].executed_krw: missing" in err, (command, err)
    assert (data / "state.json").read_bytes() == before


def test_encode_and_decode_are_inverse_on_a_real_state() -> None:
    tree = full_tree()
    assert codec.encode(codec.decode(State, tree)) == tree
