"""The paper account on a SQLite file: restarts, the standalone server, many concurrent processes."""
from __future__ import annotations

import multiprocessing
import os
import queue
import subprocess
import sys
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import requests

from kairos.clock import FixedClock, to_ms
from kairos.sim.exchange import SimExchange
from kairos.sim.factory import paper_exchange
from kairos.sim.market import MarketModel
from kairos.sim.store import SqliteStore
from tests.sim.conftest import NOW, Signer, adapter_client, pair

REPO = Path(__file__).resolve().parents[2]
BUY = {"side": "BUY", "type": "MARKET", "amount": "100000"}


def krw_of(client: Signer) -> str:
    rows = client.call("/v2.1/account/balance/all")["balances"]
    return next(r["available"] for r in rows if r["currency"] == "KRW")


def test_account_survives_a_new_exchange_on_the_same_file(tmp_path: Path, model: MarketModel) -> None:
    path = tmp_path / "paper.db"
    first = adapter_client(SimExchange(model, SqliteStore(path), FixedClock(NOW)))
    nonce = str(uuid.uuid4())
    assert first.call("/v2.1/order", nonce=nonce, **pair("XRP"), **BUY, user_order_id="keep-1")["error_code"] == "0"
    before = first.call("/v2.1/account/balance/all")["balances"]
    second = adapter_client(SimExchange(model, SqliteStore(path), FixedClock(NOW)))
    assert second.call("/v2.1/account/balance/all")["balances"] == before
    assert second.call("/v2.1/order/detail", **pair("XRP"), user_order_id="keep-1")["error_code"] == "0"
    assert second.call("/v2.1/account/balance/all", nonce=nonce)["error_code"] == "132"
    assert second.call("/v2.1/order", **pair("XRP"), **BUY, user_order_id="keep-1")["error_code"] == "312"
    deposits = second.call("/v2.1/transaction/krw/history", size=10, from_ts=to_ms(NOW) - 1,
                           to_ts=to_ms(NOW))["transactions"]
    assert len(deposits) == 1


def test_paper_exchange_persists_the_clock_offset_and_seed(tmp_path: Path) -> None:
    path = tmp_path / "paper.db"
    first = adapter_client(paper_exchange(path, clock=FixedClock(NOW), seed=11, initial_krw=123456))
    first.admin("POST", "/__sim__/clock", {"advance_seconds": 3600})
    again = paper_exchange(path, clock=FixedClock(NOW), seed=99)
    assert again.now_ms() == to_ms(NOW) + 3_600_000
    assert again.model.seed == 11
    assert krw_of(adapter_client(again)) == "123456"


def _worker(path: str, index: int, results: "multiprocessing.Queue[list[str]]") -> None:
    """One process: its own exchange on the shared file; a few orders plus one contested user_order_id."""
    client = adapter_client(SimExchange(MarketModel(seed=7), SqliteStore(path), FixedClock(NOW)))
    codes = [client.call("/v2.1/order", **pair("XRP"), **BUY, user_order_id=f"w{index}-{k}")["error_code"]
             for k in range(3)]
    codes.append(client.call("/v2.1/order", **pair("XRP"), **BUY, user_order_id="contested")["error_code"])
    results.put(codes)


def test_twenty_processes_share_one_account_file(tmp_path: Path) -> None:
    path = str(tmp_path / "paper.db")  # created by the workers, all at once
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(path, i, results)) for i in range(20)]
    for worker in workers:
        worker.start()
    codes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert all(c[:3] == ["0", "0", "0"] for c in codes)
    assert sorted(c[3] for c in codes) == ["0"] + ["312"] * 19
    client = adapter_client(SimExchange(MarketModel(seed=7), SqliteStore(path), FixedClock(NOW)))
    orders = client.admin("GET", "/__sim__/orders")["orders"]
    assert len(orders) == 61 and len({o["user_order_id"] for o in orders}) == 61
    spent = sum(Decimal(o["traded_amount"]) + Decimal(o["fee"]) for o in orders)
    assert Decimal(krw_of(client)) == Decimal(10**7) - spent
    deposits = client.call("/v2.1/transaction/krw/history", size=100, from_ts=to_ms(NOW) - 1,
                           to_ts=to_ms(NOW))["transactions"]
    assert len(deposits) == 1


def _read_first_line(process: subprocess.Popen, timeout: float = 20) -> str:
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    return lines.get(timeout=timeout)


def _start_server(state: Path) -> tuple[subprocess.Popen, Signer, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "kairos.sim", "--host", "127.0.0.1", "--port", "0",
                                "--state", str(state), "--quiet", "--access-token", "tok-1", "--secret-key", "sec-1"],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = _read_first_line(process)
    assert first.startswith("KAIROS-SIM listening on http://127.0.0.1:"), first
    extra = [_read_first_line(process), _read_first_line(process)]
    url = first.split(" on ", 1)[1].strip()
    return process, Signer(requests.Session(), url, access="tok-1", secret="sec-1"), extra


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    finally:
        process.stdout.close()
        process.stderr.close()


def test_standalone_server_keeps_the_paper_account_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "paper.db"
    process, client, extra = _start_server(state)
    try:
        assert extra == ["access_token: tok-1\n", "secret_key: sec-1\n"]
        nonce = str(uuid.uuid4())
        placed = client.call("/v2.1/order", nonce=nonce, **pair("XRP"), **BUY, user_order_id="survivor")
        assert placed["error_code"] == "0"
        balances = client.call("/v2.1/account/balance/all")["balances"]
    finally:
        _stop(process)
    assert process.returncode == 0
    process, client, _ = _start_server(state)
    try:
        assert client.call("/v2.1/account/balance/all")["balances"] == balances
        detail = client.call("/v2.1/order/detail", **pair("XRP"), user_order_id="survivor")
        assert detail["order"]["order_id"] == placed["order_id"]
        assert client.call("/v2.1/account/balance/all", nonce=nonce)["error_code"] == "132"
    finally:
        _stop(process)
