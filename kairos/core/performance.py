"""Portfolio performance, pure: time-weighted return net of external cash flows, drawdown,
volatility, benchmark series from the snapshots' own prices, and execution-cost aggregates.

Time-weighted return (linked Modified Dietz). The window is cut at every snapshot. For one
sub-period (t0, t1] with values V0, V1 and external flows f_k at times s_k inside it
(deposit > 0, withdrawal < 0):

    r = (V1 − V0 − Σ f_k) / (V0 + Σ w_k · f_k),   w_k = (t1 − s_k) / (t1 − t0)

w_k is the share of the sub-period the money was there for. A flow at exactly t1 has w = 0 (the
snapshot at t1 includes it); a flow at exactly t0 belongs to the sub-period before. The returns
are chained: index_i = index_{i−1} · (1 + r_i), index_0 = 1, so a deposit never counts as return
and no sub-period's size weighs on the others. Drawdown and volatility are read from this index,
never from raw values (a deposit is not a rally, a withdrawal is not a crash).

Nothing here reads the clock; every number is a Decimal.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable, Hashable, Mapping, Sequence

from kairos.core.twap import slippage_bps
from kairos.core.types import Side

ZERO, ONE = Decimal(0), Decimal(1)
DAYS_PER_YEAR = Decimal(365)  # crypto trades every day
SECONDS_PER_DAY = Decimal(86400)
KST = timezone(timedelta(hours=9))
CASH = "KRW"
BPS = Decimal("0.01")


@dataclass(frozen=True)
class Flow:
    """An external cash flow: + deposit, − withdrawal (KRW)."""

    at: datetime
    amount: Decimal


@dataclass(frozen=True)
class Drawdown:
    depth: Decimal  # ≤ 0: trough / previous peak − 1
    peak: int  # index of the peak point
    trough: int  # index of the trough point


# ---- time-weighted return -----------------------------------------------------------------------
def days_between(start: datetime, end: datetime) -> Decimal:
    """Exact length of [start, end] in days (no float on the way)."""
    delta = end - start
    seconds = Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1_000_000)
    return seconds / SECONDS_PER_DAY


def flows_between(flows: Sequence[Flow], start: datetime, end: datetime) -> list[Flow]:
    """Flows in the half-open sub-period (start, end]."""
    return [f for f in flows if start < f.at <= end]


def period_return(start: datetime, v0: Decimal, end: datetime, v1: Decimal, flows: Sequence[Flow]) -> Decimal:
    """Modified Dietz return of one sub-period; 0 when nothing was invested in it."""
    length = days_between(start, end)
    net = sum((f.amount for f in flows), ZERO)
    if length <= 0:
        weighted = ZERO
    else:
        weighted = sum((f.amount * days_between(f.at, end) / length for f in flows), ZERO)
    base = v0 + weighted
    if base <= 0:
        return ZERO
    return (v1 - v0 - net) / base


def twr_index(times: Sequence[datetime], values: Sequence[Decimal], flows: Sequence[Flow] = ()) -> list[Decimal]:
    """Growth of 1 at every snapshot, external flows removed (see the module docstring)."""
    _same_length(times, values)
    if not times:
        return []
    index = [ONE]
    for i in range(1, len(times)):
        inside = flows_between(flows, times[i - 1], times[i])
        index.append(index[-1] * (ONE + period_return(times[i - 1], values[i - 1], times[i], values[i], inside)))
    return index


def keep_spaced(times: Sequence[datetime], min_gap: timedelta = timedelta(minutes=1)) -> list[int]:
    """Indexes of the points to use: of points closer than `min_gap` (two jobs in the same minute), the later one.

    A near-zero interval would otherwise weigh a rounding-size return as if it were a year's worth of risk.
    """
    keep: list[int] = []
    for i, moment in enumerate(times):
        if keep and moment - times[keep[-1]] < min_gap:
            keep[-1] = i
        else:
            keep.append(i)
    return keep


def total_return(index: Sequence[Decimal]) -> Decimal | None:
    """Last / first − 1, or None with fewer than two points."""
    if len(index) < 2 or index[0] <= 0:
        return None
    return index[-1] / index[0] - ONE


def net_flow(flows: Sequence[Flow]) -> Decimal:
    return sum((f.amount for f in flows), ZERO)


def flow_summary(flows: Sequence[Flow]) -> dict[str, object]:
    """Deposits and withdrawals counted and summed (withdrawals as a positive amount), and the net."""
    deposits = [f.amount for f in flows if f.amount > 0]
    withdrawals = [-f.amount for f in flows if f.amount < 0]
    return {"deposits": sum(deposits, ZERO), "deposit_count": len(deposits), "withdrawals": sum(withdrawals, ZERO),
            "withdrawal_count": len(withdrawals), "net": net_flow(flows),
            "items": [{"at": f.at, "amount": f.amount} for f in flows]}


# ---- risk -----------------------------------------------------------------------------------------
def drawdown_series(index: Sequence[Decimal]) -> list[Decimal]:
    """Each point's distance below the running peak (0 at a new high, negative below it)."""
    peak, out = None, []
    for value in index:
        peak = value if peak is None or value > peak else peak
        out.append(value / peak - ONE if peak > 0 else ZERO)
    return out


