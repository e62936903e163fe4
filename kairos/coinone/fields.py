"""Field readers for Coinone JSON: tolerant of strings vs numbers, strict about shape.

Every reader names the object and field in its ProtocolError, so a malformed answer becomes one
clear line instead of a KeyError deep inside a command.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from kairos.errors import ProtocolError
from kairos.money import to_decimal


def dec(obj: Mapping[str, Any], key: str, *, where: str, default: Decimal | None = None) -> Decimal:
    """Read a Decimal field that may be a string or a JSON number."""
    value = obj.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        raise ProtocolError(f"{where}: field {key!r} is missing")
    try:
        return to_decimal(value, what=f"{where}.{key}")
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


def opt_dec(obj: Mapping[str, Any], key: str, *, where: str) -> Decimal | None:
    """Read an optional Decimal field (absent or null → None)."""
    if obj.get(key) in (None, ""):
        return None
    return dec(obj, key, where=where)


def integer(obj: Mapping[str, Any], key: str, *, where: str, default: int | None = None) -> int:
    """Read an integer field that may be a JSON number or a numeric string."""
    value = obj.get(key)
    if value is None:
        if default is not None:
            return default
        raise ProtocolError(f"{where}: field {key!r} is missing")
    if isinstance(value, bool):
        raise ProtocolError(f"{where}.{key}: expected an integer, got {value!r}")
    try:
        return int(Decimal(str(value)))
    except (ArithmeticError, ValueError):  # int(Decimal("NaN")) raises ValueError
        raise ProtocolError(f"{where}.{key}: expected an integer, got {value!r}") from None


def flag(obj: Mapping[str, Any], key: str, *, where: str) -> bool:
    """Read a boolean that may arrive as a JSON bool or as the text "true"/"false"."""
    value = obj.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ProtocolError(f"{where}.{key}: expected true or false, got {value!r}")


def text(obj: Mapping[str, Any], key: str, *, where: str, upper: bool = False) -> str:
    """Read a required string field."""
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{where}: field {key!r} is missing or not a string")
    return value.upper() if upper else value


def millis(obj: Mapping[str, Any], key: str, *, where: str) -> int | None:
    """Read a timestamp; 10-digit (seconds) values are converted to milliseconds."""
    if obj.get(key) is None:
        return None
    value = integer(obj, key, where=where)
    return value * 1000 if 0 < value < 100_000_000_000 else value
