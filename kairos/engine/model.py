"""The state file as typed models: every field, its type and its allowed values declared once, here.

`StateStore.read` decodes the JSON once (`kairos.engine.codec`), `save` encodes it once; everything
between works on these objects. Models are mutable (a tick updates a record in place and saves at
each durable step) and compare by identity (two records with the same fields are still two orders).

Layout of a state file, schema_version 2 (see `kairos.engine.migrate` for older versions):
    season        regime, since, the last weekly analysis
    rebalance     the last quarter done, when, how, its plan
    plans         TWAP plans not yet archived, each with its legs; a leg holds its order records
    orders        immediate-rebalance order records awaiting their result, by user_order_id
    heartbeat     last run time per job (for --system-status)
    notices       one-time alert markers (e.g. "waiting for KRW" per plan and coin) and when they were set
    account_orders  order id → user_order_id ("" = the exchange does not say) of account orders looked up
    installation  this data directory's installation id and the exchange it belongs to
    pending_rebalance  a regime-change rebalance deferred until unknown orders are resolved
    seq           the plan-id sequence
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Iterator, Literal

from kairos.coinone.models import RangeUnit, TickTable
from kairos.core import twap
from kairos.core.types import Regime, Side, Word
from kairos.money import ZERO

SCHEMA_VERSION = 2

POSITIVE: dict[str, Any] = {"gt": 0}
NON_NEGATIVE: dict[str, Any] = {"min": 0}
AT_LEAST_ONE: dict[str, Any] = {"min": 1}


class PlanStatus(Word):
    ACTIVE = "active"
    COMPLETED = "completed"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    CANCELED = "canceled"


FINISHED = frozenset(PlanStatus) - {PlanStatus.ACTIVE}
CLEARABLE = FINISHED - {PlanStatus.COMPLETED}


class LegStatus(Word):
    ACTIVE = "active"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    CANCELED = "canceled"


class OrderStatus(Word):
    INTENT = "intent"  # written before the request; the result is not known
    UNKNOWN = "unknown"  # sent, or maybe sent: looked up by user_order_id
    SUBMITTED = "submitted"  # the exchange gave an order id; its fills are read next
    OPEN = "open"  # resting on the book
    DONE = "done"  # terminal on the exchange, fills recorded
    REJECTED = "rejected"  # the exchange's answer proves it was not placed
    LOST = "lost"  # proven absent by the exchange's lists; still watched until its plan ends


UNRESOLVED = frozenset({OrderStatus.INTENT, OrderStatus.UNKNOWN, OrderStatus.SUBMITTED})
PENDING = UNRESOLVED | {OrderStatus.OPEN}  # no new order on a leg while one of these is there

Unit = Literal["krw", "qty"]
Tick = tuple[Decimal, Decimal | None, Decimal]  # [range_min, next_range_min (null: no upper bound), price_unit]
_ID = re.compile(r"[a-z0-9]{8}")


@dataclass(eq=False)
class OrderRecord:
    """One order as this installation knows it: the intent, then the exchange's answer and fills."""

    uoid: str  # our user_order_id, deterministic (kairos.binding.order_uid)
    target: str
    side: Side
    status: OrderStatus
    created_at: datetime  # when the intent was written
    amount_krw: Decimal | None = field(default=None, metadata=POSITIVE)  # market buys
    qty: Decimal | None = field(default=None, metadata=POSITIVE)  # market sells
    limit_price: Decimal | None = field(default=None, metadata=POSITIVE)  # the guard price
    mid: Decimal | None = field(default=None, metadata=NON_NEGATIVE)  # the mid when it was sent
    order_id: str | None = None
    exchange_status: str | None = None
    executed_qty: Decimal = field(default=ZERO, metadata=NON_NEGATIVE)
    executed_krw: Decimal = field(default=ZERO, metadata=NON_NEGATIVE)
    avg_price: Decimal = field(default=ZERO, metadata=NON_NEGATIVE)
    fee: Decimal = field(default=ZERO, metadata=NON_NEGATIVE)
    slippage_bps: Decimal | None = None
    not_found: int = field(default=0, metadata=NON_NEGATIVE)  # "not found" answers, at most one per run
    checked_run: str | None = None  # the run that last looked it up
    error: str | None = None
    error_code: str | None = None
    temporary: bool = False  # refused for now (rate limit, maintenance): the slot is tried again
    insufficient: bool = False  # refused for want of balance: the leg waits
    lost_at: datetime | None = None
    late: bool = False  # adopted after it was declared lost
    slot: int | None = field(default=None, metadata=NON_NEGATIVE)  # TWAP: the slot it was sent for
    attempt: int | None = field(default=None, metadata=AT_LEAST_ONE)
    slots_to: int | None = field(default=None, metadata=NON_NEGATIVE)  # TWAP: slots used once it is accepted
    plan_id: str | None = None  # immediate orders: their rebalance
    kind: Literal["twap", "immediate"] | None = None

    @property
    def pending(self) -> bool:
        """Its result is not known yet, or it still rests on the book."""
        return self.status in PENDING

    @property
    def unresolved(self) -> bool:
        return self.status in UNRESOLVED

    def executed(self, unit: Unit) -> Decimal:
        """What it filled, in a leg's unit (KRW for buys, coin for sells)."""
        return self.executed_krw if unit == "krw" else self.executed_qty

    def apply(self, order: Any) -> None:
        """Copy an exchange order's execution (`coinone.models.Order`); terminal → done, else open."""
        self.order_id = order.order_id
        self.exchange_status = order.status
        self.executed_qty, self.executed_krw = order.executed_qty, order.executed_krw
        self.avg_price, self.fee = order.average_executed_price, order.fee
        self.status = OrderStatus.OPEN if order.is_open else OrderStatus.DONE
        if order.executed_qty > 0 and self.mid is not None and self.mid > 0:
            self.slippage_bps = twap.slippage_bps(self.side, self.mid, order.average_executed_price)

    def check(self) -> tuple[str, str] | None:
        if self.side is Side.BUY and self.qty is not None or self.side is Side.SELL and self.amount_krw is not None:
            return "side", f"a {self.side} order is sized by {'amount_krw' if self.side is Side.BUY else 'qty'} only"
        return None


