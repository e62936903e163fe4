"""Durable order submission and reconciliation, shared by the immediate rebalance and the TWAP engine.

The write-ahead contract (DESIGN §3): an order's record — with its deterministic lowercase
`user_order_id` — is saved to the state file with status `intent` *before* the request; the
returned order id after it. A run that dies in between leaves an `intent`/`unknown` record that
the next run looks up by `user_order_id`; only after `lost_order_checks` "not found" answers on
separate runs is it declared `lost` (and the caller may retry under a new attempt id).
Safety rails are checked before the intent is written, so a refusal never leaves a half-written
intent.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable

from kairos import crashpoints
from kairos.clock import KST
from kairos.coinone.models import Order, OrderRequest
from kairos.core.twap import slippage_bps
from kairos.errors import (
    DuplicateOrderId, InsufficientBalance, OrderNotFound, OrderRejected, ProtocolError, SafetyStop,
    TemporaryExchangeError,
)
from kairos.money import ZERO

log = logging.getLogger("kairos.execution")

UNRESOLVED = ("intent", "unknown", "submitted")
OPEN = "open"


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The KST calendar day containing `now`, as UTC datetimes (the daily cap's window)."""
    local = now.astimezone(KST)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(now.tzinfo), (start + timedelta(days=1)).astimezone(now.tzinfo)


def order_krw(request: OrderRequest, price: Decimal) -> Decimal:
    """KRW value of an order: the amount for a market buy, qty × price otherwise."""
    if request.amount is not None:
        return request.amount
    return (request.qty or ZERO) * price


