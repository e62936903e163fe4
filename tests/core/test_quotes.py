"""The quote check: a price is acted on only when the book is sane and `last` agrees with it."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from kairos.core.quotes import check_quote

LIMIT = D("0.02")


@pytest.mark.parametrize("bid, ask, last, trusted, mid, problem", [
    (D(99), D(101), D(100), True, D(100), None),
    (D(99), D(101), D(102), True, D(100), None),  # exactly 2 %: still trusted
    (D(99), D(101), D("102.01"), False, D(100), "last 102.01 is 2.0% from the book's mid 100 (limit 2%)"),
    (D(99), D(101), D(2000), False, D(100), "from the book's mid"),  # SOL's last ×20, book untouched
    (D("0.0001"), D(101), D(100), False, D("50.50005"), "from the book's mid"),  # one absurd bid
    (D(101), D(101), D(101), False, None, "is not below best ask"),
    (D(102), D(101), D(101), False, None, "is not below best ask"),
    (D(0), D(101), D(101), False, None, "is not positive"),
    (None, D(101), D(101), False, None, "no best bid/ask"),
])
def test_check_quote(bid, ask, last, trusted, mid, problem) -> None:
    result = check_quote("SOL", bid, ask, last, LIMIT)
    assert result.trusted is trusted and result.mid == mid
    assert (result.problem is None) if problem is None else (problem in result.problem)
