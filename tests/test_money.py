"""Decimal money helpers: parse at the edge, round down to steps, format."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kairos.money import bps, fmt_krw, fmt_pct, fmt_qty, is_multiple, plain, round_down, to_decimal

D = Decimal


@pytest.mark.parametrize("value, step, expected", [
    ("0.12345678", "0.0001", "0.1234"),
    ("0.00009999", "0.0001", "0.0000"),
    ("1.99999999", "0.0001", "1.9999"),
    ("2", "0.0001", "2.0000"),
    ("1234.9999", "1", "1234"),
    ("0.9", "1", "0"),
    ("1234567", "1000", "1234000"),
    ("999", "1000", "0"),
    ("150012999.99", "1000", "150012000"),
    ("1234567.89", "100.0", "1234500.0"),
    ("1234567", "1E+3", "1234000"),
    ("0.00000001", "0.00000001", "0.00000001"),
    ("-1.55", "0.1", "-1.5"),  # toward zero
])
def test_round_down(value: str, step: str, expected: str) -> None:
    result = round_down(D(value), D(step))
    assert result == D(expected)
    assert result <= abs(D(value))
    assert is_multiple(result, D(step))
    if D(step).as_tuple().exponent < 0:  # keeps the step's decimal places
        assert result.as_tuple().exponent == D(step).as_tuple().exponent


@pytest.mark.parametrize("step", ["0", "-1"])
def test_round_down_refuses_non_positive_step(step: str) -> None:
    with pytest.raises(ValueError, match="step"):
        round_down(D(1), D(step))


@pytest.mark.parametrize("value, step", [
    (D("NaN"), D("0.1")), (D("Infinity"), D(1)), (D("-Infinity"), D(1)), (D(1), D("NaN")), (D(1), D("Infinity")),
    (True, D(1)), (None, D(1)), (1.5, D("0.1")), (D(1), None),
])
def test_round_down_refuses_what_must_not_reach_an_order(value: Any, step: Any) -> None:
    with pytest.raises(ValueError):
        round_down(value, step)


@pytest.mark.parametrize("value, expected", [
    ("1", "1"), ("1.0", "1"), ("100.00", "100"), ("1E+3", "1000"), ("1.5E+3", "1500"), ("0.10", "0.1"),
    ("0.00000001", "0.00000001"), ("1E-8", "0.00000001"), ("123456.789000", "123456.789"),
    ("50000000.0", "50000000"), ("0", "0"), ("-0", "0"), ("-0.000", "0"), ("-2.50", "-2.5"),
])
def test_plain(value: str, expected: str) -> None:
    text = plain(D(value))
    assert text == expected
    assert "E" not in text and "e" not in text
    assert D(text) == D(value)


@pytest.mark.parametrize("value", [D("NaN"), D("sNaN"), D("Infinity"), D("-Infinity"), True, None, 1.5])
def test_plain_refuses_non_finite_and_non_decimals(value: Any) -> None:
    with pytest.raises(ValueError):
        plain(value)


@pytest.mark.parametrize("value, expected", [
    ("1234567.8", "1,234,568"), ("1234567.4", "1,234,567"), ("0", "0"), ("999", "999"), ("1000", "1,000"),
    ("2.5", "2"), ("3.5", "4"),  # half-even
    ("-1234.5", "-1,234"), ("1E+6", "1,000,000"), ("10000000000", "10,000,000,000"),
])
def test_fmt_krw(value: str, expected: str) -> None:
    assert fmt_krw(D(value)) == expected


@pytest.mark.parametrize("value", [D("NaN"), D("Infinity"), None, True])
def test_fmt_krw_refuses(value: Any) -> None:
    with pytest.raises(ValueError):
        fmt_krw(value)


@pytest.mark.parametrize("value, expected", [
    ("12", D(12)), ("0.00155177", D("0.00155177")), (" 7.5 ", D("7.5")), ("1,234,567", D(1234567)),
    (5000, D(5000)), (D("0.1"), D("0.1")), (0.1, D("0.1")), (1e-8, D("1e-8")),
])
def test_to_decimal_accepts(value: Any, expected: Decimal) -> None:
    result = to_decimal(value)
    assert result == expected and isinstance(result, Decimal)


@pytest.mark.parametrize("value", [True, False, None, "NaN", "nan", "sNaN", "Infinity", "-inf", float("nan"),
                                   float("inf"), D("NaN"), D("-Infinity"), "", "abc", "1.2.3", [1], {"a": 1}])
def test_to_decimal_refuses(value: Any) -> None:
    with pytest.raises(ValueError, match="price"):
        to_decimal(value, what="price")


@pytest.mark.parametrize("value, places, expected", [
    ("0.123456789", 8, "0.12345678"), ("1.50000000", 8, "1.5"), ("100", 8, "100"), ("0.00000000", 8, "0"),
    ("1.23456", 2, "1.23"),
])
def test_fmt_qty(value: str, places: int, expected: str) -> None:
    assert fmt_qty(D(value), places) == expected


@pytest.mark.parametrize("value, places, expected", [("0.4", 1, "40.0%"), ("0.12346", 2, "12.35%"), ("0.12345", 2, "12.34%"), ("1", 0, "100%")])
def test_fmt_pct(value: str, places: int, expected: str) -> None:
    assert fmt_pct(D(value), places) == expected


def test_bps() -> None:
    assert bps(D("0.00123")) == D("12.30")
    assert bps(D("-0.0001")) == D("-1.00")


@pytest.mark.parametrize("value, step, expected", [("0.3", "0.1", True), ("0.35", "0.1", False),
                                                   ("150012000", "1000", True), ("5", "5", True)])
def test_is_multiple(value: str, step: str, expected: bool) -> None:
    assert is_multiple(D(value), D(step)) is expected
