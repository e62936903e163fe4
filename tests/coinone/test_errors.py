"""Coinone error codes → exception classes (fact sheet §8), in both envelope spellings."""
from __future__ import annotations

import pytest

from kairos.coinone.errors import ERROR_CLASSES, MESSAGES, error_for, is_error
from kairos.errors import (
    AuthError, DuplicateOrderId, ExchangeError, ExchangeUnavailable, InsufficientBalance, KairosError, OrderNotFound,
    OrderRejected, RateLimited, RequestRejected, TemporaryExchangeError,
)

# What the caller must do for each documented code, written from the fact sheet (not copied from the table).
AUTH = [8, 10, 11, 12, *range(20, 30), 40, 50, 51, 52, 120, 121, 122, 123, 130, 131, 132, 133, 150, 151, 315, 777, 1206]
ORDER = [53, 105, 111, 113, 114, 115, 116, 117, 118, 161, 162, 163, 164, 165, 166, 167,
         300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 314, 1201, 1202]
REQUEST = [101, 107, 108, 109, 313, 316, 317]
EXPECTED: dict[str, type[ExchangeError]] = {
    "4": RateLimited, "103": InsufficientBalance, "104": OrderNotFound, "312": DuplicateOrderId,
    "405": ExchangeUnavailable,
    **{str(c): AuthError for c in AUTH},
    **{str(c): OrderRejected for c in ORDER},
    **{str(c): RequestRejected for c in REQUEST},
}


def test_the_table_covers_exactly_the_expected_codes() -> None:
    assert set(ERROR_CLASSES) == set(EXPECTED)


@pytest.mark.parametrize("code, cls", sorted(EXPECTED.items(), key=lambda kv: int(kv[0])))
def test_code_maps_to_its_class_in_both_envelopes(code: str, cls: type[ExchangeError]) -> None:
    for body in ({"result": "error", "error_code": code, "error_msg": "server text"},
                 {"result": "error", "errorCode": code, "errorMsg": "server text"},
                 {"result": "error", "error_code": int(code)}):
        assert is_error(body)
        exc = error_for(body, "/v2.1/order")
        assert type(exc) is cls, body
        assert exc.code == code
        assert exc.endpoint == "/v2.1/order"
        assert f"Coinone error {code} " in str(exc) and str(exc).endswith("on /v2.1/order")


@pytest.mark.parametrize("code", ["999", "3001", "157", "abc"])
def test_unknown_code_is_a_plain_exchange_error(code: str) -> None:
    exc = error_for({"result": "error", "error_code": code, "error_msg": "Something new"}, "/public/v2/markets/KRW")
    assert type(exc) is ExchangeError
    assert exc.code == code
    assert "Something new" in str(exc)


def test_error_without_any_code() -> None:
    body = {"result": "error"}
    assert is_error(body)
    exc = error_for(body, "/x")
    assert type(exc) is ExchangeError and exc.code is None
    assert "Coinone error ?" in str(exc) and "unknown error" in str(exc)


def test_known_message_wins_and_server_message_is_truncated() -> None:
    known = error_for({"result": "error", "error_code": "103", "error_msg": "잔고 부족"}, "/v2.1/order")
    assert MESSAGES["103"] in str(known)
    long = error_for({"result": "error", "error_code": "999", "error_msg": "x" * 500}, "/v2.1/order")
    assert "x" * 120 in str(long) and "x" * 121 not in str(long)


@pytest.mark.parametrize("body, expected", [
    ({"result": "success", "error_code": "0"}, False),
    ({"result": "success", "errorCode": "0"}, False),
    ({"result": "success", "error_code": 0}, False),
    ({"result": "success"}, False),
    ({"result": "error", "error_code": "0"}, True),
    ({"result": "Error", "error_code": "12"}, True),
    ({"errorCode": "405", "status": "maintenance", "result": "error"}, True),  # the old maintenance body
    ({"result": "success", "error_code": "107"}, True),  # a non-zero code is an error whatever `result` says
    ({"error_code": "4"}, True),
])
def test_is_error(body: dict, expected: bool) -> None:
    assert is_error(body) is expected


@pytest.mark.parametrize("cls, parents", [
    (RateLimited, (TemporaryExchangeError, ExchangeError, KairosError)),
    (ExchangeUnavailable, (TemporaryExchangeError, ExchangeError)),
    (InsufficientBalance, (OrderRejected, RequestRejected, ExchangeError)),
    (DuplicateOrderId, (OrderRejected, RequestRejected)),
    (AuthError, (ExchangeError,)),
    (OrderNotFound, (ExchangeError,)),
])
def test_exception_tree(cls: type, parents: tuple[type, ...]) -> None:
    assert all(issubclass(cls, p) for p in parents)
    assert not issubclass(cls, TemporaryExchangeError) or cls in (RateLimited, ExchangeUnavailable)


@pytest.mark.parametrize("cls", [AuthError, OrderRejected, RequestRejected, OrderNotFound, InsufficientBalance,
                                 DuplicateOrderId])
def test_permanent_errors_are_not_temporary(cls: type) -> None:
    assert not issubclass(cls, TemporaryExchangeError)  # so reads never retry them
