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
from typing import TYPE_CHECKING, Callable

from kairos import crashpoints
from kairos.binding import order_uid
from kairos.clock import KST, to_ms
from kairos.coinone.models import OrderRequest, TickTable
from kairos.core.types import Side
from kairos.engine.model import OrderRecord, OrderStatus, State, TwapPlan
from kairos.errors import (
    AuthError, DuplicateOrderId, ExchangeError, InsufficientBalance, OrderNotFound, RequestRejected,
    SafetyStop, StateError, TemporaryExchangeError,
)
from kairos.money import ZERO, fmt_krw
from kairos.notify.texts import A, side_word

if TYPE_CHECKING:
    from kairos.context import Context
    from kairos.ledger import Ledger
    from kairos.state import StateSession

log = logging.getLogger("kairos.execution")

HISTORY_PAGES = 5  # completed-order pages (100 rows each) read before giving up on proving absence


class CeilingBreached(SafetyStop):
    """A leg would execute more than its total (exit 4): what the exchange says it filled + the order > total."""


class RailRefused(SafetyStop):
    """A safety rail (kill switch, per-order or per-day cap, notional sanity) refused an order before its intent."""


@dataclass(frozen=True)
class Slice:
    """One guarded market order to place: what, how much (KRW for a buy, coin for a sell), at which book."""

    plan_id: str
    target: str
    side: Side
    size: Decimal
    bid: Decimal
    ask: Decimal
    mid: Decimal
    ticks: TickTable
    slot: int = 0
    attempt: int = 1
    slots_to: int | None = None  # TWAP: the slots this order uses once accepted
    needed_krw: Decimal | None = None  # what the plan still needs (the notional rail); None: not checked


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

    @property
    def state(self) -> State:
        return self.session.data

    # ---- the one guarded-order sequence ----------------------------------------------------------
    def user_order_id(self, plan_id: str, coin: str, slot: int, attempt: int) -> str:
        """The deterministic user_order_id of an order: installation, plan, coin, slot and attempt."""
        installation = self.state.installation
        if installation is None:
            raise StateError("the state file has no installation id; no order can be named (run under the lock)")
        return order_uid(installation.id, plan_id, coin, f"s{slot:03d}-a{attempt}")

    def place_guarded(self, order: Slice, add: Callable[[OrderRecord], None],
                      before_intent: Callable[[], None] | None = None) -> OrderRecord:
        """Guard price → user_order_id → request → safety rails → `before_intent()` → intent record (`add`
        puts it in the state) → submit. Every refusal comes before the intent is written."""
        guard = guard_price(order.side, order.ask, order.bid, self.ctx.settings.strategy.rebalance.max_slippage,
                            order.ticks.round_down, order.ticks.round_up)
        uoid = self.user_order_id(order.plan_id, order.target, order.slot, order.attempt)
        if any(r.uoid == uoid for _, r in self.state.records()):
            raise StateError(f"order id {uoid} already recorded in the state file; refusing to send it twice")
        request = (OrderRequest.market_buy(order.target, order.size, guard, uoid) if order.side is Side.BUY
                   else OrderRequest.market_sell(order.target, order.size, guard, uoid))
        self.check_rails(request, order_krw(request, order.bid), order.needed_krw)
        if before_intent is not None:
            before_intent()
        record = OrderRecord(uoid=uoid, target=order.target, side=order.side, status=OrderStatus.INTENT,
                             created_at=self.clock.now(), amount_krw=request.amount, qty=request.qty,
                             limit_price=request.limit_price, mid=order.mid, slot=order.slot, attempt=order.attempt,
                             slots_to=order.slots_to, kind="twap" if self.kind == "twap" else "immediate",
                             plan_id=order.plan_id)
        add(record)
        return self.submit(record, request)

    # ---- safety ------------------------------------------------------------------------------
    def check_rails(self, request: OrderRequest, krw_value: Decimal, still_needed_krw: Decimal | None) -> None:
        """Kill switch, per-order cap, per-day cap, notional sanity; SafetyStop before any write."""
        trading = self.ctx.settings.trading
        reason = self.ctx.kill_switch
        if reason:
            raise RailRefused(f"kill switch active ({reason}): no new orders")
        if krw_value > trading.max_order_krw:
            raise RailRefused(f"{request.target} {request.side} of {krw_value:,.0f} KRW exceeds trading.max_order_krw "
                             f"({trading.max_order_krw:,.0f} KRW); order refused")
        start, end = day_bounds(self.clock.now())
        today = self.ledger.traded_krw(start, end)
        if today + krw_value > trading.max_daily_krw:
            raise RailRefused(f"{request.target} {request.side} of {krw_value:,.0f} KRW would bring today's traded total "
                             f"to {today + krw_value:,.0f} KRW, above trading.max_daily_krw ({trading.max_daily_krw:,.0f}); refused")
        if still_needed_krw is not None:
            limit = still_needed_krw * (1 + trading.notional_tolerance)
            if krw_value > limit:
                raise RailRefused(f"{request.target} {request.side} of {krw_value:,.0f} KRW exceeds what its plan still needs "
                                 f"({still_needed_krw:,.0f} KRW + {trading.notional_tolerance:%} tolerance); refused")

    # ---- submission ---------------------------------------------------------------------------
    def submit(self, record: OrderRecord, request: OrderRequest) -> OrderRecord:
        """Save the intent, place the order, read its result; the record is updated in place and saved."""
        crashpoints.hit("intent.before")
        self.session.save()
        self._ledger_row(record)
        crashpoints.hit("intent.after")
        try:
            order_id = self.client.place_order(request)
        except DuplicateOrderId:
            record.status = OrderStatus.UNKNOWN  # the id was used: the order may exist, reconcile by uoid
        except TemporaryExchangeError as exc:
            if exc.code:  # Coinone answered with an error code (4, 405): the order was refused, not lost
                record.status, record.error, record.error_code, record.temporary = OrderStatus.REJECTED, str(exc), exc.code, True
            else:
                log.warning("order %s: result unknown (%s); will reconcile by user_order_id", request.user_order_id, exc)
                record.status = OrderStatus.UNKNOWN
        except RequestRejected as exc:  # 103, 105, 107, 108, 109, 161-167, 306-311 …: proves it was not placed
            record.status, record.error, record.error_code = OrderStatus.REJECTED, str(exc), exc.code
            record.insufficient = isinstance(exc, InsufficientBalance)
        except AuthError as exc:  # the request was not accepted at all; a human must fix the keys
            record.status, record.error, record.error_code = OrderStatus.REJECTED, str(exc), exc.code
            self.session.save()
            self._ledger_row(record)
            raise
        except ExchangeError as exc:  # an unreadable answer or an unmapped code: it may exist; look it up later
            log.warning("order %s: answer does not prove it was refused (%s); will reconcile by user_order_id",
                        request.user_order_id, exc)
            record.status = OrderStatus.UNKNOWN
        else:
            crashpoints.hit("order.placed")
            record.status, record.order_id = OrderStatus.SUBMITTED, order_id
        self.session.save()
        self._ledger_row(record)
        log.info("order %s: %s %s %s (limit %s) → %s%s", request.user_order_id, request.side, request.target,
                 f"{request.amount} KRW" if request.amount is not None else f"qty {request.qty}", request.limit_price,
                 record.status.value, f" ({record.error})" if record.error else "")
        if record.status is OrderStatus.SUBMITTED:
            self.refresh(record)
        return record

    def refresh(self, record: OrderRecord) -> None:
        """Read the order's result by id (or user_order_id) and store its fills."""
        try:
            if record.order_id:
                order = self.client.order_detail(record.target, order_id=record.order_id)
            else:
                order = self.client.order_detail(record.target, user_order_id=record.uoid)
        except OrderNotFound:
            self._not_found(record)
        except AuthError:
            raise
        except ExchangeError as exc:  # 107, 313, an unmapped code, a 5xx, a cut-off body: not an answer
            log.warning("order %s: detail not usable (%s); left unresolved, checked again next run", record.uoid, exc)
            return
        else:
            record.apply(order)
            log.info("order %s (%s): %s, executed %s %s for %s KRW, avg %s, fee %s KRW", record.uoid, order.order_id,
                     order.status, order.executed_qty, record.target, order.executed_krw,
                     order.average_executed_price, order.fee)
        # ledger first: a run that dies in between leaves the state unresolved, so the next run repeats both
        self._ledger_row(record)
        self.session.save()

    def reconcile(self, record: OrderRecord, run_id: str) -> None:
        """Resolve an intent/unknown/open record; a "not found" counts at most once per run."""
        if not record.pending:
            return
        if record.status is not OrderStatus.SUBMITTED and record.checked_run == run_id:
            return
        record.checked_run = run_id
        self.refresh(record)

    def _not_found(self, record: OrderRecord) -> None:
        record.status = OrderStatus.UNKNOWN
        if record.order_id:
            return  # the exchange gave us an id, so it exists: never declare it lost
        record.not_found += 1
        ex = self.ctx.settings.execution
        waited = self.clock.now() - record.created_at
        if waited < timedelta(minutes=ex.lost_after_minutes) or record.not_found < ex.lost_order_checks:
            log.warning("order %s not found on the exchange yet (%d answers, %d min since its intent); still unresolved",
                        record.uoid, record.not_found, int(waited.total_seconds() // 60))
            return
        try:
            evidence = self.evidence(record.target, record.created_at)
        except AuthError:
            raise
        except ExchangeError as exc:  # the lists could not be read: nothing is proven, so nothing is lost
            log.warning("order %s: the account's order lists are unavailable (%s); still unresolved", record.uoid, exc)
            return
        if record.uoid in evidence.uoids:  # the lists know it although detail did not: adopt it by its id
            record.order_id = evidence.uoids[record.uoid]
            log.warning("order %s found in the account's order lists as %s", record.uoid, record.order_id)
            return
        if evidence.unexplained or not evidence.complete:
            log.warning("order %s: not found by user_order_id, but %s on %s cannot be told apart from it; "
                        "still unresolved", record.uoid,
                        f"{len(evidence.unexplained)} unknown order(s)" if evidence.unexplained else "a long history",
                        record.target)
            return
        record.status, record.lost_at = OrderStatus.LOST, self.clock.now()
        log.warning("order %s declared lost: not found by user_order_id after %d min, and not in the account's "
                    "active or completed orders of %s", record.uoid, int(waited.total_seconds() // 60), record.target)

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
            ids = {r.order_id for _, r in self.state.records()}
            ids |= self.ledger.order_ids()
            self._known = {i for i in ids if i}
        return self._known

    def watch_lost(self) -> list[OrderRecord]:
        """Re-read the order lists once per market that has lost records still watched; adopt late orders.

        Returns the adopted records (already refreshed, logged and alerted once each).
        """
        now = self.clock.now()
        grace = timedelta(minutes=self.ctx.settings.execution.expiry_grace_minutes)
        watched: dict[str, list[OrderRecord]] = {}
        for _plan_id, record, until in self.state.lost():
            if now <= until + grace:
                watched.setdefault(record.target, []).append(record)
        adopted = []
        for target, records in watched.items():
            since = min(r.created_at for r in records)
            try:
                evidence = self.evidence(target, since)
            except ExchangeError as exc:
                log.warning("lost-order watch on %s skipped this run (%s)", target, exc)
                continue
            for record in records:
                order_id = evidence.uoids.get(record.uoid)
                if order_id is None:
                    continue
                record.status, record.order_id, record.late = OrderStatus.UNKNOWN, order_id, True
                self.refresh(record)
                adopted.append(record)
                log.warning("late order adopted: %s (%s) executed %s %s", record.uoid, order_id,
                            record.executed_qty, record.target)
                t = self.ctx.out.t
                self.ctx.alerts.send("critical_risk", t(A["late_title"], uoid=record.uoid),
                                     [t(A["late_line"], coin=record.target, side=side_word(t, record.side),
                                        qty=record.executed_qty, krw=fmt_krw(record.executed_krw))],
                                     dedupe_key=f"late_order:{record.uoid}")
        return adopted

    def cancel_open(self, plan: TwapPlan) -> int:
        """Cancel every open order of a plan by order id and reconcile it (fills kept); the number cancelled."""
        return sum(self.cancel_record(record) for _, record in plan.records()
                   if record.status is OrderStatus.OPEN and record.order_id)

    def cancel_record(self, record: OrderRecord) -> bool:
        """Cancel one open order by its order id, then reconcile it; True when the cancel was accepted."""
        assert record.order_id is not None
        try:
            self.client.cancel_order(record.target, order_id=record.order_id)
            accepted = True
        except ExchangeError as exc:  # 116/117: it filled or was cancelled meanwhile; the refresh tells
            log.warning("cancel of %s: %s", record.uoid, exc)
            accepted = False
        self.refresh(record)
        return accepted

    # ---- the hard ceiling -----------------------------------------------------------------------------
    @staticmethod
    def check_ceiling(what: str, total: Decimal, executed: Decimal, size: Decimal, tolerance: Decimal) -> None:
        """CeilingBreached unless executed (as the exchange says) + this order stays within total + tolerance."""
        if executed + size > total + tolerance:
            raise CeilingBreached(f"{what}: the exchange reports {executed} executed; another {size} would exceed the "
                                  f"planned total {total} by more than {tolerance}; no order sent")

    def _ledger_row(self, record: OrderRecord) -> None:
        now = self.clock.now()
        self.ledger.upsert_order({
            "user_order_id": record.uoid, "created_at": record.created_at.isoformat(), "updated_at": now.isoformat(),
            "plan_id": record.plan_id, "kind": record.kind or self.kind, "target": record.target,
            "side": record.side.value, "order_type": "MARKET", "amount_krw": _s(record.amount_krw), "qty": _s(record.qty),
            "limit_price": _s(record.limit_price), "mid_price": _s(record.mid), "order_id": record.order_id,
            "status": record.status.value, "executed_qty": str(record.executed_qty),
            "executed_krw": str(record.executed_krw), "avg_price": str(record.avg_price), "fee": str(record.fee),
            "slippage_bps": _s(record.slippage_bps),
        })


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def guard_price(side: Side, best_ask: Decimal, best_bid: Decimal, max_slippage: Decimal,
                round_down: Callable[[Decimal], Decimal], round_up: Callable[[Decimal], Decimal]) -> Decimal:
    """The MARKET order's limit_price: a ceiling above the ask for buys, a floor below the bid for sells."""
    if side is Side.BUY:
        return round_down(best_ask * (1 + max_slippage))
    return round_up(best_bid * (1 - max_slippage))