@dataclass(eq=False)
class Waiting:
    """Why a leg sends nothing for now (one alert per waiting episode)."""

    code: str
    why: str
    since: datetime


@dataclass(eq=False)
class Leg:
    """One coin's side of a TWAP plan, with its own ATR-chosen schedule and its orders."""

    target: str
    side: Side
    unit: Unit  # krw for buys, qty for sells
    total: Decimal = field(metadata=POSITIVE)
    est_krw: Decimal = field(metadata=NON_NEGATIVE)
    slices: int = field(metadata=AT_LEAST_ONE)
    interval_minutes: int = field(metadata=AT_LEAST_ONE)
    volatile: bool
    atr_pct: Decimal = field(metadata=NON_NEGATIVE)
    qty_unit: Decimal = field(metadata=POSITIVE)
    min_order_krw: Decimal = field(metadata=NON_NEGATIVE)
    ticks: list[Tick]  # the market's price units at plan time (no exchange call per tick)
    end_at: datetime
    slots_used: int = field(default=0, metadata=NON_NEGATIVE)
    status: LegStatus = LegStatus.ACTIVE
    waiting: Waiting | None = None
    orders: list[OrderRecord] = field(default_factory=list)
    rejections: int = field(default=0, metadata=NON_NEGATIVE)

    def check(self) -> tuple[str, str] | None:
        if self.unit != ("krw" if self.side is Side.BUY else "qty"):
            return "unit", f"a {self.side} leg is counted in {'krw' if self.side is Side.BUY else 'qty'}, not {self.unit}"
        if not self.ticks:
            return "ticks", "expected at least one price unit"
        for k, (low, high, unit) in enumerate(self.ticks):
            if unit <= 0 or (high is not None and high <= low):
                return f"ticks[{k}]", "expected [range_min, a larger next_range_min or null, a positive price_unit]"
        return None

    @property
    def is_buy(self) -> bool:
        return self.side is Side.BUY

    @property
    def active(self) -> bool:
        return self.status is LegStatus.ACTIVE

    def filled(self) -> Decimal:
        """What the leg has filled so far, in its unit, from actual fills."""
        return sum((o.executed(self.unit) for o in self.orders), ZERO)

    def remaining(self) -> Decimal:
        return max(self.total - self.filled(), ZERO)

    def unresolved(self) -> list[OrderRecord]:
        """Orders whose result is unknown or that still rest on the book: no new order meanwhile."""
        return [o for o in self.orders if o.pending]

    def fill_stats(self) -> tuple[Decimal, Decimal, Decimal]:
        """(executed qty, executed KRW, fees) over its orders."""
        return (sum((o.executed_qty for o in self.orders), ZERO), sum((o.executed_krw for o in self.orders), ZERO),
                sum((o.fee for o in self.orders), ZERO))

    def schedule(self) -> twap.Schedule:
        return twap.Schedule(self.slices, self.interval_minutes, self.volatile)

    def tick_table(self) -> TickTable:
        return TickTable(tuple(RangeUnit(low, high, unit) for low, high, unit in self.ticks))

    def step(self) -> Decimal:
        """Buys are sized in whole KRW, sells in the coin's quantity unit."""
        return Decimal(1) if self.is_buy else self.qty_unit

    def min_size(self, bid: Decimal, ask: Decimal) -> Decimal:
        """The smallest useful slice now: buys priced at the ask, sells at the bid."""
        return twap.min_slice(self.side, self.min_order_krw, self.qty_unit, ask if self.is_buy else bid)

    def consume_slots(self) -> None:
        """Every order the exchange accepted used its slots, as the run that sent it would have recorded
        (a run that died between placing an order and saving must not send a second one for that slot)."""
        for record in self.orders:
            if record.order_id and record.slots_to is not None:
                self.slots_used = max(self.slots_used, record.slots_to)

    def next_attempt(self, slot: int) -> int:
        return 1 + sum(1 for o in self.orders if o.slot == slot)


