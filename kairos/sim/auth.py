"""Who may call the simulator and how it says no: error codes, private-request auth, rate limits.

Private v2.1 auth follows fact sheet §1.1, in the order a real server must use (it needs the
access token to know which secret to check): payload header (120), signature header (121),
base64 JSON payload (101), access_token (11 missing, 12 unknown), HMAC-SHA512 over the exact
base64 header string with the raw secret (123), nonce (122 missing, 133 not a UUID,
132 already used by this token — remembered forever in the store).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from decimal import Decimal
from typing import Any, Callable, Mapping

from kairos.sim.store import Tx

MESSAGES = {
    "4": "Blocked user access",
    "11": "Access token is missing",
    "12": "Invalid access token",
    "101": "Invalid format",
    "103": "Lack of Balance",
    "104": "Order id is not exist",
    "107": "Parameter error",
    "108": "Unknown cryptocurrency",
    "109": "Unknown cryptocurrency pair",
    "116": "Already Traded",
    "117": "Already Canceled",
    "120": "V2 API payload is missing",
    "121": "V2 API signature is missing",
    "122": "V2 API nonce is missing",
    "123": "V2 API signature is not correct",
    "132": "Nonce already used",
    "133": "Nonce must be in the form of a UUID",
    "161": "price is required for LIMIT or STOP_LIMIT order",
    "162": "qty is required for LIMIT or STOP_LIMIT or MARKET(SELL) order",
    "163": "post_only is required for LIMIT order",
    "164": "trigger_price is required for STOP_LIMIT order",
    "165": "amount is required for MARKET(BUY) order",
    "166": "Not Supported Order Type (LIMIT/MARKET/STOP_LIMIT, uppercase only)",
    "167": "trigger price and current price can not be same",
    "300": "Invalid order information",
    "306": "Cannot be process the orders below the minimum amount",
    "307": "Cannot be process the orders exceed the maximum amount",
    "308": "Price is out of range",
    "309": "Qty is out of range",
    "310": "Unavailable price unit. Please check the Range unit API to get the price_unit",
    "312": "Duplicated user_order_id",
    "313": "user_order_id and order_Id cannot be requested together. Otherwise, neither was entered",
    "314": "Invalid user_order_id (It must be lower case)",
    "316": "Invalid range",
    "317": "Invalid size",
    "404": "Not Found",
    "405": "Server error",
}

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class ApiError(Exception):
    """An application error, answered with Coinone's error envelope."""

    def __init__(self, code: str, message: str | None = None, *, http_status: int | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "Error")
        self.http_status = http_status
        super().__init__(f"{code}: {self.message}")

    def envelope(self) -> dict[str, Any]:
        return {"result": "error", "error_code": self.code, "error_msg": self.message}


def _same(a: str, b: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII text (compared as UTF-8 bytes)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


def sign(payload_b64: str, secret_key: str) -> str:
    """Lowercase hex HMAC-SHA512 of the base64 payload string, keyed by the secret as UTF-8."""
    return hmac.new(secret_key.encode("utf-8"), payload_b64.encode("ascii"), hashlib.sha512).hexdigest()


def decode_payload(payload_b64: str) -> dict[str, Any]:
    """The JSON object inside an X-COINONE-PAYLOAD header, numbers as Decimal; else 101."""
    try:
        raw = base64.b64decode(payload_b64.strip(), validate=True)
        value = json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError("101") from None
    if not isinstance(value, dict):
        raise ApiError("101")
    return value


class Authenticator:
    """Checks the signed headers of a private v2.1 request against one key pair."""

    def __init__(self, access_token: str, secret_key: str) -> None:
        self._access_token = access_token
        self._secret_key = secret_key

    def verify(self, headers: Mapping[str, str], tx: Tx) -> dict[str, Any]:
        """Return the request parameters, or raise ApiError with the first failing auth code."""
        payload_b64 = headers.get("x-coinone-payload")
        if not payload_b64:
            raise ApiError("120")
        signature = headers.get("x-coinone-signature")
        if not signature:
            raise ApiError("121")
        params = decode_payload(payload_b64)
        self._check_token(params.get("access_token"))
        if not _same(sign(payload_b64, self._secret_key), signature.strip()):
            raise ApiError("123")
        self._check_nonce(params.get("nonce"), tx)
        return params

    def _check_token(self, token: Any) -> None:
        if token in (None, ""):
            raise ApiError("11")
        if not isinstance(token, str) or not _same(token, self._access_token):
            raise ApiError("12")

    def _check_nonce(self, nonce: Any, tx: Tx) -> None:
        if nonce in (None, ""):
            raise ApiError("122")
        if not isinstance(nonce, str) or not _UUID.match(nonce):
            raise ApiError("133")
        if not tx.use_nonce(self._access_token, nonce.lower()):
            raise ApiError("132")

    def is_admin(self, headers: Mapping[str, str]) -> bool:
        """The admin path takes the access token in X-SIM-ADMIN."""
        given = headers.get("x-sim-admin", "")
        return bool(given) and _same(given, self._access_token)


class RateLimiter:
    """Sliding-window request quotas in real (monotonic) time; refused requests cost nothing."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, bucket: str, limit: int | None, window_s: float) -> int | None:
        """Spend one request; return the quota left, None when unlimited. Raise code 4 when exhausted."""
        if limit is None:
            return None
        now = self._monotonic()
        with self._lock:
            hits = self._hits.setdefault(bucket, deque())
            while hits and hits[0] <= now - window_s:
                hits.popleft()
            if len(hits) >= limit:
                raise ApiError("4")
            hits.append(now)
            return limit - len(hits)
