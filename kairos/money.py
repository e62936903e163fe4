"""Decimal helpers: parse at the edge, round down to exchange steps, format KRW.

Money never passes through float: JSON numbers are parsed with `parse_float=Decimal`
where we control the parser, and `to_decimal` refuses floats it did not see as text.
"""
from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)


def to_decimal(value: object, *, what: str = "value") -> Decimal:
    """Parse a number given as str/int/Decimal (or a float via its repr) into a finite Decimal."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{what}: expected a number, got {value!r}") from None
    else:
        raise ValueError(f"{what}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    return result


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """Round `value` toward zero to a multiple of `step` (step > 0)."""
    _finite(value, "value")
    _finite(step, "step")
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    units = (value / step).to_integral_value(rounding=ROUND_DOWN)
    return (units * step).quantize(step) if step.as_tuple().exponent < 0 else units * step


def _finite(value: object, what: str) -> None:
    """Refuse what must never reach an order: bool, None, float, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)) or not Decimal(value).is_finite():
        raise ValueError(f"{what}: expected a finite Decimal, got {value!r}")


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """True when `value` lies exactly on the `step` grid."""
    return (value % step) == 0


def plain(value: Decimal) -> str:
    """Decimal as a plain string (no exponent, no trailing zeros): the form sent to Coinone."""
    _finite(value, "value")
    if value == 0:
        return "0"  # not "-0"
    if value == value.to_integral_value():
        return format(value.quantize(ONE), "f")
    return format(value.normalize(), "f")


def fmt_krw(value: Decimal) -> str:
    """Format KRW with thousands separators and no decimals: 1234567.8 → '1,234,568'."""
    _finite(value, "value")
    return f"{value.quantize(ONE, rounding=ROUND_HALF_EVEN):,}"


def fmt_qty(value: Decimal, places: int = 8) -> str:
    """Format a coin quantity with up to `places` decimals, trailing zeros removed."""
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)
    text = format(q, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_pct(value: Decimal, places: int = 1) -> str:
    """Format a ratio as a percentage: Decimal('0.4') → '40.0%'."""
    return f"{(value * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)}%"


def bps(value: Decimal) -> Decimal:
    """A ratio in basis points, to two decimals."""
    return (value * 10000).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