@dataclass(eq=False)
class TwapPlan:
    """A TWAP plan: one leg per order intent. Status active → completed | expired | superseded | failed |
    canceled; only active plans are executed, the others are history until they are archived."""

    plan_id: str
    kind: Literal["quarterly", "season_change"]
    status: PlanStatus
    created_at: datetime
    start_at: datetime
    end_at: datetime
    regime: Regime
    arrival: dict[str, Decimal]  # each coin's mid when the plan was made (the cost reference)
    legs: list[Leg]
    closed_at: datetime | None = None
    paused_at: datetime | None = None
    summary: dict[str, Any] | None = None  # the outcome per coin, written when the plan closes (derived)

    def check(self) -> tuple[str, str] | None:
        for j, leg in enumerate(self.legs):
            if self.arrival and leg.target not in self.arrival:
                return (f"legs[{j}].target", f"{leg.target!r} is not one of the plan's coins "
                                             f"({', '.join(sorted(self.arrival))})")
        if any(v <= 0 for v in self.arrival.values()):
            return "arrival", "expected positive prices"
        return None

    @property
    def active(self) -> bool:
        return self.status is PlanStatus.ACTIVE

    def expiry(self, grace_minutes: int) -> datetime:
        return self.end_at + timedelta(minutes=grace_minutes)

    def records(self) -> Iterator[tuple[Leg, OrderRecord]]:
        for leg in self.legs:
            for record in leg.orders:
                yield leg, record

    def settled(self) -> bool:
        """No order whose result is unknown, resting, or lost-and-watched."""
        return not any(r.pending or r.status is OrderStatus.LOST for _, r in self.records())

    def progress(self) -> Decimal:
        """Value-weighted share done (by each leg's estimated KRW)."""
        weights = [(leg.est_krw, twap.progress(leg.total, leg.filled())) for leg in self.legs]
        total = sum((w for w, _ in weights), ZERO)
        if total <= 0:
            return Decimal(1)
        return sum((w * p for w, p in weights), ZERO) / total

    def cost_bps(self, leg: Leg) -> Decimal | None:
        """A leg's average fill vs the plan's arrival mid, in bps (positive = cost)."""
        qty, krw, _ = leg.fill_stats()
        arrival = self.arrival.get(leg.target, ZERO)
        if qty <= 0 or arrival <= 0:
            return None
        return twap.slippage_bps(leg.side, arrival, krw / qty)

    def outcome(self) -> dict[str, Any]:
        """Per-leg outcome (filled, shortfall, average price, fees, cost bps) for alerts, status and the ledger."""
        legs = {}
        for leg in self.legs:
            qty, krw, fee = leg.fill_stats()
            cost = self.cost_bps(leg)
            legs[leg.target] = {
                "side": leg.side.value, "unit": leg.unit, "total": str(leg.total), "filled": str(leg.filled()),
                "shortfall": str(leg.remaining()),
                "avg_price": str((krw / qty).quantize(Decimal("0.0001"))) if qty else None,
                "fee_krw": str(fee), "cost_bps": str(cost) if cost is not None else None,
                "orders": len(leg.orders), "status": leg.status.value,
            }
        return {"progress": str(self.progress().quantize(Decimal("0.0001"))), "legs": legs}

    def shift(self, by: timedelta) -> None:
        """Move the schedule (a resumed plan's remaining slots start now)."""
        self.start_at += by
        self.end_at += by
        for leg in self.legs:
            leg.end_at += by


