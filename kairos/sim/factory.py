"""Ready-made simulators: the paper account on a SQLite file (CLI mock mode and the standalone server).

The exchange clock is `OffsetClock(persisted offset, base=clock)`: the admin API can move the
paper account's time, and every process sharing the file sees the move. The model seed is
remembered in the file at its first use, so a paper account keeps one price history.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from kairos.clock import Clock, OffsetClock, SystemClock
from kairos.sim.exchange import SimConfig, SimExchange
from kairos.sim.store import SqliteStore


def _reveal(value: Any) -> str:
    """A credential given as str or as a Secret (`.reveal()`)."""
    return value.reveal() if hasattr(value, "reveal") else str(value)


def stored_seed(store: SqliteStore, seed: int) -> int:
    """The seed this account was opened with (recorded now if it is new)."""
    with store.transaction() as tx:
        recorded = tx.meta("model_seed")
        if recorded is None:
            tx.set_meta("model_seed", str(seed))
            return seed
    return int(recorded)


def paper_exchange(path: str | Path, *, clock: Clock | None = None, seed: int | None = None,
                   initial_krw: Decimal | int | str | None = None, credentials: Any = None,
                   config: SimConfig | None = None) -> SimExchange:
    """The simulator on the paper account in `path` (created with `initial_krw` KRW when new)."""
    from kairos.sim.market import DEFAULT_SEED, MarketModel

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(path)
    config = config or SimConfig()
    if credentials is not None:
        config = replace(config, access_token=_reveal(credentials.access_token),
                         secret_key=_reveal(credentials.secret_key))
    if initial_krw is not None:
        config = replace(config, initial_krw=Decimal(str(initial_krw)))
    offset_ms = int(store.read_meta("clock_offset_ms") or 0)
    exchange_clock = OffsetClock(timedelta(milliseconds=offset_ms), base=clock or SystemClock())
    model = MarketModel(seed=stored_seed(store, DEFAULT_SEED if seed is None else seed))
    return SimExchange(model, store, exchange_clock, config=config)
