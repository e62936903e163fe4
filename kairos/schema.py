"""A small declarative loader from YAML trees into frozen dataclasses.

Each dataclass field may carry a `Rule` in its metadata (range, choices, element rule). The loader
walks the tree, names every problem by its key path, and never lets an unknown key through.
Errors are one line: `<key.path>: expected <what>, got <found>`.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import re
import types
import typing
from dataclasses import MISSING, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Literal, Mapping, get_args, get_origin, get_type_hints

from kairos.errors import ConfigError
from kairos.money import to_decimal


class Secret:
    """A string that never shows itself in repr/str/logs; `.reveal()` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Rule:
    """Validation attached to a dataclass field."""

    lo: Decimal | None = None
    hi: Decimal | None = None
    lo_open: bool = False
    pattern: str | None = None
    pattern_hint: str = ""
    key_rule: "Rule | None" = None
    item_rule: "Rule | None" = None
    upper_keys: bool = False


def setting(default: Any = MISSING, *, factory: Callable[[], Any] | None = None, **rule: Any) -> Any:
    """Declare a settings field with a default and an optional validation rule."""
    meta = {"rule": Rule(**rule)} if rule else {}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def fail(path: str, expected: str, found: Any) -> typing.NoReturn:
    """Raise the one-line ConfigError for `path`."""
    raise ConfigError(f"{path}: expected {expected}, got {describe(found)}")


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Secret):
        return "a secret value"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = str(value) if str(value).isprintable() else repr(value)  # a newline in a value must not break the line
    return text if len(text) <= 60 else text[:57] + "..."


def build(cls: type, data: Any, path: str, hook: Callable[[str, str], str] | None = None) -> Any:
    """Build dataclass `cls` from a YAML mapping, validating every field."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        fail(path or "config", "a mapping of settings", data)
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            hint = difflib.get_close_matches(str(key), list(fields), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"{join(path, key)}: unknown setting{extra}; allowed: {', '.join(fields)}")
    values = {}
    for name, f in fields.items():
        if name in data:
            rule = f.metadata.get("rule", Rule())
            values[name] = convert(hints[name], data[name], join(path, name), rule, hook)
    return cls(**values)


def join(path: str, key: Any) -> str:
    name = str(key) if str(key).isprintable() else repr(key)  # keep the error one line whatever the key holds
    return f"{path}.{name}" if path else name


def convert(tp: Any, value: Any, path: str, rule: Rule, hook: Callable[[str, str], str] | None) -> Any:
    """Convert one YAML value to the annotated type `tp`."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return convert(args[0], value, path, rule, hook)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path, hook)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            fail(path, "one of " + ", ".join(map(str, choices)), value)
        return value
    if origin is tuple:
        return convert_tuple(get_args(tp)[0], value, path, rule, hook)
    if origin in (dict, collections.abc.Mapping):
        key_tp, val_tp = get_args(tp)
        return convert_mapping(key_tp, val_tp, value, path, rule, hook)
    return convert_scalar(tp, value, path, rule, hook)


def convert_tuple(item_tp: Any, value: Any, path: str, rule: Rule, hook: Any) -> tuple:
    if value is None:
        return ()
    if not isinstance(value, list):
        fail(path, "a list", value)
    item_rule = rule.item_rule or Rule()
    return tuple(convert(item_tp, v, f"{path}[{i}]", item_rule, hook) for i, v in enumerate(value))


def convert_mapping(key_tp: Any, val_tp: Any, value: Any, path: str, rule: Rule, hook: Any) -> types.MappingProxyType:
    if value is None:
        return types.MappingProxyType({})
    if not isinstance(value, Mapping):
        fail(path, "a mapping", value)
    out: dict[Any, Any] = {}
    for k, v in value.items():
        key = str(k).upper() if rule.upper_keys else str(k)
        sub = join(path, key)
        if rule.key_rule is not None:
            check_text(key, sub, rule.key_rule)
        if key in out:  # `btc` and `BTC` once upper-cased: the first weight would vanish silently
            fail(sub, "each key only once (case does not matter)", "a duplicate")
        out[key] = convert(val_tp, v, sub, rule.item_rule or Rule(), hook)
    return types.MappingProxyType(out)


def convert_scalar(tp: Any, value: Any, path: str, rule: Rule, hook: Any) -> Any:
    if tp is bool:
        if isinstance(value, str):  # `enabled: "false"` is text, and would read as true in many tools
            raise ConfigError(f'{path}: expected true or false, got the quoted text "{describe(value)}" '
                              f"(write it without quotes)")
        if not isinstance(value, bool):
            fail(path, "true or false", value)
        return value
    if tp is int:
        return check_range(convert_int(value, path), path, rule)
    if tp is Decimal:
        return check_range(convert_decimal(value, path, rule), path, rule)
    if tp is date:
        return convert_date(value, path)
    if tp is str:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            fail(path, "a text value", value)
        return check_text(str(value), path, rule)
    if tp is Secret:
        if not isinstance(value, str):  # never echo it: `password: 12345678` is still a secret
            kind = describe(value) if isinstance(value, (dict, list)) else "a non-text value (hidden)"
            raise ConfigError(f"{path}: expected a text value in quotes, got {kind}")
        if value.startswith("enc:") and hook is not None:
            value = hook(value, path)
        return Secret(value) if value else None
    raise TypeError(f"unsupported settings type {tp!r} at {path}")


def convert_int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(path, "a whole number", value)
    return value


def convert_decimal(value: Any, path: str, rule: Rule) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        fail(path, "a number" + range_text(rule), value)
    try:
        return to_decimal(value, what=path)
    except ValueError:
        fail(path, "a number" + range_text(rule), value)


def convert_date(value: Any, path: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        fail(path, "a date like 2026-01-31", value)


def range_text(rule: Rule) -> str:
    if rule.lo is not None and rule.hi is not None:
        if rule.lo_open:
            return f" greater than {plain_num(rule.lo)} and at most {plain_num(rule.hi)}"
        return f" between {plain_num(rule.lo)} and {plain_num(rule.hi)}"
    if rule.lo is not None:
        return f" {'greater than' if rule.lo_open else 'at least'} {plain_num(rule.lo)}"
    if rule.hi is not None:
        return f" at most {plain_num(rule.hi)}"
    return ""


def plain_num(value: Decimal) -> str:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


def check_range(value: Any, path: str, rule: Rule) -> Any:
    kind = "a whole number" if isinstance(value, int) else "a number"
    too_low = rule.lo is not None and (value <= rule.lo if rule.lo_open else value < rule.lo)
    too_high = rule.hi is not None and value > rule.hi
    if too_low or too_high:
        fail(path, kind + range_text(rule), value)
    return value


def check_text(value: str, path: str, rule: Rule) -> str:
    if rule.pattern and not re.fullmatch(rule.pattern, value):
        fail(path, rule.pattern_hint or f"text matching {rule.pattern}", value)
    return value


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(tree: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """Expand `${VAR}` (error if unset) and `${VAR:-default}` in every string of the tree."""
    if isinstance(tree, dict):
        return {k: expand_env(v, environ, join(path, k)) for k, v in tree.items()}
    if isinstance(tree, list):
        return [expand_env(v, environ, f"{path}[{i}]") for i, v in enumerate(tree)]
    if not isinstance(tree, str):
        return tree

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set (referenced as ${{{name}}})")

    return _VAR.sub(repl, tree)