def max_drawdown(index: Sequence[Decimal]) -> Drawdown | None:
    """The deepest peak-to-trough fall, or None with fewer than two points."""
    if len(index) < 2:
        return None
    series = drawdown_series(index)
    trough = min(range(len(series)), key=lambda i: (series[i], i))
    peak = max(range(trough + 1), key=lambda i: (index[i], -i))
    return Drawdown(series[trough], peak, trough)


def annualised_volatility(times: Sequence[datetime], index: Sequence[Decimal], *, min_returns: int = 3,
                          min_days: Decimal = Decimal(7)) -> Decimal | None:
    """Annualised standard deviation of simple returns between snapshots spaced unevenly.

    Each return r_i spans Δt_i days. With the drift per day m = Σ r_i / Σ Δt_i, the variance per day is
    Σ ((r_i − m·Δt_i) / √Δt_i)² / (n − 1); annualised σ = √(variance × 365). With equal daily spacing
    this is the familiar sample standard deviation × √365. None when there are fewer than `min_returns`
    returns or the points span fewer than `min_days` days (an annualised figure from an afternoon
    of TWAP ticks would be invented, not measured).
    """
    _same_length(times, index)
    n = len(index) - 1
    if n < max(min_returns, 2) or days_between(times[0], times[-1]) < min_days:
        return None
    returns = [index[i] / index[i - 1] - ONE for i in range(1, len(index))]
    spans = [days_between(times[i - 1], times[i]) for i in range(1, len(times))]
    if any(s <= 0 for s in spans):
        raise ValueError("snapshot times must be strictly increasing")
    drift = sum(returns, ZERO) / sum(spans, ZERO)
    variance = sum((((r - drift * s) ** 2) / s for r, s in zip(returns, spans)), ZERO) / (n - 1)
    return (variance * DAYS_PER_YEAR).sqrt()


def figures(times: Sequence[datetime], index: Sequence[Decimal]) -> dict[str, Decimal | None]:
    """Total return, max drawdown depth and annualised volatility of one index (None where unsupported)."""
    drawdown = max_drawdown(index)
    return {"twr": total_return(index), "max_drawdown": drawdown.depth if drawdown else None,
            "volatility": annualised_volatility(times, index)}


# ---- benchmarks ------------------------------------------------------------------------------------
def quarter_of(at: datetime) -> tuple[int, int]:
    """Calendar quarter in Korean time: (2026, 1) for January–March."""
    local = at.astimezone(KST)
    return local.year, (local.month - 1) // 3 + 1


