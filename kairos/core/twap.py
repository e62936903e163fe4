"""TWAP scheduling, pure: schedule choice, slot times, next slice size, leg progress.

A plan has one *leg* per coin (a BUY sized in KRW or a SELL sized in coin). Each leg has its own
schedule, chosen by that coin's ATR%. Slot k is due at start + k × interval — anchored to the
plan's start, never to when the last slice ran. Each tick consumes every due slot with one order
whose size is remaining ÷ slots left (counting the current one), from *actual* fills, capped at
`max_multiple` × nominal, never below the minimum order; a remainder below the minimum merges
into the current slice; when what remains is below the minimum the leg is done.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from kairos.core.types import Side
from kairos.money import ZERO, round_down


@dataclass(frozen=True)
class Schedule:
    slices: int
    interval_minutes: int
    volatile: bool

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.interval_minutes)

    @property
    def duration(self) -> timedelta:
        """From the first slot to the last one."""
        return self.interval * (self.slices - 1)


def choose_schedule(atr_pct: Decimal, threshold: Decimal, calm: tuple[int, int], volatile: tuple[int, int]) -> Schedule:
    """ATR% ≤ threshold → the calm (slices, minutes); above → the volatile one."""
    if atr_pct <= threshold:
        return Schedule(calm[0], calm[1], False)
    return Schedule(volatile[0], volatile[1], True)


def fit_slices(schedule: Schedule, total: Decimal, min_size: Decimal) -> Schedule:
    """Fewer slices when the total cannot give every slice the minimum order (same interval)."""
    if min_size <= 0:
        return schedule
    possible = int((total / min_size).to_integral_value(rounding=ROUND_DOWN))
    return Schedule(max(1, min(schedule.slices, possible)), schedule.interval_minutes, schedule.volatile)


def slot_time(start: datetime, slot: int, schedule: Schedule) -> datetime:
    return start + schedule.interval * slot


def due_slots(start: datetime, schedule: Schedule, now: datetime) -> int:
    """How many slots (0 … slices) are due at `now`."""
    if now < start:
        return 0
    elapsed = int((now - start) / schedule.interval)
    return min(schedule.slices, elapsed + 1)


def end_time(start: datetime, schedule: Schedule) -> datetime:
    return slot_time(start, schedule.slices - 1, schedule)


@dataclass(frozen=True)
class SliceDecision:
    size: Decimal  # in the leg's unit (KRW for buys, coin for sells); 0 = nothing to send
    slots_to: int  # slots consumed after this slice
    done: bool  # the leg has nothing meaningful left
    reason: str  # "slice", "catch_up", "after_end", "done", "not_due", "merged"


def next_slice(*, total: Decimal, filled: Decimal, slices: int, slots_used: int, due: int, after_end: bool,
               min_size: Decimal, unit: Decimal, max_multiple: Decimal) -> SliceDecision:
    """The size of the order to send now for one leg (pure; see the module docstring)."""
    remaining = max(total - filled, ZERO)
    if remaining < min_size or remaining <= 0:
        return SliceDecision(ZERO, max(due, slots_used), True, "done")
    if due <= slots_used and not after_end:
        return SliceDecision(ZERO, slots_used, False, "not_due")
    nominal = total / slices
    cap = nominal * max_multiple
    slots_left = max(slices - due + 1, 1)
    size = min(remaining / slots_left, cap) if due > slots_used else min(remaining, cap)
    size = max(size, min_size)
    reason = "catch_up" if due - slots_used > 1 else ("slice" if due > slots_used else "after_end")
    if remaining - size < min_size:
        size, reason = remaining, "merged" if slots_left > 1 else reason
    size = round_down(min(size, remaining), unit)
    if size < min_size:
        return SliceDecision(ZERO, max(due, slots_used), True, "done")
    return SliceDecision(size, max(due, slots_used), False, reason)


def min_qty_for(min_krw: Decimal, price: Decimal, qty_unit: Decimal) -> Decimal:
    """Smallest quantity on the qty grid worth at least `min_krw` at `price`."""
    if price <= 0:
        raise ValueError("price must be positive")
    units = (min_krw / price / qty_unit).to_integral_value(rounding=ROUND_CEILING)
    return units * qty_unit


def min_slice(side: Side, min_krw: Decimal, qty_unit: Decimal, price: Decimal) -> Decimal:
    """The smallest useful slice in the leg's unit (KRW for buys, coin for sells).

    A market buy smaller than one quantity unit fills nothing (CANCELED_UNDER_PRODUCT_UNIT), so a
    buy needs max(min order, one unit at the price); a sell needs the minimum order's worth of coin.
    """
    if side == Side.BUY:
        return max(min_krw, (qty_unit * price).to_integral_value(rounding=ROUND_CEILING))
    return min_qty_for(min_krw, price, qty_unit)


def fit_to_available(size: Decimal, available: Decimal, unit: Decimal, min_size: Decimal) -> tuple[Decimal, bool]:
    """Shrink a slice to what is available; (size, waiting) where waiting means below the minimum."""
    if size <= available:
        return size, False
    shrunk = round_down(max(available, ZERO), unit)
    if shrunk < min_size:
        return ZERO, True
    return shrunk, False


def slippage_bps(side: Side, reference: Decimal, average: Decimal) -> Decimal:
    """Execution cost vs a reference price in bps: positive = paid more (buy) / received less (sell)."""
    if reference <= 0 or average <= 0:
        return ZERO
    diff = (average - reference) if side == Side.BUY else (reference - average)
    return (diff / reference * 10000).quantize(Decimal("0.01"))


def progress(total: Decimal, filled: Decimal) -> Decimal:
    """Share of the leg done, 0 … 1."""
    if total <= 0:
        return Decimal(1)
    return min(max(filled / total, ZERO), Decimal(1))
