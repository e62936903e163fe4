"""Builds the exchange client for a run: the real Coinone, an external simulator, or one in-process.

Mock mode is the simulator behind the *same* client (mounted as a requests transport adapter),
never an `if mock:` branch inside the client.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import requests

from kairos.coinone.auth import Credentials
from kairos.coinone.client import CoinoneClient
from kairos.schema import Secret

if TYPE_CHECKING:
    from kairos.context import Context
    from kairos.settings import ExchangeSettings

from kairos.binding import SIM_BASE_URL  # noqa: E402,F401 - re-exported: tests and tools import it from here


def build_client(ctx: "Context", *, secret_key_case: str | None = None) -> CoinoneClient:
    """The CoinoneClient this run talks through (`secret_key_case` overrides the setting: --preflight's retry)."""
    s = ctx.settings
    if ctx.mock:
        session, base_url, credentials = sim_session(ctx, secret_key_case)
    elif ctx.paper:
        session, base_url, credentials = paper_session(ctx)
    else:
        session = ctx.env.http_session() if ctx.env.http_session else requests.Session()
        base_url = s.exchange.base_url
        credentials = live_credentials(s.exchange, secret_key_case) if s.exchange.has_keys else None
    return CoinoneClient(session, base_url, credentials=credentials, timeout=float(s.exchange.timeout_seconds),
                         read_retries=s.exchange.read_retries, backoff=float(s.exchange.backoff_seconds),
                         sleep=ctx.clock.sleep, body_format=s.exchange.body_format)


def live_credentials(ex: "ExchangeSettings", secret_key_case: str | None = None) -> Credentials:
    """The configured keys, the secret in the case `exchange.secret_key_case` (or the override) says."""
    secret = ex.secret_key.reveal() if ex.secret_key else ""
    upper = (secret_key_case or ex.secret_key_case) == "upper"
    return Credentials(ex.access_token, Secret(secret.upper() if upper else secret))  # type: ignore[arg-type]


def sim_credentials(ctx: "Context", secret_key_case: str | None = None) -> Credentials:
    """The configured exchange keys when present (so they travel the real signing path), else the sim's."""
    ex, mock = ctx.settings.exchange, ctx.settings.mock
    if ex.has_keys and not mock.server_url:
        return live_credentials(ex, secret_key_case)
    return Credentials(Secret(mock.access_token), Secret(mock.secret_key))


def sim_session(ctx: "Context", secret_key_case: str | None = None) -> tuple[requests.Session, str, Credentials]:
    credentials = sim_credentials(ctx, secret_key_case)
    session = requests.Session()
    if ctx.settings.mock.server_url:
        return session, ctx.settings.mock.server_url, credentials
    from kairos.sim.adapter import SimAdapter

    app = ctx.env.sim_app or in_process_app(ctx, credentials)
    session.mount(SIM_BASE_URL, SimAdapter(app))
    return session, SIM_BASE_URL, credentials


PAPER_CREDENTIALS = ("paper-account-local", "paper-account-local-secret")  # the local account's own keys


def paper_session(ctx: "Context") -> tuple[requests.Session, str, Credentials]:
    """Paper trading: public paths go to the real exchange (exchange.base_url) through the normal transport;
    every private path (`/v2.1/…`, `/v2/…`) is mounted on the local paper account, so none can reach it."""
    from kairos.sim.adapter import SimAdapter
    from kairos.sim.exchange import SimConfig, SimExchange
    from kairos.sim.live_market import BOOK_SIZE, LiveMarket
    from kairos.sim.store import SqliteStore

    s = ctx.settings
    if s.exchange.has_keys:
        ctx.env.stderr.write("notice: paper mode uses no exchange keys; the configured ones are ignored "
                             "(no private request reaches the exchange)\n")
    session = ctx.env.http_session() if ctx.env.http_session else requests.Session()
    base_url = s.exchange.base_url.rstrip("/")
    public = CoinoneClient(session, base_url, timeout=float(s.exchange.timeout_seconds),
                           read_retries=s.exchange.read_retries, backoff=float(s.exchange.backoff_seconds),
                           sleep=ctx.clock.sleep)
    token, secret = PAPER_CREDENTIALS
    config = SimConfig(access_token=token, secret_key=secret, initial_krw=s.paper.initial_krw, impact=False,
                       maker_fee=s.paper.fee_rate, taker_fee=s.paper.fee_rate, match_levels=BOOK_SIZE,
                       private_rate_per_sec=None, order_rate_per_sec=None, public_rate_per_min=None)
    path = ctx.paths.data_dir / s.paper.exchange_file
    path.parent.mkdir(parents=True, exist_ok=True)
    app = SimExchange(LiveMarket(public), SqliteStore(path), ctx.clock, config=config)
    adapter = SimAdapter(app)
    for private in ("/v2.1/", "/v2/"):
        session.mount(base_url + private, adapter)
    return session, base_url, Credentials(Secret(token), Secret(secret))


def in_process_app(ctx: "Context", credentials: Credentials):  # -> WSGI app
    """The simulator on the paper account persisted under data/."""
    from kairos.sim.factory import paper_exchange

    path = ctx.paths.data_dir / ctx.settings.mock.exchange_file
    return paper_exchange(path, clock=ctx.clock, seed=ctx.settings.mock.seed,
                          initial_krw=ctx.settings.mock.initial_krw, credentials=credentials)
