"""Fixtures for the simulated exchange: a fixed clock, the real market model, an in-memory account,
and clients that sign requests with their own minimal §1.1 implementation (not kairos.coinone.auth),
over the in-process adapter or real HTTP on 127.0.0.1.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterator

import pytest
import requests

from kairos.clock import FixedClock
from kairos.sim.adapter import SimAdapter
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.market import MarketModel
from kairos.sim.server import BackgroundServer
from kairos.sim.store import MemoryStore

BASE = "https://api.coinone.co.kr"
NOW = datetime(2026, 2, 1, 3, 0, 30, tzinfo=timezone.utc)
ACCESS = SimConfig().access_token
SECRET = SimConfig().secret_key


class Signer:
    """Client side of fact sheet §1.1: JSON → base64 → HMAC-SHA512(secret) lowercase hex."""

    def __init__(self, session: requests.Session, base_url: str, access: str = ACCESS, secret: str = SECRET) -> None:
        self.session, self.base_url, self.access, self.secret = session, base_url, access, secret

    def payload(self, params: dict[str, Any], nonce: str | None = None) -> tuple[str, str, str]:
        """(json text, base64 payload, signature) of params + access_token + a fresh UUID nonce."""
        return self.sign({"access_token": self.access, "nonce": nonce or str(uuid.uuid4()), **params})

    def sign(self, document: dict[str, Any]) -> tuple[str, str, str]:
        """(json text, base64 payload, signature) of exactly `document`."""
        text = json.dumps(document)
        encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
        signature = hmac.new(self.secret.encode("utf-8"), encoded.encode("ascii"), hashlib.sha512).hexdigest()
        return text, encoded, signature

    def raw(self, path: str, headers: dict[str, str], body: str | bytes = b"", **kwargs: Any) -> requests.Response:
        return self.session.post(self.base_url + path, headers={"Content-Type": "application/json", **headers},
                                 data=body, **kwargs)

    def post(self, path: str, *, body: str = "json", nonce: str | None = None, timeout: float | None = 10,
             **params: Any) -> requests.Response:
        """A signed private request; `body` is "json" (raw JSON), "base64" or "empty"."""
        text, encoded, signature = self.payload(params, nonce)
        data = {"json": text, "base64": encoded, "empty": ""}[body]
        return self.raw(path, {"X-COINONE-PAYLOAD": encoded, "X-COINONE-SIGNATURE": signature}, data,
                        timeout=timeout)

    def call(self, path: str, **params: Any) -> dict[str, Any]:
        """A signed request whose JSON answer is returned (numbers as Decimal)."""
        return self.post(path, **params).json(parse_float=Decimal)

    def get(self, path: str, **query: Any) -> requests.Response:
        return self.session.get(self.base_url + path, params=query, timeout=10)

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.session.request(method, self.base_url + path, headers={"X-SIM-ADMIN": self.access},
                                        data=json.dumps(body or {}), timeout=10)
        return response.json(parse_float=Decimal)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture(scope="session")
def model() -> MarketModel:
    return MarketModel(seed=7)


@pytest.fixture
def config() -> SimConfig:
    # the exchange's rules against the model's own book; the book's memory of our trades is tests/sim/test_impact.py
    return SimConfig(impact=False)


@pytest.fixture
def exchange(model: MarketModel, clock: FixedClock, config: SimConfig) -> SimExchange:
    return SimExchange(model, MemoryStore(), clock, config=config, sleep=lambda seconds: None)


def adapter_client(app: SimExchange) -> Signer:
    session = requests.Session()
    session.mount(BASE, SimAdapter(app))
    return Signer(session, BASE)


@pytest.fixture
def client(exchange: SimExchange) -> Signer:
    """The exchange mounted in-process."""
    return adapter_client(exchange)


@pytest.fixture
def http_client(exchange: SimExchange) -> Iterator[Signer]:
    """The same exchange over real HTTP on 127.0.0.1."""
    with BackgroundServer(exchange) as server:
        with requests.Session() as session:
            yield Signer(session, server.url)


@pytest.fixture(params=["adapter", "http"])
def any_client(request: pytest.FixtureRequest, exchange: SimExchange) -> Iterator[Signer]:
    """Each test runs once in-process and once over HTTP."""
    if request.param == "adapter":
        yield adapter_client(exchange)
        return
    with BackgroundServer(exchange) as server:
        with requests.Session() as session:
            yield Signer(session, server.url)


def pair(target: str = "BTC") -> dict[str, str]:
    return {"quote_currency": "KRW", "target_currency": target}