@dataclass(eq=False)
class Analysis:
    """The last weekly analysis (the ledger keeps every one)."""

    at: datetime
    price: Decimal = field(metadata=POSITIVE)
    ma: Decimal = field(metadata=POSITIVE)
    ratio: Decimal
    zone: str
    regime: Regime
    changed: bool
    previous: Regime | None
    weeks: int = field(metadata=NON_NEGATIVE)
    upper: Decimal
    lower: Decimal
    reason: str


@dataclass(eq=False)
class Season:
    regime: Regime | None = None
    since: datetime | None = None
    last_analysis: Analysis | None = None


@dataclass(eq=False)
class RebalanceMark:
    """The last quarterly (or full regime-change) rebalance."""

    last_quarter: str | None = None
    at: datetime | None = None
    kind: Literal["twap", "immediate", "season_change"] | None = None
    completed: bool = True  # False: the immediate run stopped before its last order
    plan_id: str | None = None


@dataclass(eq=False)
class PendingRebalance:
    kind: Literal["season_change"]
    regime: Regime
    since: datetime


@dataclass(eq=False)
class ExchangeRef:
    """The exchange a data directory belongs to (`kairos.binding.ExchangeIdentity` as stored)."""

    mode: str
    base_url: str
    key_fp: str


@dataclass(eq=False)
class Installation:
    id: str
    created_at: datetime
    exchange: ExchangeRef
    mock_initial_krw: str | None = None  # settings fixed when a simulated account is created
    paper_initial_krw: str | None = None

    def check(self) -> tuple[str, str] | None:
        if not _ID.fullmatch(self.id):
            return "id", f"expected 8 lowercase letters or digits, got {self.id!r}"
        return None


@dataclass(eq=False)
class State:
    schema_version: int
    season: Season = field(default_factory=Season)
    rebalance: RebalanceMark = field(default_factory=RebalanceMark)
    plans: list[TwapPlan] = field(default_factory=list)
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    heartbeat: dict[str, datetime] = field(default_factory=dict)
    notices: dict[str, datetime] = field(default_factory=dict)
    account_orders: dict[str, str] = field(default_factory=dict)
    installation: Installation | None = None
    pending_rebalance: PendingRebalance | None = None
    seq: int = field(default=0, metadata=NON_NEGATIVE)

    def check(self) -> tuple[str, str] | None:
        if self.schema_version != SCHEMA_VERSION:
            return "schema_version", f"expected {SCHEMA_VERSION}, got {self.schema_version}"
        seen: set[str] = set()
        for i, plan in enumerate(self.plans):
            if plan.plan_id in seen:
                return f"plans[{i}].plan_id", f"{plan.plan_id!r} appears twice"
            seen.add(plan.plan_id)
        for uoid, record in self.orders.items():
            if record.uoid != uoid:
                return f"orders[{uoid!r}].uoid", f"expected {uoid!r} (its key), got {record.uoid!r}"
        return None

    @classmethod
    def empty(cls) -> "State":
        return cls(schema_version=SCHEMA_VERSION)

    def active_plans(self) -> list[TwapPlan]:
        return [p for p in self.plans if p.active]

    def plan(self, plan_id: str) -> TwapPlan | None:
        return next((p for p in self.plans if p.plan_id == plan_id), None)

    def records(self) -> Iterator[tuple[str | None, OrderRecord]]:
        """(plan id, record) for every order in the state: TWAP leg orders and immediate orders."""
        for plan in self.plans:
            for _, record in plan.records():
                yield plan.plan_id, record
        for record in self.orders.values():
            yield record.plan_id, record

    def unresolved(self) -> list[tuple[TwapPlan, Leg, OrderRecord]]:
        """(plan, leg, order) for every TWAP order whose result is not known yet or that still rests."""
        return [(plan, leg, record) for plan in self.plans for leg, record in plan.records() if record.pending]

    def lost(self) -> Iterator[tuple[str | None, OrderRecord, datetime]]:
        """(plan id, record, watched until) for every lost record: until its plan's end (immediate: intent + 1 day)."""
        for plan in self.plans:
            for _, record in plan.records():
                if record.status is OrderStatus.LOST:
                    yield plan.plan_id, record, plan.end_at
        for record in self.orders.values():
            if record.status is OrderStatus.LOST:
                yield record.plan_id, record, record.created_at + timedelta(days=1)

    def next_plan_id(self, prefix: str, now: datetime) -> str:
        """A unique lowercase id (time + the state's sequence)."""
        self.seq += 1
        return f"{prefix}-{now.strftime('%Y%m%dt%H%M').lower()}-{self.seq}"

    def forget_notices(self, plan_ids: set[str]) -> None:
        """One-time alert markers of plans that left the state go with them."""
        self.notices = {k: v for k, v in self.notices.items() if not set(k.split(":")) & plan_ids}
