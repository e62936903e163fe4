"""Private v2.1 authentication (fact sheet §1.1), request bodies, rate limits and unknown paths."""
from __future__ import annotations

import base64
import json
import uuid

import pytest
import requests

from kairos.clock import FixedClock
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.market import MarketModel
from kairos.sim.store import MemoryStore
from tests.sim.conftest import ACCESS, Signer, adapter_client

BALANCE = "/v2.1/account/balance/all"


def code_of(response: requests.Response) -> str:
    return response.json()["error_code"]


@pytest.mark.parametrize("body", ["json", "base64", "empty"])
def test_every_body_variant_is_accepted(any_client: Signer, body: str) -> None:
    answer = any_client.post(BALANCE, body=body).json()
    assert answer["result"] == "success" and answer["error_code"] == "0"
    assert {"available": "10000000", "limit": "0", "average_price": "0", "currency": "KRW"} in answer["balances"]


def test_parameters_come_from_the_header_not_the_body(client: Signer) -> None:
    text, encoded, signature = client.payload({"currencies": ["KRW"]})
    decoy = json.dumps({"currencies": ["BTC"]})
    answer = client.raw("/v2.1/account/balance", {"X-COINONE-PAYLOAD": encoded, "X-COINONE-SIGNATURE": signature},
                        decoy).json()
    assert [row["currency"] for row in answer["balances"]] == ["KRW"]


def test_missing_payload_is_120_and_missing_signature_121(any_client: Signer) -> None:
    _, encoded, signature = any_client.payload({})
    assert code_of(any_client.raw(BALANCE, {"X-COINONE-SIGNATURE": signature})) == "120"
    assert code_of(any_client.raw(BALANCE, {})) == "120"
    assert code_of(any_client.raw(BALANCE, {"X-COINONE-PAYLOAD": encoded})) == "121"


def test_payload_that_is_not_base64_json_is_101(client: Signer) -> None:
    assert code_of(client.raw(BALANCE, {"X-COINONE-PAYLOAD": "%%%", "X-COINONE-SIGNATURE": "ab"})) == "101"
    not_json = base64.b64encode(b"[1, 2").decode()
    assert code_of(client.raw(BALANCE, {"X-COINONE-PAYLOAD": not_json, "X-COINONE-SIGNATURE": "ab"})) == "101"


def test_wrong_signature_is_123(any_client: Signer) -> None:
    _, encoded, signature = any_client.payload({})
    wrong = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert code_of(any_client.raw(BALANCE, {"X-COINONE-PAYLOAD": encoded, "X-COINONE-SIGNATURE": wrong})) == "123"


def test_non_ascii_signature_or_token_is_refused_not_crashing(client: Signer) -> None:
    _, encoded, _ = client.payload({})
    assert code_of(client.raw(BALANCE, {"X-COINONE-PAYLOAD": encoded, "X-COINONE-SIGNATURE": "\u00e9t\u00e9"})) == "123"
    assert code_of(Signer(client.session, client.base_url, access="t\u00f6ken").post(BALANCE)) == "12"


def test_upper_cased_secret_is_not_accepted(client: Signer) -> None:
    upper = Signer(client.session, client.base_url, secret=client.secret.upper())
    assert code_of(upper.post(BALANCE)) == "123"


def test_access_token_missing_is_11_and_unknown_is_12(client: Signer) -> None:
    missing = Signer(client.session, client.base_url, access="")
    assert code_of(missing.post(BALANCE)) == "11"
    unknown = Signer(client.session, client.base_url, access="someone-else")
    assert code_of(unknown.post(BALANCE)) == "12"


def test_nonce_missing_122_not_uuid_133_reused_132(any_client: Signer) -> None:
    _, encoded, signature = any_client.sign({"access_token": ACCESS})
    assert code_of(any_client.raw(BALANCE, {"X-COINONE-PAYLOAD": encoded, "X-COINONE-SIGNATURE": signature})) == "122"
    assert code_of(any_client.post(BALANCE, nonce="1700000000000")) == "133"
    nonce = str(uuid.uuid4())
    assert any_client.post(BALANCE, nonce=nonce).json()["result"] == "success"
    assert code_of(any_client.post(BALANCE, nonce=nonce)) == "132"
    assert code_of(any_client.post("/v2.1/account/trade_fee", nonce=nonce)) == "132"


