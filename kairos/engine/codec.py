"""Decode JSON trees into the engine's typed models, and encode them back — once, at the state file's edge.

Why not `kairos.schema` (the config loader) or a library: the config loader fills defaults for absent
keys, freezes lists into tuples and mappings into read-only views, suggests spellings and expands
secrets — the opposite of what a state file needs (every field present, mutable plans, exit 3). A
library that does this strictly (pydantic, msgspec, cattrs) costs the 15-minute tick 80–190 ms of
import time, more than the whole tick takes today. This module is ~150 lines over dataclass
annotations; both share `schema.describe`-style one-line errors.

Rules, for every dataclass field:
- the key must be present (absent → `<path>: missing`); no unknown key is let through;
- `X | None` allows null; `Enum`/`Literal` allow only their values; `Decimal` a finite number (JSON
  number or numeric text); `int` a whole number (not true/false); `datetime` ISO 8601 with a UTC
  offset; `list[X]`, `dict[str, X]` and fixed `tuple[A, B, C]` check every element;
- a field's `metadata={"min": n}` (or `"gt": n`) bounds a number;
- a class's `check()` method may name a cross-field problem as (sub-path, message).

Errors are one line naming the JSON path: `plans[0].legs[1].ticks[0][0]: expected a number, got null`.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import lru_cache
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


class DecodeError(ValueError):
    """A JSON value that does not fit its model; `str()` is the one-line message with its path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or 'state'}: {message}")
        self.path = path


def shown(value: Any) -> str:
    """A JSON value as it appears in the file, shortened to keep the message on one line."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _key(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@lru_cache(maxsize=None)
def _fields(cls: type) -> tuple[tuple[str, Any, dict[str, Any]], ...]:
    hints = get_type_hints(cls)
    return tuple((f.name, hints[f.name], dict(f.metadata)) for f in dataclasses.fields(cls))


def decode(cls: type[T], value: Any, path: str = "") -> T:
    """`value` (a JSON tree) as an instance of dataclass `cls`; DecodeError naming the first bad path."""
    return _decode(cls, value, path, {})


def _decode(tp: Any, value: Any, path: str, meta: dict[str, Any]) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in get_args(tp) if a is not type(None)]
        return _decode(inner, value, path, meta)
    if value is None and tp is not Any:
        raise DecodeError(path, f"expected {_expected(tp)}, got null")
    if dataclasses.is_dataclass(tp):
        return _object(tp, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise DecodeError(path, f"expected a list, got {shown(value)}")
        (item,) = get_args(tp)
        return [_decode(item, v, f"{path}[{i}]", {}) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise DecodeError(path, f"expected an object, got {shown(value)}")
        _, item = get_args(tp)
        return {k: _decode(item, v, f"{path}[{json.dumps(k, ensure_ascii=False)}]", {}) for k, v in value.items()}
    if origin is tuple:
        items = get_args(tp)
        if not isinstance(value, list) or len(value) != len(items):
            raise DecodeError(path, f"expected a list of {len(items)} values, got {shown(value)}")
        return tuple(_decode(t, v, f"{path}[{i}]", {}) for i, (t, v) in enumerate(zip(items, value)))
    if origin is Literal:
        if value not in get_args(tp) or isinstance(value, bool):
            raise DecodeError(path, f"expected {_expected(tp)}, got {shown(value)}")
        return value
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            raise DecodeError(path, f"expected {_expected(tp)}, got {shown(value)}") from None
    return _scalar(tp, value, path, meta)


def _object(cls: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise DecodeError(path, f"expected an object, got {shown(value)}")
    fields = _fields(cls)
    names = {name for name, _, _ in fields}
    for key in value:
        if key not in names:
            raise DecodeError(_key(path, str(key)), "unknown field")
    values = {}
    for name, tp, meta in fields:
        if name not in value:
            raise DecodeError(_key(path, name), "missing")
        values[name] = _decode(tp, value[name], _key(path, name), meta)
    obj = cls(**values)
    check = getattr(obj, "check", None)
    problem = check() if check is not None else None
    if problem:
        raise DecodeError(_key(path, problem[0]) if problem[0] else path, problem[1])
    return obj


def _scalar(tp: Any, value: Any, path: str, meta: dict[str, Any]) -> Any:
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise DecodeError(path, f"expected true or false, got {shown(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(path, f"expected a whole number{_bounds(meta)}, got {shown(value)}")
        return _bounded(value, path, meta, "a whole number")
    if tp is Decimal:
        number = _number(value)
        if number is None:
            raise DecodeError(path, f"expected a number{_bounds(meta)}, got {shown(value)}")
        return _bounded(number, path, meta, "a number")
    if tp is str:
        if not isinstance(value, str):
            raise DecodeError(path, f"expected text, got {shown(value)}")
        return value
    if tp is datetime:
        moment = None
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
        if moment is None or moment.tzinfo is None:
            raise DecodeError(path, f"expected an ISO 8601 time with a UTC offset, got {shown(value)}")
        return moment
    raise TypeError(f"unsupported model type {tp!r} at {path}")


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        return None
    try:
        number = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _bounds(meta: dict[str, Any]) -> str:
    if "gt" in meta:
        return f" greater than {meta['gt']}"
    if "min" in meta:
        return f" of at least {meta['min']}"
    return ""


def _bounded(value: Any, path: str, meta: dict[str, Any], kind: str) -> Any:
    if ("gt" in meta and not value > meta["gt"]) or ("min" in meta and value < meta["min"]):
        raise DecodeError(path, f"expected {kind}{_bounds(meta)}, got {shown(value if isinstance(value, int) else str(value))}")
    return value


def _expected(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(map(str, get_args(tp)))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return "one of " + ", ".join(str(m.value) for m in tp)
    return {bool: "true or false", int: "a whole number", Decimal: "a number", str: "text",
            datetime: "an ISO 8601 time"}.get(tp, "an object" if dataclasses.is_dataclass(tp) else "a value")


def encode(value: Any) -> Any:
    """A model (or any value inside one) as a JSON tree: Decimals and times as text, enums as their value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: encode(getattr(value, name)) for name, _, _ in _fields(type(value))}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def fill_defaults(tp: Any, value: Any) -> Any:
    """`value` with every absent field that has a default in its model written out (in place where it can),
    down the whole tree; a value of the wrong shape is left for `decode` to name."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return fill_defaults(inner[0], value) if value is not None else value
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        defaults = {f.name: f for f in dataclasses.fields(tp)}
        for name, sub_tp, _ in _fields(tp):
            if name not in value:
                f = defaults[name]
                if f.default is not dataclasses.MISSING:
                    value[name] = encode(f.default)
                elif f.default_factory is not dataclasses.MISSING:
                    value[name] = encode(f.default_factory())
            else:
                value[name] = fill_defaults(sub_tp, value[name])
    elif origin is list and isinstance(value, list):
        (item,) = get_args(tp)
        value[:] = [fill_defaults(item, v) for v in value]
    elif origin is dict and isinstance(value, dict):
        _, item = get_args(tp)
        for k in list(value):
            value[k] = fill_defaults(item, value[k])
    return value