class Executor:
    """Submits orders through the client with intent records kept in the state file."""

    def __init__(self, ctx: Any, session: Any, ledger: Any, *, kind: str) -> None:
        self.ctx = ctx
        self.session = session
        self.ledger = ledger
        self.kind = kind
        self.client = ctx.client
        self.clock = ctx.clock

    # ---- safety ------------------------------------------------------------------------------
    def check_rails(self, request: OrderRequest, krw_value: Decimal, still_needed_krw: Decimal | None) -> None:
        """Kill switch, per-order cap, per-day cap, notional sanity; SafetyStop before any write."""
        trading = self.ctx.settings.trading
        reason = self.ctx.kill_switch
        if reason:
            raise SafetyStop(f"kill switch active ({reason}): no new orders")
        if krw_value > trading.max_order_krw:
            raise SafetyStop(f"{request.target} {request.side} of {krw_value:,.0f} KRW exceeds trading.max_order_krw "
                             f"({trading.max_order_krw:,.0f} KRW); order refused")
        start, end = day_bounds(self.clock.now())
        today = self.ledger.traded_krw(start, end)
        if today + krw_value > trading.max_daily_krw:
            raise SafetyStop(f"{request.target} {request.side} of {krw_value:,.0f} KRW would bring today's traded total "
                             f"to {today + krw_value:,.0f} KRW, above trading.max_daily_krw ({trading.max_daily_krw:,.0f}); refused")
        if still_needed_krw is not None:
            limit = still_needed_krw * (1 + trading.notional_tolerance)
            if krw_value > limit:
                raise SafetyStop(f"{request.target} {request.side} of {krw_value:,.0f} KRW exceeds what its plan still needs "
                                 f"({still_needed_krw:,.0f} KRW + {trading.notional_tolerance:%} tolerance); refused")

    # ---- submission ---------------------------------------------------------------------------
    def submit(self, record: dict[str, Any], request: OrderRequest, *, mid: Decimal, plan_id: str | None) -> dict[str, Any]:
        """Write the intent, place the order, read its result; the record is updated in place and saved."""
        now = self.clock.now()
        record.update(uoid=request.user_order_id, target=request.target, side=request.side, status="intent",
                      amount_krw=_s(request.amount), qty=_s(request.qty), limit_price=_s(request.limit_price),
                      mid=_s(mid), created_at=now.isoformat(), not_found=0)
        crashpoints.hit("intent.before")
        self.session.save()
        self._ledger_row(record, plan_id)
        crashpoints.hit("intent.after")
        try:
            order_id = self.client.place_order(request)
        except DuplicateOrderId:
            record["status"] = "unknown"  # the id was used: the order may exist, reconcile by uoid
        except TemporaryExchangeError as exc:
            if exc.code:  # Coinone answered with an error code (4, 405): the order was refused, not lost
                record.update(status="rejected", error=str(exc), error_code=exc.code, temporary=True)
            else:
                log.warning("order %s: result unknown (%s); will reconcile by user_order_id", request.user_order_id, exc)
                record["status"] = "unknown"
        except OrderRejected as exc:
            record.update(status="rejected", error=str(exc), error_code=exc.code,
                          insufficient=isinstance(exc, InsufficientBalance))
        except ProtocolError as exc:  # an unreadable answer: the order may exist; look it up next run
            log.warning("order %s: unreadable answer (%s); will reconcile by user_order_id", request.user_order_id, exc)
            record["status"] = "unknown"
        else:
            crashpoints.hit("order.placed")
            record.update(status="submitted", order_id=order_id)
        self.session.save()
        self._ledger_row(record, plan_id)
        if record["status"] == "submitted":
            self.refresh(record, plan_id)
        return record

    def refresh(self, record: dict[str, Any], plan_id: str | None) -> None:
        """Read the order's result by id (or user_order_id) and store its fills."""
        try:
            if record.get("order_id"):
                order = self.client.order_detail(record["target"], order_id=record["order_id"])
            else:
                order = self.client.order_detail(record["target"], user_order_id=record["uoid"])
        except OrderNotFound:
            self._not_found(record)
        except TemporaryExchangeError as exc:
            log.warning("order %s: detail unavailable (%s); will retry next run", record["uoid"], exc)
            return
        else:
            apply_fills(record, order)
        # ledger first: a run that dies in between leaves the state unresolved, so the next run repeats both
        self._ledger_row(record, plan_id)
        self.session.save()

    def reconcile(self, record: dict[str, Any], plan_id: str | None, run_id: str) -> None:
        """Resolve an intent/unknown/open record; counts "not found" at most once per run."""
        if record.get("status") not in (*UNRESOLVED, OPEN):
            return
        if record.get("status") != "submitted" and record.get("checked_run") == run_id:
            return
        record["checked_run"] = run_id
        self.refresh(record, plan_id)

    def _not_found(self, record: dict[str, Any]) -> None:
        if record.get("order_id"):
            record["status"] = "unknown"  # the exchange gave us an id, so it exists: never declare it lost
            return
        record["not_found"] = int(record.get("not_found", 0)) + 1
        limit = self.ctx.settings.execution.lost_order_checks
        record["status"] = "lost" if record["not_found"] >= limit else "unknown"
        log.warning("order %s not found on the exchange (%d/%d)", record["uoid"], record["not_found"], limit)

    def _ledger_row(self, record: dict[str, Any], plan_id: str | None) -> None:
        now = self.clock.now().isoformat()
        self.ledger.upsert_order({
            "user_order_id": record["uoid"], "created_at": record.get("created_at", now), "updated_at": now,
            "plan_id": plan_id, "kind": record.get("kind", self.kind), "target": record["target"], "side": record["side"],
            "order_type": "MARKET", "amount_krw": record.get("amount_krw"), "qty": record.get("qty"),
            "limit_price": record.get("limit_price"), "mid_price": record.get("mid"), "order_id": record.get("order_id"),
            "status": record["status"], "executed_qty": record.get("executed_qty", "0"),
            "executed_krw": record.get("executed_krw", "0"), "avg_price": record.get("avg_price", "0"),
            "fee": record.get("fee", "0"), "slippage_bps": record.get("slippage_bps"),
        })


def apply_fills(record: dict[str, Any], order: Order) -> None:
    """Copy an order's execution into its record; terminal orders become `done`, open ones `open`."""
    record.update(order_id=order.order_id, exchange_status=order.status, executed_qty=str(order.executed_qty),
                  executed_krw=str(order.executed_krw), avg_price=str(order.average_executed_price), fee=str(order.fee),
                  status=OPEN if order.is_open else "done")
    mid = Decimal(record.get("mid") or 0)
    if order.executed_qty > 0 and mid > 0:
        record["slippage_bps"] = str(slippage_bps(record["side"], mid, order.average_executed_price))


def executed(record: dict[str, Any], unit: str) -> Decimal:
    """What an order record filled, in the leg's unit ("krw" for buys, "qty" for sells)."""
    return Decimal(record.get("executed_krw" if unit == "krw" else "executed_qty") or 0)


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def guard_price(side: str, best_ask: Decimal, best_bid: Decimal, max_slippage: Decimal,
                round_down: Callable[[Decimal], Decimal], round_up: Callable[[Decimal], Decimal]) -> Decimal:
    """The MARKET order's limit_price: a ceiling above the ask for buys, a floor below the bid for sells."""
    if side == "BUY":
        return round_down(best_ask * (1 + max_slippage))
    return round_up(best_bid * (1 - max_slippage))