def test_a_refused_request_still_uses_its_nonce(client: Signer) -> None:
    nonce = str(uuid.uuid4())
    assert code_of(client.post("/v2.1/order", nonce=nonce, type="limit")) == "166"
    assert code_of(client.post(BALANCE, nonce=nonce)) == "132"


def test_error_http_status_is_configurable(model: MarketModel, clock: FixedClock) -> None:
    exchange = SimExchange(model, MemoryStore(), clock, config=SimConfig(error_http_status=400))
    response = adapter_client(exchange).raw(BALANCE, {})
    assert response.status_code == 400 and response.json()["error_code"] == "120"


def test_default_error_status_is_200_with_the_error_envelope(client: Signer) -> None:
    response = client.raw(BALANCE, {})
    assert response.status_code == 200
    assert response.json() == {"result": "error", "error_code": "120", "error_msg": "V2 API payload is missing"}


@pytest.mark.parametrize("path", ["/v2.1/transaction/coin/withdrawal", "/v2/account/balance", "/v2.1/nothing",
                                  "/public/v2/nothing", "/"])
def test_unknown_paths_are_404_with_an_error_envelope(client: Signer, path: str) -> None:
    response = client.post(path)
    assert response.status_code == 404
    assert response.json()["result"] == "error"


def test_private_rate_limit_gives_code_4_and_headers_only_while_quota_remains(model: MarketModel, clock: FixedClock) -> None:
    exchange = SimExchange(model, MemoryStore(), clock, config=SimConfig(private_rate_per_sec=3))
    client = adapter_client(exchange)
    responses = [client.post(BALANCE) for _ in range(4)]
    assert [r.headers.get("Private-Ratelimit-Remaining") for r in responses[:3]] == ["2", "1", None]
    assert responses[3].json() == {"result": "error", "error_code": "4", "error_msg": "Blocked user access"}
    assert "Private-Ratelimit-Remaining" not in responses[3].headers


def test_order_apis_have_their_own_quota(model: MarketModel, clock: FixedClock) -> None:
    exchange = SimExchange(model, MemoryStore(), clock, config=SimConfig(order_rate_per_sec=1))
    client = adapter_client(exchange)
    first = client.post("/v2.1/order/cancel/all", quote_currency="KRW", target_currency="BTC")
    assert first.json()["result"] == "success"
    assert code_of(client.post("/v2.1/order/cancel/all", quote_currency="KRW", target_currency="BTC")) == "4"
    assert client.post(BALANCE).headers["Private-Ratelimit-Remaining"] == "79"


def test_public_rate_limit(model: MarketModel, clock: FixedClock) -> None:
    exchange = SimExchange(model, MemoryStore(), clock, config=SimConfig(public_rate_per_min=2))
    client = adapter_client(exchange)
    first, second, third = (client.get("/public/v2/markets/KRW") for _ in range(3))
    assert first.headers["Public-Ratelimit-Remaining"] == "1"
    assert "Public-Ratelimit-Remaining" not in second.headers and second.json()["result"] == "success"
    assert third.json()["error_code"] == "4"


def test_rate_window_slides_in_real_time(model: MarketModel, clock: FixedClock) -> None:
    now = [0.0]
    exchange = SimExchange(model, MemoryStore(), clock, config=SimConfig(private_rate_per_sec=1),
                           monotonic=lambda: now[0])
    client = adapter_client(exchange)
    assert client.post(BALANCE).json()["result"] == "success"
    assert code_of(client.post(BALANCE)) == "4"
    now[0] = 1.5
    assert client.post(BALANCE).json()["result"] == "success"


def test_a_refused_order_still_reports_the_order_quota(client: Signer) -> None:
    response = client.post("/v2.1/order", quote_currency="KRW", target_currency="BTC", type="LIMIT", side="BUY")
    assert response.json()["error_code"] == "161"
    assert response.headers["Private-Order-Ratelimit-Remaining"] == "39"
