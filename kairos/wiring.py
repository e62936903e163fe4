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

from kairos.binding import SIM_BASE_URL  # noqa: E402,F401 - re-exported: tests and tools import it from here


def build_client(ctx: "Context") -> CoinoneClient:
    """The CoinoneClient this run talks through."""
    s = ctx.settings
    if ctx.mock:
        session, base_url, credentials = sim_session(ctx)
    elif ctx.paper:
        session, base_url, credentials = paper_session(ctx)
    else:
        session = ctx.env.http_session() if ctx.env.http_session else requests.Session()
        base_url = s.exchange.base_url
        credentials = Credentials(s.exchange.access_token, s.exchange.secret_key) if s.exchange.has_keys else None
    return CoinoneClient(session, base_url, credentials=credentials, timeout=float(s.exchange.timeout_seconds),
                         read_retries=s.exchange.read_retries, backoff=float(s.exchange.backoff_seconds),
                         sleep=ctx.clock.sleep, body_format=s.exchange.body_format)


def sim_credentials(ctx: "Context") -> Credentials:
    """The configured exchange keys when present (so they travel the real signing path), else the sim's."""
    ex, mock = ctx.settings.exchange, ctx.settings.mock
    if ex.has_keys and not mock.server_url:
        return Credentials(ex.access_token, ex.secret_key)  # type: ignore[arg-type]
    return Credentials(Secret(mock.access_token), Secret(mock.secret_key))


def sim_session(ctx: "Context") -> tuple[requests.Session, str, Credentials]:
    credentials = sim_credentials(ctx)
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
    config = SimConfig(access_token=token, secret_key=secret, initial_krw=s.paper.initial_krw,
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
