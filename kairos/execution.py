"""Durable order submission and reconciliation, shared by the immediate rebalance and the TWAP engine.

The write-ahead contract (DESIGN §3): an order's record — with its deterministic lowercase
`user_order_id` — is saved to the state file with status `intent` *before* the request; the
returned order id after it. A run that dies in between leaves an `intent`/`unknown` record that
the next run looks up by `user_order_id`.

"Lost" is a conclusion from the exchange, never from a counter of our own runs. An unresolved
record becomes `lost` only when all of these hold: `execution.lost_after_minutes` have passed since
its intent; order/detail by `user_order_id` answers not-found (on at least `lost_order_checks`
separate runs); and the account's active orders and completed orders of that market since the
intent hold no order that is, or could be, this one (an order id we do not know whose
`user_order_id` the exchange does not tell us keeps the record unresolved). A lost record is still
watched until its plan ends (+ grace): a late order found then is adopted with its fills.

On submit, only an answer that proves the order was not placed (a request/order refusal code, or
a rate-limit / maintenance code) makes the record `rejected`; anything else stays `unknown`.
Safety rails are checked before the intent is written, so a refusal never leaves a half-written
intent.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable

from kairos import crashpoints
from kairos.clock import KST, to_ms
from kairos.coinone.models import Order, OrderRequest
from kairos.core.twap import slippage_bps
from kairos.errors import (
    AuthError, DuplicateOrderId, ExchangeError, InsufficientBalance, OrderNotFound, RequestRejected,
    SafetyStop, TemporaryExchangeError,
)
from kairos.money import ZERO, fmt_krw, to_decimal
from kairos.notify.texts import A, side_word

if TYPE_CHECKING:
    from kairos.context import Context
    from kairos.ledger import Ledger
    from kairos.state import StateSession

log = logging.getLogger("kairos.execution")

UNRESOLVED = ("intent", "unknown", "submitted")
OPEN = "open"
LOST = "lost"
HISTORY_PAGES = 5  # completed-order pages (100 rows each) read before giving up on proving absence


class CeilingBreached(SafetyStop):
    """A leg would execute more than its total (exit 4): what the exchange says it filled + the order > total."""


@dataclass
class Evidence:
    """What the account's order lists say about one market since a moment (read once per run)."""

    uoids: dict[str, str] = field(default_factory=dict)  # user_order_id → order_id, where the exchange said so
    unexplained: set[str] = field(default_factory=set)  # order ids we do not know, whose user_order_id is unknown
    complete: bool = True  # False when the history was longer than we read


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

    def __init__(self, ctx: "Context", session: "StateSession", ledger: "Ledger", *, kind: str) -> None:
        self.ctx = ctx
        self.session = session
        self.ledger = ledger
        self.kind = kind
        self.client = ctx.client
        self.clock = ctx.clock
        self._evidence: dict[str, tuple[datetime, Evidence]] = {}
        self._known: set[str] | None = None

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
        except RequestRejected as exc:  # 103, 105, 107, 108, 109, 161-167, 306-311 …: proves it was not placed
            record.update(status="rejected", error=str(exc), error_code=exc.code,
                          insufficient=isinstance(exc, InsufficientBalance))
        except AuthError as exc:  # the request was not accepted at all; a human must fix the keys
            record.update(status="rejected", error=str(exc), error_code=exc.code)
            self.session.save()
            self._ledger_row(record, plan_id)
            raise
        except ExchangeError as exc:  # an unreadable answer or an unmapped code: it may exist; look it up later
            log.warning("order %s: answer does not prove it was refused (%s); will reconcile by user_order_id",
                        request.user_order_id, exc)
            record["status"] = "unknown"
        else:
            crashpoints.hit("order.placed")
            record.update(status="submitted", order_id=order_id)
        self.session.save()
        self._ledger_row(record, plan_id)
        log.info("order %s: %s %s %s (limit %s) → %s%s", request.user_order_id, request.side, request.target,
                 f"{request.amount} KRW" if request.amount is not None else f"qty {request.qty}", request.limit_price,
                 record["status"], f" ({record.get('error')})" if record.get("error") else "")
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
        except AuthError:
            raise
        except ExchangeError as exc:  # 107, 313, an unmapped code, a 5xx, a cut-off body: not an answer
            log.warning("order %s: detail not usable (%s); left unresolved, checked again next run", record["uoid"], exc)
            return
        else:
            apply_fills(record, order)
            log.info("order %s (%s): %s, executed %s %s for %s KRW, avg %s, fee %s KRW", record["uoid"], order.order_id,
                     order.status, order.executed_qty, record["target"], order.executed_krw,
                     order.average_executed_price, order.fee)
        # ledger first: a run that dies in between leaves the state unresolved, so the next run repeats both
        self._ledger_row(record, plan_id)
        self.session.save()

    def reconcile(self, record: dict[str, Any], plan_id: str | None, run_id: str) -> None:
        """Resolve an intent/unknown/open record; a "not found" counts at most once per run."""
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
        record["status"] = "unknown"
        created = datetime.fromisoformat(record["created_at"])
        ex = self.ctx.settings.execution
        waited = self.clock.now() - created
        if waited < timedelta(minutes=ex.lost_after_minutes) or record["not_found"] < ex.lost_order_checks:
            log.warning("order %s not found on the exchange yet (%d answers, %d min since its intent); still unresolved",
                        record["uoid"], record["not_found"], int(waited.total_seconds() // 60))
            return
        try:
            evidence = self.evidence(record["target"], created)
        except AuthError:
            raise
        except ExchangeError as exc:  # the lists could not be read: nothing is proven, so nothing is lost
            log.warning("order %s: the account's order lists are unavailable (%s); still unresolved", record["uoid"], exc)
            return
        if record["uoid"] in evidence.uoids:  # the lists know it although detail did not: adopt it by its id
            record["order_id"] = evidence.uoids[record["uoid"]]
            log.warning("order %s found in the account's order lists as %s", record["uoid"], record["order_id"])
            return
        if evidence.unexplained or not evidence.complete:
            log.warning("order %s: not found by user_order_id, but %s on %s cannot be told apart from it; "
                        "still unresolved", record["uoid"],
                        f"{len(evidence.unexplained)} unknown order(s)" if evidence.unexplained else "a long history",
                        record["target"])
            return
        record.update(status=LOST, lost_at=self.clock.now().isoformat())
        log.warning("order %s declared lost: not found by user_order_id after %d min, and not in the account's "
                    "active or completed orders of %s", record["uoid"], int(waited.total_seconds() // 60), record["target"])

    # ---- what the account's order lists say ----------------------------------------------------
    def evidence(self, target: str, since: datetime) -> Evidence:
        """Active and completed orders of one market since `since` (cached for the run, widest window kept)."""
        cached = self._evidence.get(target)
        if cached is not None and cached[0] <= since:
            return cached[1]
        found = Evidence()
        known = self.known_order_ids()
        rows: list[tuple[str, str | None]] = [(o.order_id, o.user_order_id) for o in self.client.active_orders(target)]
        start = to_ms(since - timedelta(minutes=1))
        end = to_ms(self.clock.now())
        before: str | None = None
        for _page in range(HISTORY_PAGES):
            page = self.client.completed_orders_since(start, end, target, to_trade_id=before)
            rows.extend((t.order_id, t.user_order_id) for t in page)
            if len(page) < 100:
                break
            before = page[-1].trade_id
        else:
            found.complete = False
        for order_id, uoid in rows:
            if uoid:
                found.uoids[uoid] = order_id
            elif order_id not in known:
                found.unexplained.add(order_id)
        for order_id in sorted(found.unexplained):  # detail by order id may tell its user_order_id
            try:
                uoid = self.client.order_detail(target, order_id=order_id).user_order_id
            except ExchangeError:
                continue
            if uoid:
                found.uoids[uoid] = order_id
                found.unexplained.discard(order_id)
        self._evidence[target] = (since, found)
        return found

    def known_order_ids(self) -> set[str]:
        """Every exchange order id this installation has recorded (state file and ledger)."""
        if self._known is None:
            ids = {r.get("order_id") for r in all_records(self.session.data)}
            ids |= self.ledger.order_ids()
            self._known = {i for i in ids if i}
        return self._known

    def watch_lost(self) -> list[dict[str, Any]]:
        """Re-read the order lists once per market that has lost records still watched; adopt late orders.

        Returns the adopted records (already refreshed, logged and alerted once each).
        """
        now = self.clock.now()
        grace = timedelta(minutes=self.ctx.settings.execution.expiry_grace_minutes)
        watched: dict[str, list[tuple[dict[str, Any], str | None]]] = {}
        for plan_id, record, until in lost_records(self.session.data):
            if until is None or now <= until + grace:
                watched.setdefault(record["target"], []).append((record, plan_id))
        adopted = []
        for target, records in watched.items():
            since = min(datetime.fromisoformat(r["created_at"]) for r, _ in records)
            try:
                evidence = self.evidence(target, since)
            except ExchangeError as exc:
                log.warning("lost-order watch on %s skipped this run (%s)", target, exc)
                continue
            for record, plan_id in records:
                order_id = evidence.uoids.get(record["uoid"])
                if order_id is None:
                    continue
                record.update(status="unknown", order_id=order_id, late=True)
                self.refresh(record, plan_id)
                adopted.append(record)
                log.warning("late order adopted: %s (%s) executed %s %s", record["uoid"], order_id,
                            record.get("executed_qty"), record["target"])
                t = self.ctx.out.t
                self.ctx.alerts.send("critical_risk", t(A["late_title"], uoid=record["uoid"]),
                                     [t(A["late_line"], coin=record["target"], side=side_word(t, record["side"]),
                                        qty=record.get("executed_qty", "0"),
                                        krw=fmt_krw(to_decimal(record.get("executed_krw", "0"))))],
                                     dedupe_key=f"late_order:{record['uoid']}")
        return adopted

    def cancel_open(self, plan: dict[str, Any]) -> int:
        """Cancel every open order of a plan by order id and reconcile it (fills kept); the number cancelled."""
        return sum(self.cancel_record(record, plan["plan_id"]) for leg in plan["legs"] for record in leg["orders"]
                   if record.get("status") == OPEN and record.get("order_id"))

    def cancel_record(self, record: dict[str, Any], plan_id: str | None) -> bool:
        """Cancel one open order by its order id, then reconcile it; True when the cancel was accepted."""
        try:
            self.client.cancel_order(record["target"], order_id=record["order_id"])
            accepted = True
        except ExchangeError as exc:  # 116/117: it filled or was cancelled meanwhile; the refresh tells
            log.warning("cancel of %s: %s", record["uoid"], exc)
            accepted = False
        self.refresh(record, plan_id)
        return accepted

    # ---- the hard ceiling -----------------------------------------------------------------------------
    @staticmethod
    def check_ceiling(what: str, total: Decimal, executed: Decimal, size: Decimal, tolerance: Decimal) -> None:
        """CeilingBreached unless executed (as the exchange says) + this order stays within total + tolerance."""
        if executed + size > total + tolerance:
            raise CeilingBreached(f"{what}: the exchange reports {executed} executed; another {size} would exceed the "
                                  f"planned total {total} by more than {tolerance}; no order sent")

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


def all_records(state: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every order record in the state: TWAP leg orders and immediate orders."""
    for plan in state.get("plans", []):
        for leg in plan["legs"]:
            yield from leg["orders"]
    yield from state.get("orders", {}).values()


def lost_records(state: dict[str, Any]) -> Iterable[tuple[str | None, dict[str, Any], datetime | None]]:
    """(plan id, record, until) for every lost record: until = its plan's end (immediate: intent + 1 day)."""
    for plan in state.get("plans", []):
        end = datetime.fromisoformat(plan["end_at"])
        for leg in plan["legs"]:
            for record in leg["orders"]:
                if record.get("status") == LOST:
                    yield plan["plan_id"], record, end
    for record in state.get("orders", {}).values():
        if record.get("status") == LOST:
            yield record.get("plan_id"), record, datetime.fromisoformat(record["created_at"]) + timedelta(days=1)


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