def forward_fill(rows: Sequence[Mapping[str, Decimal]]) -> list[dict[str, Decimal]]:
    """Carry each asset's last known price into rows that lack it (prices are never invented backwards)."""
    seen: dict[str, Decimal] = {}
    out = []
    for row in rows:
        seen.update({k: v for k, v in row.items() if v is not None and v > 0})
        out.append(dict(seen))
    return out


def weighted_index(times: Sequence[datetime], prices: Sequence[Mapping[str, Decimal]], weights: Mapping[str, Decimal],
                   rebalance_key: Callable[[datetime], Hashable] | None = None) -> list[Decimal] | None:
    """Growth of 1 of a portfolio bought at the first point in `weights` ("KRW" = cash, price 1).

    Held unchanged, or brought back to `weights` at the first point of each new `rebalance_key`
    period (e.g. `quarter_of`). None when a weighted asset has no price at the first point.
    """
    _same_length(times, prices)
    if not prices:
        return []
    rows = [{**row, CASH: ONE} for row in prices]
    assets = [a for a, w in weights.items() if w != 0]
    if any(rows[0].get(a) is None or rows[0][a] <= 0 for a in assets):
        return None
    units = _buy(weights, rows[0], ONE)
    index = [ONE]
    for i in range(1, len(rows)):
        value = sum((units[a] * rows[i].get(a, ZERO) for a in units), ZERO)
        index.append(value)
        if rebalance_key is not None and rebalance_key(times[i]) != rebalance_key(times[i - 1]):
            units = _buy(weights, rows[i], value)
    return index


def _buy(weights: Mapping[str, Decimal], row: Mapping[str, Decimal], value: Decimal) -> dict[str, Decimal]:
    return {a: w * value / row[a] for a, w in weights.items() if w != 0 and row.get(a)}


def benchmarks(times: Sequence[datetime], prices: Sequence[Mapping[str, Decimal]], coin_weights: Mapping[str, Decimal],
               crypto_ratio: Decimal, start_weights: Mapping[str, Decimal]) -> dict[str, list[Decimal] | None]:
    """The three benchmark indices over the same snapshots: BTC buy-and-hold, the static crypto/KRW mix
    rebalanced at each new quarter (KST), and the portfolio's starting weights held unchanged."""
    filled = forward_fill(prices)
    return {"btc_hold": weighted_index(times, filled, {"BTC": ONE}),
            "static_mix": weighted_index(times, filled, static_mix_weights(coin_weights, crypto_ratio), quarter_of),
            "start_weights": weighted_index(times, filled, start_weights)}


def static_mix_weights(coin_weights: Mapping[str, Decimal], crypto_ratio: Decimal) -> dict[str, Decimal]:
    """A fixed crypto/KRW split with the crypto part split by the configured coin weights."""
    return {**{c: crypto_ratio * w for c, w in coin_weights.items()}, CASH: ONE - crypto_ratio}


# ---- execution cost ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fill:
    """What one order executed (from the ledger's orders table)."""

    plan_id: str | None
    coin: str
    side: str  # BUY | SELL
    qty: Decimal
    krw: Decimal
    fee: Decimal
    slippage_bps: Decimal | None  # vs the mid price at submission


@dataclass(frozen=True)
class Cost:
    """Execution cost of a group of fills (one plan, or all of them)."""

    key: str
    orders: int
    executed_krw: Decimal
    fees: Decimal
    slippage_bps: Decimal | None  # KRW-weighted, vs each slice's mid at submission
    fee_bps: Decimal | None
    arrival_bps: Decimal | None  # average fill per leg vs the plan's arrival price, KRW-weighted

    @property
    def total_bps(self) -> Decimal | None:
        """Slippage plus fees, in bps of the executed value."""
        if self.slippage_bps is None or self.fee_bps is None:
            return None
        return self.slippage_bps + self.fee_bps


def fee_bps(fee: Decimal, krw: Decimal) -> Decimal | None:
    return (fee / krw * 10000).quantize(BPS) if krw > 0 else None


