"""kairos.core.twap by tables: schedule choice, slot times, slice sizes, units, available funds, cost."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from kairos.core.twap import (
    Schedule, SliceDecision, choose_schedule, due_slots, end_time, fit_slices, fit_to_available, min_qty_for,
    next_slice, progress, slippage_bps, slot_time,
)

D = Decimal
CALM, VOLATILE = (12, 30), (24, 60)
START = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("atr, threshold, expected", [
    ("0.0375", "0.05", Schedule(12, 30, False)),
    ("0.05", "0.05", Schedule(12, 30, False)),  # ATR% ≤ threshold is calm
    ("0.0500001", "0.05", Schedule(24, 60, True)),
    ("0.0588", "0.05", Schedule(24, 60, True)),
    ("0.0588", "1", Schedule(12, 30, False)),  # threshold from the settings decides
    ("0", "0.0001", Schedule(12, 30, False)),
])
def test_choose_schedule(atr: str, threshold: str, expected: Schedule) -> None:
    assert choose_schedule(D(atr), D(threshold), CALM, VOLATILE) == expected


def test_choose_schedule_uses_the_configured_pairs() -> None:
    assert choose_schedule(D("0.1"), D("0.05"), (6, 15), (48, 20)) == Schedule(48, 20, True)
    assert choose_schedule(D("0.01"), D("0.05"), (6, 15), (48, 20)) == Schedule(6, 15, False)


@pytest.mark.parametrize("schedule, total, min_size, slices", [
    (Schedule(12, 30, False), "3000000", "5000", 12),  # plenty: unchanged
    (Schedule(12, 30, False), "100000", "5000", 12),  # 100,000 KRW still in 12 slices of 8,333
    (Schedule(12, 30, False), "100000", "9500", 10),  # BTC: one qty unit costs 9,500 KRW → 10 slices
    (Schedule(24, 60, True), "30000", "5000", 6),  # 6 × 5,000: each slice keeps the minimum
    (Schedule(24, 60, True), "34999", "5000", 6),
    (Schedule(12, 30, False), "5000", "5000", 1),
    (Schedule(12, 30, False), "4000", "5000", 1),  # never 0 slices
    (Schedule(12, 30, False), "0.05", "0.002", 12),  # a sell in coin units
    (Schedule(12, 30, False), "0.005", "0.002", 2),
    (Schedule(12, 30, False), "100", "0", 12),  # no minimum known: unchanged
])
def test_fit_slices(schedule: Schedule, total: str, min_size: str, slices: int) -> None:
    fitted = fit_slices(schedule, D(total), D(min_size))
    assert fitted.slices == slices
    assert (fitted.interval_minutes, fitted.volatile) == (schedule.interval_minutes, schedule.volatile)
    if D(min_size) > 0 and slices > 1:
        assert D(total) / slices >= D(min_size)  # every nominal slice is at least the minimum


CALM_S = Schedule(12, 30, False)


@pytest.mark.parametrize("offset, due", [
    (timedelta(minutes=-1), 0),
    (timedelta(0), 1),  # slot 0 is due at the start
    (timedelta(minutes=29, seconds=59), 1),  # slot 1 is never early
    (timedelta(minutes=30), 2),  # … and due exactly at start + 1 × interval
    (timedelta(minutes=45), 2),
    (timedelta(hours=2, minutes=15), 5),  # slots 0..4
    (timedelta(hours=5, minutes=30), 12),  # the last slot, at start + 11 × interval
    (timedelta(days=3), 12),  # never more than the schedule has
])
def test_due_slots_are_anchored_to_the_start(offset: timedelta, due: int) -> None:
    assert due_slots(START, CALM_S, START + offset) == due


def test_slot_times_and_end() -> None:
    assert [slot_time(START, k, CALM_S) for k in (0, 1, 11)] == [
        START, START + timedelta(minutes=30), START + timedelta(hours=5, minutes=30)]
    assert end_time(START, CALM_S) == START + timedelta(hours=5, minutes=30)
    assert end_time(START, Schedule(24, 60, True)) == START + timedelta(hours=23)
    assert CALM_S.duration == timedelta(hours=5, minutes=30)


def test_due_slots_do_not_depend_on_when_the_last_slice_ran() -> None:
    # Every slot k becomes due at exactly start + k × interval, whatever the tick times were.
    for k in range(12):
        at = START + CALM_S.interval * k
        assert due_slots(START, CALM_S, at) == k + 1
        assert due_slots(START, CALM_S, at - timedelta(microseconds=1)) == k


def ns(total: str = "1200", filled: str = "0", slices: int = 12, used: int = 0, due: int = 1,
       after_end: bool = False, min_size: str = "50", unit: str = "1", cap: str = "2") -> SliceDecision:
    return next_slice(total=D(total), filled=D(filled), slices=slices, slots_used=used, due=due,
                      after_end=after_end, min_size=D(min_size), unit=D(unit), max_multiple=D(cap))


@pytest.mark.parametrize("kwargs, expected", [
    # first slot: 1,200 ÷ 12
    (dict(), SliceDecision(D(100), 1, False, "slice")),
    # nothing new is due
    (dict(filled="100", used=1, due=1), SliceDecision(D(0), 1, False, "not_due")),
    # remaining ÷ slots left (counting this one), from actual fills: a 50 partial fill is carried
    (dict(filled="50", used=1, due=2), SliceDecision(D(104), 2, False, "slice")),  # 1,150 ÷ 11 = 104.5
    # over-fill earlier makes the next slices smaller
    (dict(filled="300", used=2, due=3), SliceDecision(D(90), 3, False, "slice")),  # 900 ÷ 10
    # three missed slots: one catch-up order of remaining ÷ slots left, consuming them all
    (dict(filled="200", used=2, due=6), SliceDecision(D(142), 6, False, "catch_up")),  # 1,000 ÷ 7
    # catch-up capped at 2 × nominal (200), however much is left
    (dict(filled="100", used=1, due=12), SliceDecision(D(200), 12, False, "catch_up")),
    # after the last slot, what is left goes at ≤ 2 × nominal per tick
    (dict(filled="900", used=12, due=12, after_end=True), SliceDecision(D(200), 12, False, "after_end")),
    (dict(filled="1100", used=12, due=12, after_end=True), SliceDecision(D(100), 12, False, "after_end")),
    # never below the minimum: 60 ÷ 12 = 5 is raised to the minimum 10 (and then 50 is left)
    (dict(total="60", min_size="10"), SliceDecision(D(10), 1, False, "slice")),
    # a remainder below the minimum merges into this slice: 200 ÷ 2 = 100, min 110 → 110 would leave 90
    (dict(filled="1000", used=10, due=11, min_size="110"), SliceDecision(D(200), 11, False, "merged")),
    # the last slot takes everything left
    (dict(filled="1095", used=11, due=12), SliceDecision(D(105), 12, False, "slice")),
    # below the minimum left: done, nothing sent
    (dict(filled="1160", used=11, due=12), SliceDecision(D(0), 12, True, "done")),
    (dict(filled="1200", used=12, due=12), SliceDecision(D(0), 12, True, "done")),
    (dict(filled="1300", used=12, due=12), SliceDecision(D(0), 12, True, "done")),  # over-filled
    # done is known even before the next slot is due
    (dict(filled="1180", used=5, due=5), SliceDecision(D(0), 5, True, "done")),
])
def test_next_slice(kwargs: dict, expected: SliceDecision) -> None:
    assert ns(**kwargs) == expected


def test_next_slice_rounds_sells_down_to_the_qty_unit() -> None:
    decision = ns(total="1", slices=12, min_size="0.002", unit="0.0001")
    assert decision.size == D("0.0833")  # 1 ÷ 12 = 0.08333…, rounded down
    last = ns(total="1", filled="0.9167", used=11, due=12, min_size="0.002", unit="0.0001")
    assert last.size == D("0.0833")


@pytest.mark.parametrize("used, due", [(0, 1), (1, 2), (2, 6), (3, 9), (5, 12), (1, 12)])
def test_missed_ticks_never_exceed_twice_nominal(used: int, due: int) -> None:
    total, slices = D(1_200_000), 12
    filled = D(100_000) * used
    decision = ns(total=str(total), filled=str(filled), slices=slices, used=used, due=due, min_size="5000")
    assert D(0) < decision.size <= 2 * total / slices
    assert decision.slots_to == due


def test_a_whole_plan_sums_to_its_total_with_every_slice_between_minimum_and_cap() -> None:
    # Walk a 100,000 KRW leg through its 12 slots with full fills: 12 orders, none of 100,000.
    total, filled, used, sizes = D(100_000), D(0), 0, []
    for due in range(1, 13):
        d = ns(total=str(total), filled=str(filled), used=used, due=due, min_size="5000")
        if d.done:
            break
        sizes.append(d.size)
        filled, used = filled + d.size, d.slots_to
    assert len(sizes) == 12 and sum(sizes) == total
    assert all(D(5000) <= s <= 2 * total / 12 for s in sizes)


@pytest.mark.parametrize("min_krw, price, unit, expected", [
    ("5000", "95000000", "0.0001", "0.0001"),  # one unit is already 9,500 KRW
    ("5000", "2600000", "0.0001", "0.0020"),  # 0.00192… rounded up to the grid
    ("5000", "1000", "1", "5"),  # exactly on the grid
    ("5000", "2999", "1", "2"),
    ("5000", "0.02", "1", "250000"),
])
def test_min_qty_for(min_krw: str, price: str, unit: str, expected: str) -> None:
    qty = min_qty_for(D(min_krw), D(price), D(unit))
    assert qty == D(expected)
    assert qty * D(price) >= D(min_krw) and (qty - D(unit)) * D(price) < D(min_krw)


def test_min_qty_for_refuses_a_missing_price() -> None:
    with pytest.raises(ValueError):
        min_qty_for(D(5000), D(0), D("0.0001"))


@pytest.mark.parametrize("size, available, unit, min_size, expected", [
    ("100000", "200000", "1", "5000", (D(100000), False)),  # enough
    ("100000", "100000", "1", "5000", (D(100000), False)),
    ("100000", "80000.7", "1", "5000", (D(80000), False)),  # sized down to what is there
    ("100000", "4999", "1", "5000", (D(0), True)),  # below the minimum: wait
    ("100000", "-5", "1", "5000", (D(0), True)),
    ("0.5", "0.3456", "0.001", "0.002", (D("0.345"), False)),  # sells: rounded down to qty_unit
    ("0.5", "0.0019", "0.001", "0.002", (D(0), True)),
])
def test_fit_to_available(size: str, available: str, unit: str, min_size: str, expected: tuple) -> None:
    assert fit_to_available(D(size), D(available), D(unit), D(min_size)) == expected


@pytest.mark.parametrize("side, reference, average, expected", [
    ("BUY", "100", "101", "100.00"),  # paid 1 % more
    ("BUY", "100", "99", "-100.00"),
    ("SELL", "100", "99", "100.00"),  # received 1 % less
    ("SELL", "100", "101", "-100.00"),
    ("BUY", "2611000", "2611999", "3.83"),  # quantised to 0.01 bps
    ("BUY", "0", "100", "0"),  # no reference: no number invented
    ("SELL", "100", "0", "0"),
])
def test_slippage_bps(side: str, reference: str, average: str, expected: str) -> None:
    assert slippage_bps(side, D(reference), D(average)) == D(expected)


@pytest.mark.parametrize("total, filled, expected", [
    ("100", "0", "0"), ("100", "25", "0.25"), ("100", "150", "1"), ("100", "-5", "0"), ("0", "0", "1"),
])
def test_progress(total: str, filled: str, expected: str) -> None:
    assert progress(D(total), D(filled)) == D(expected)
