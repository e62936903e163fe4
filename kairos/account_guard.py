"""One installation per account, and open orders that do not live forever (DESIGN §3).

Before a run places orders it reads the account's active orders and its completed orders since its
plan began (a day earlier, to catch an installation that traded just before): an order whose
`user_order_id` has KAIROS-1's format with another installation's id stops trading (exit 4).
Coinone does not document `user_order_id` in those lists; where a row lacks it, order/detail by
order id is asked once (the answer, with or without an id, is remembered in the state file, so a
hand-placed order costs one look-up, not one per tick).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable

from kairos.binding import installation_of
from kairos.clock import to_ms
from kairos.engine.model import OrderRecord, OrderStatus, State
from kairos.errors import ExchangeError, SafetyStop

if TYPE_CHECKING:
    from kairos.context import Context

log = logging.getLogger("kairos.account")

LOOKBACK = timedelta(days=1)
DETAIL_LOOKUPS = 10  # order/detail calls per run for ids the lists do not explain
REMEMBERED = 500  # order ids whose user_order_id we looked up, kept in the state file


class ForeignInstallation(SafetyStop):
    """Another KAIROS-1 installation trades this account (exit 4)."""


def check_installation(ctx: "Context", state: State, since: datetime, coins: Iterable[str]) -> None:
    """ForeignInstallation if the account shows an order of another installation on the traded markets."""
    assert state.installation is not None  # bound under the lock before any order
    mine = state.installation.id
    wanted = {c.upper() for c in coins}
    rows: list[tuple[str, str, str | None]] = [(o.order_id, o.target, o.user_order_id) for o in ctx.client.active_orders()
                                                if o.target in wanted]
    fills = ctx.client.completed_orders_since(to_ms(since - LOOKBACK), to_ms(ctx.clock.now()))
    rows += [(t.order_id, t.target, t.user_order_id) for t in fills if t.target in wanted]
    seen = state.account_orders
    own = own_order_ids(state)
    lookups = 0
    for order_id, target, uoid in rows:
        if uoid is None and order_id not in own:
            if order_id in seen:
                uoid = seen[order_id] or None
            elif lookups < DETAIL_LOOKUPS:
                lookups += 1
                try:
                    uoid = ctx.client.order_detail(target, order_id=order_id).user_order_id
                except ExchangeError as exc:
                    log.warning("order %s on %s: detail unavailable (%s)", order_id, target, exc)
                    continue
                seen[order_id] = uoid or ""
        other = installation_of(uoid)
        if other is not None and other != mine:
            raise ForeignInstallation(
                f"another KAIROS-1 installation ({other}) trades this account: its order {uoid} on {target}; this "
                f"installation is {mine}. One installation per account — stop the other one (or this one); no order sent")
    if len(seen) > REMEMBERED:
        for key in list(seen)[: len(seen) - REMEMBERED]:
            del seen[key]


def own_order_ids(state: State) -> set[str]:
    return {r.order_id for _, r in state.records() if r.order_id}


def stale_open_records(state: State, now: datetime) -> list[tuple[OrderRecord, timedelta]]:
    """Open order records older than one slot interval (immediate orders: 30 minutes), with their age."""
    found = []
    for plan in state.plans:
        for leg, record in plan.records():
            age = now - record.created_at
            if record.status is OrderStatus.OPEN and age >= timedelta(minutes=leg.interval_minutes):
                found.append((record, age))
    for record in state.orders.values():
        age = now - record.created_at
        if record.status is OrderStatus.OPEN and age >= timedelta(minutes=30):
            found.append((record, age))
    return found
