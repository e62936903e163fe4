"""Private v2.1 signing (fact sheet §1.1), checked against vectors computed here from the spec.

Spec: payload = standard base64 (with `=` padding) of the UTF-8 JSON document (params + access_token
+ nonce); signature = lowercase hex HMAC-SHA512 keyed by the raw secret (UTF-8) over the base64 text.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses

from kairos.coinone.auth import Credentials, sign_request, signature
from kairos.coinone.client import CoinoneClient
from kairos.coinone.models import OrderRequest
from kairos.errors import TransportError
from kairos.schema import Secret

BASE = "https://api.coinone.test"
TOKEN = "5a3e35e4-1111-4222-8333-444455556666"
SECRET = "9974e540-9451-4c2b-9d4e-aa17f0e5c8d1"  # lowercase, as issued: must not be upper-cased
NONCE = "022f53b2-8b2f-40c6-8e51-b594f562ee83"
CREDS = Credentials(Secret(TOKEN), Secret(SECRET))


def spec_vector(params: dict[str, Any], token: str, secret: str, nonce: str) -> tuple[bytes, str, str]:
    """(json bytes, payload, signature) built straight from the fact sheet, independent of kairos.coinone.auth."""
    document = {"access_token": token, "nonce": nonce, **params}
    raw = json.dumps(document).encode("utf-8")
    payload = base64.b64encode(raw).decode("ascii")
    sig = hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha512).hexdigest()
    return raw, payload, sig


ORDER_PARAMS = {"quote_currency": "KRW", "target_currency": "BTC", "side": "BUY", "type": "LIMIT",
                "price": "38000000", "qty": "0.001", "post_only": False}


@pytest.mark.parametrize("params", [
    {},
    ORDER_PARAMS,
    {"quote_currency": "KRW", "target_currency": "XRP", "user_order_id": "plan-1.xrp_0"},
    {"size": 100, "from_ts": 1_700_000_000_000, "to_ts": 1_700_086_400_000},
    {"currencies": ["BTC", "KRW"], "memo": "한글 메모"},  # non-ASCII survives the UTF-8 step
], ids=["empty", "limit-order", "user-order-id", "integers", "list-and-unicode"])
def test_sign_request_matches_the_spec_vector(params: dict[str, Any]) -> None:
    raw, payload, sig = spec_vector(params, TOKEN, SECRET, NONCE)
    signed = sign_request(params, CREDS, NONCE)
    assert signed.body_json == raw
    assert signed.payload == payload
    assert signed.signature == sig


def test_payload_is_standard_base64_with_padding_and_decodes_to_the_document() -> None:
    # choose a document whose length is not a multiple of 3, so padding must appear
    for extra in range(3):
        params = {"pad": "x" * extra}
        signed = sign_request(params, CREDS, NONCE)
        if len(signed.body_json) % 3:
            break
    assert signed.payload.endswith("=")
    assert base64.b64decode(signed.payload, validate=True) == signed.body_json
    assert json.loads(base64.b64decode(signed.payload)) == {"access_token": TOKEN, "nonce": NONCE, **params}


def test_payload_uses_the_standard_alphabet_not_url_safe() -> None:
    # find params whose JSON encodes to base64 containing '+' or '/'; the url-safe alphabet would differ
    for i in range(200):
        params = {"k": "?" * i + "~>"}
        signed = sign_request(params, CREDS, NONCE)
        if "+" in signed.payload or "/" in signed.payload:
            break
    else:  # pragma: no cover - the search always succeeds
        pytest.fail("no payload with + or / found")
    assert signed.payload == base64.b64encode(signed.body_json).decode("ascii")
    assert signed.payload != base64.urlsafe_b64encode(signed.body_json).decode("ascii")


def test_signature_is_lowercase_hex_keyed_by_the_raw_secret() -> None:
    payload = base64.b64encode(b'{"nonce": "x"}').decode("ascii")
    sig = signature(payload, SECRET)
    assert len(sig) == 128 and sig == sig.lower()
    binascii.unhexlify(sig)  # valid hex
    assert sig == hmac.new(SECRET.encode(), payload.encode(), hashlib.sha512).hexdigest()
    assert sig != hmac.new(SECRET.upper().encode(), payload.encode(), hashlib.sha512).hexdigest()  # not ccxt's upper()


def test_signature_changes_with_every_input() -> None:
    base = sign_request({"a": "1"}, CREDS, NONCE).signature
    assert sign_request({"a": "2"}, CREDS, NONCE).signature != base
    assert sign_request({"a": "1"}, CREDS, str(uuid.UUID(int=1, version=4))).signature != base
    other = Credentials(Secret(TOKEN), Secret(SECRET + "x"))
    assert sign_request({"a": "1"}, other, NONCE).signature != base


def test_credentials_do_not_show_in_repr() -> None:
    text = repr(CREDS) + str(CREDS)
    assert TOKEN not in text and SECRET not in text


# ---- on the wire -----------------------------------------------------------------------------------

def nonces(*values: str):
    it = iter(values)
    return lambda: next(it)


def client(body_format: str = "json", **kw: Any) -> CoinoneClient:
    kw.setdefault("nonce", nonces(NONCE))
    return CoinoneClient(requests.Session(), BASE, credentials=CREDS, body_format=body_format,
                         sleep=lambda s: None, **kw)


def ok(**fields: Any) -> dict[str, Any]:
    return {"result": "success", "error_code": "0", **fields}


@pytest.mark.parametrize("body_format", ["json", "base64", "empty"])
def test_signed_request_headers_and_body(body_format: str) -> None:
    order = OrderRequest.limit("BUY", "btc", Decimal("38000000"), Decimal("0.00100"), "kairos-1")
    with responses.RequestsMock() as rsps:
        rsps.post(BASE + "/v2.1/order", json=ok(order_id="0f512287-1e4d-11e9-9ec7-00e04c3600d7"))
        assert client(body_format).place_order(order) == "0f512287-1e4d-11e9-9ec7-00e04c3600d7"
        request = rsps.calls[0].request
    params = {"quote_currency": "KRW", "target_currency": "BTC", "side": "BUY", "type": "LIMIT",
              "user_order_id": "kairos-1", "qty": "0.001", "price": "38000000", "post_only": False}
    raw, payload, sig = spec_vector(params, TOKEN, SECRET, NONCE)
    assert request.method == "POST"
    assert request.headers["X-COINONE-PAYLOAD"] == payload
    assert request.headers["X-COINONE-SIGNATURE"] == sig
    assert request.headers["Content-Type"] == "application/json"
    body = request.body or b""
    expected_body = {"json": raw, "base64": payload.encode("ascii"), "empty": b""}[body_format]
    assert body == expected_body
    if body_format == "json":  # the body is exactly the bytes that were encoded in the header
        assert base64.b64decode(request.headers["X-COINONE-PAYLOAD"]) == body


def test_every_request_gets_a_fresh_uuid4_nonce() -> None:
    with responses.RequestsMock() as rsps:
        rsps.post(BASE + "/v2.1/account/balance/all", json=ok(balances=[]))
        c = CoinoneClient(requests.Session(), BASE, credentials=CREDS)  # the default nonce factory
        for _ in range(3):
            c.balances()
        seen = [json.loads(base64.b64decode(call.request.headers["X-COINONE-PAYLOAD"]))["nonce"]
                for call in rsps.calls]
    assert len(seen) == 3 and len(set(seen)) == 3
    assert all(uuid.UUID(n).version == 4 and str(uuid.UUID(n)) == n for n in seen)


def test_each_retry_is_signed_again_with_a_new_nonce() -> None:
    given = [str(uuid.uuid4()) for _ in range(3)]
    with responses.RequestsMock() as rsps:
        rsps.post(BASE + "/v2.1/account/balance/all", body=requests.exceptions.ConnectionError("reset"))
        rsps.post(BASE + "/v2.1/account/balance/all", status=502, body="<html>Bad Gateway</html>")
        rsps.post(BASE + "/v2.1/account/balance/all", json=ok(balances=[]))
        assert client(nonce=nonces(*given), read_retries=3).balances() == {}
        calls = list(rsps.calls)
    assert len(calls) == 3
    for call, nonce in zip(calls, given):
        decoded = json.loads(base64.b64decode(call.request.headers["X-COINONE-PAYLOAD"]))
        assert decoded["nonce"] == nonce
        _, payload, sig = spec_vector({}, TOKEN, SECRET, nonce)
        assert call.request.headers["X-COINONE-PAYLOAD"] == payload
        assert call.request.headers["X-COINONE-SIGNATURE"] == sig


def test_placement_timeout_sends_one_signed_request_only() -> None:
    order = OrderRequest.market_buy("BTC", Decimal("10000"), None, "kairos-2")
    with responses.RequestsMock() as rsps:
        rsps.post(BASE + "/v2.1/order", body=requests.exceptions.ReadTimeout("slow"))
        with pytest.raises(TransportError):
            client(nonce=nonces(NONCE)).place_order(order)  # a second nonce would raise StopIteration
        assert len(rsps.calls) == 1


def test_default_nonce_is_fresh_on_every_retry() -> None:
    with responses.RequestsMock() as rsps:
        for _ in range(3):
            rsps.post(BASE + "/v2.1/order/detail", body=requests.exceptions.ReadTimeout("slow"))
        rsps.post(BASE + "/v2.1/order/detail", json=ok(order={
            "order_id": "o-1", "type": "LIMIT", "side": "BUY", "target_currency": "BTC", "status": "LIVE"}))
        c = CoinoneClient(requests.Session(), BASE, credentials=CREDS, read_retries=3, sleep=lambda s: None)
        assert c.order_detail("BTC", order_id="o-1").order_id == "o-1"
        seen = [json.loads(base64.b64decode(call.request.headers["X-COINONE-PAYLOAD"]))["nonce"]
                for call in rsps.calls]
    assert len(seen) == 4 and len(set(seen)) == 4
    assert all(uuid.UUID(n).version == 4 for n in seen)
