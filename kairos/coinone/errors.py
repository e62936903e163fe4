"""Coinone error codes → exception classes: one table, one place (fact sheet §8)."""
from __future__ import annotations

from typing import Any, Mapping

from kairos.errors import (
    AuthError, DuplicateOrderId, ExchangeError, ExchangeUnavailable, InsufficientBalance, OrderNotFound,
    OrderRejected, RateLimited, RequestRejected,
)

_AUTH_CODES = [8, 10, 11, 12, *range(20, 30), 40, 50, 51, 52, 120, 121, 122, 123, 130, 131, 132, 133,
               150, 151, 315, 777, 1206]
_ORDER_CODES = [53, 105, 111, 113, 114, 115, 116, 117, 118, *range(161, 168), *range(300, 312), 314, 1201, 1202]
_REQUEST_CODES = [101, 107, 108, 109, 313, 316, 317]

ERROR_CLASSES: dict[str, type[ExchangeError]] = {
    "4": RateLimited,
    "103": InsufficientBalance,
    "104": OrderNotFound,
    "312": DuplicateOrderId,
    "405": ExchangeUnavailable,
    **{str(c): AuthError for c in _AUTH_CODES},
    **{str(c): OrderRejected for c in _ORDER_CODES},
    **{str(c): RequestRejected for c in _REQUEST_CODES},
}

MESSAGES: dict[str, str] = {
    "4": "Blocked user access (rate limit)", "10": "This IP address is not allowed",
    "11": "Access token is missing", "12": "Invalid access token", "40": "Invalid API permission",
    "101": "Invalid format", "103": "Lack of Balance", "104": "Order id is not exist",
    "105": "Price is not correct", "107": "Parameter error", "108": "Unknown cryptocurrency",
    "109": "Unknown cryptocurrency pair", "120": "V2 API payload is missing",
    "121": "V2 API signature is missing", "122": "V2 API nonce is missing",
    "123": "V2 API signature is not correct", "132": "Nonce already used",
    "133": "Nonce must be in the form of a UUID", "161": "price is required",
    "162": "qty is required", "163": "post_only is required", "165": "amount is required for MARKET(BUY)",
    "166": "Not Supported Order Type", "306": "Cannot be process the orders below the minimum amount",
    "307": "Cannot be process the orders exceed the maximum amount", "308": "Price is out of range",
    "309": "Qty is out of range", "310": "Unavailable price unit", "312": "Duplicated user_order_id",
    "313": "user_order_id and order_id cannot be requested together, or neither was entered",
    "314": "Invalid user_order_id", "405": "Server error (maintenance)",
}


def error_for(body: Mapping[str, Any], endpoint: str) -> ExchangeError:
    """Build the exception for an error envelope, in either snake_case or camelCase form."""
    code = str(body.get("error_code", body.get("errorCode", "")) or "").strip()
    raw_msg = body.get("error_msg", body.get("errorMsg"))
    message = MESSAGES.get(code) or (str(raw_msg)[:120] if raw_msg else "unknown error")
    cls = ERROR_CLASSES.get(code, ExchangeError)
    return cls(f"Coinone error {code or '?'} ({message}) on {endpoint}", code=code or None, endpoint=endpoint)


def is_error(body: Mapping[str, Any]) -> bool:
    """True when the envelope reports an error (result 'error' or a non-zero code)."""
    if str(body.get("result", "")).lower() == "error":
        return True
    code = body.get("error_code", body.get("errorCode"))
    return code not in (None, "", "0", 0)
