"""Coinone private v2.1 signing (fact sheet §1.1): JSON → base64 payload → HMAC-SHA512 hex."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Mapping

from kairos.schema import Secret


@dataclass(frozen=True)
class Credentials:
    access_token: Secret
    secret_key: Secret


@dataclass(frozen=True)
class SignedRequest:
    body_json: bytes  # the exact JSON bytes that were base64-encoded
    payload: str  # X-COINONE-PAYLOAD
    signature: str  # X-COINONE-SIGNATURE


def sign_request(params: Mapping[str, Any], credentials: Credentials, nonce: str) -> SignedRequest:
    """Build the payload (params + access_token + nonce) and its signature."""
    document = {"access_token": credentials.access_token.reveal(), "nonce": nonce, **params}
    body_json = json.dumps(document).encode("utf-8")
    payload = base64.b64encode(body_json).decode("ascii")
    return SignedRequest(body_json, payload, signature(payload, credentials.secret_key.reveal()))


def signature(payload: str, secret_key: str) -> str:
    """Lowercase hex HMAC-SHA512 of the base64 payload, keyed by the raw secret (not upper-cased)."""
    return hmac.new(secret_key.encode("utf-8"), payload.encode("ascii"), hashlib.sha512).hexdigest()