def weighted_bps(fills: Sequence[Fill]) -> Decimal | None:
    """KRW-weighted average of the slices' slippage (fills without a figure are left out)."""
    known = [f for f in fills if f.slippage_bps is not None and f.krw > 0]
    weight = sum((f.krw for f in known), ZERO)
    if weight <= 0:
        return None
    return (sum((f.slippage_bps * f.krw for f in known), ZERO) / weight).quantize(BPS)  # type: ignore[operator]


def arrival_bps(fills: Sequence[Fill], arrival: Mapping[str, Decimal]) -> Decimal | None:
    """Each leg's (coin, side) average fill vs its arrival price, KRW-weighted over legs."""
    legs: dict[tuple[str, str], list[Fill]] = {}
    for f in fills:
        legs.setdefault((f.coin, f.side), []).append(f)
    total, weight = ZERO, ZERO
    for (coin, side), group in legs.items():
        qty, krw = sum((f.qty for f in group), ZERO), sum((f.krw for f in group), ZERO)
        reference = arrival.get(coin)
        if qty <= 0 or krw <= 0 or reference is None or reference <= 0:
            continue
        total += slippage_bps(Side(side), reference, krw / qty) * krw
        weight += krw
    return (total / weight).quantize(BPS) if weight > 0 else None


def cost_of(key: str, fills: Sequence[Fill], arrival: Mapping[str, Decimal] | None = None) -> Cost:
    """Aggregate the executed fills (qty > 0) of one group."""
    done = [f for f in fills if f.qty > 0]
    krw = sum((f.krw for f in done), ZERO)
    fees = sum((f.fee for f in done), ZERO)
    return Cost(key, len(done), krw, fees, weighted_bps(done), fee_bps(fees, krw),
                arrival_bps(done, arrival) if arrival else None)


def plan_costs(fills: Sequence[Fill], arrivals: Mapping[str, Mapping[str, Decimal]]) -> list[Cost]:
    """One Cost per plan id (fills without a plan grouped under "-"), in first-seen order."""
    groups: dict[str, list[Fill]] = {}
    for f in fills:
        if f.qty > 0:
            groups.setdefault(f.plan_id or "-", []).append(f)
    return [cost_of(key, group, arrivals.get(key)) for key, group in groups.items()]


def _same_length(a: Sequence[object], b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise ValueError(f"expected as many times as values, got {len(a)} and {len(b)}")


# ---- history helpers ---------------------------------------------------------------------------------------
def flow_from_transaction(status: str, amount: Decimal, fee: Decimal, at: datetime) -> Flow | None:
    """A completed KRW transaction as a flow (what reached or left the account); pending or failed: None.

    Assumption (Coinone does not say): a withdrawal's fee is charged on top of its amount.
    """
    if status == "DEPOSIT_COMPLETE":
        return Flow(at, amount - fee)
    if status == "WITHDRAWAL_COMPLETE":
        return Flow(at, -(amount + fee))
    if status == "REFUND_COMPLETE":
        return Flow(at, amount)
    return None


def regime_changes(decisions: Sequence[Mapping[str, object]], since: str) -> list[dict[str, object]]:
    """From decisions {"at", "regime"} oldest first: the regime in force at `since` (ISO), then each change after it."""
    changes: list[dict[str, object]] = []
    previous = None
    for d in decisions:
        if d.get("regime") and d["regime"] != previous:
            changes.append({"at": d["at"], "regime": d["regime"], "previous": previous})
            previous = d["regime"]
    before = [c for c in changes if str(c["at"]) < since]
    inside = [c for c in changes if str(c["at"]) >= since]
    return ([{**before[-1], "before_window": True}] if before else []) + inside


def weight_gaps(actual: Mapping[str, Decimal], targets: Mapping[str, Decimal]) -> list[dict[str, object]]:
    """Actual vs target weight per asset (gap = actual − target; None when no target is recorded)."""
    return [{"asset": a, "actual": w, "target": targets.get(a), "gap": w - targets[a] if a in targets else None}
            for a, w in actual.items()]
