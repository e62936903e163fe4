"""Everything about the simulated exchange that a test or the operator may change (`SimConfig`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping

from kairos.core.costs import CostModel


@dataclass(frozen=True)
class SimConfig:
    """Everything about the simulated exchange that a test may want to change."""

    access_token: str = "sim-access-token-0000"
    secret_key: str = "sim-secret-key-0000"
    error_http_status: int = 200  # the HTTP status of Coinone error envelopes is undocumented
    maker_fee: Decimal = Decimal("0.002")
    taker_fee: Decimal = Decimal("0.002")
    min_order_amount: Decimal = Decimal("5000")
    max_order_amount: Decimal = Decimal("1000000000")
    maintenance_status: Mapping[str, int] = field(default_factory=dict)  # coin → 0 | 1
    trade_status: Mapping[str, int] = field(default_factory=dict)  # coin → 0 | 1 | 2 | 3
    maintenance_error_code: str = "405"
    post_only_cross: str = "cancel"  # "cancel": accepted then CANCELED; "error": refused
    post_only_error_code: str = "300"
    private_rate_per_sec: int | None = 80
    order_rate_per_sec: int | None = 40
    public_rate_per_min: int | None = 1200
    rejected_consumes_user_order_id: bool = False
    candle_max_size: int = 500
    initial_krw: Decimal = Decimal("10000000")
    match_levels: int = 50  # book depth a taker order may walk
    history_max_days: int = 90
    future_tolerance_ms: int = 60_000  # to_ts may run ahead of the exchange clock by this much
    echo_user_order_id: bool = True  # order/detail and active_orders rows carry user_order_id (undocumented)
    secret_key_case: str = "as_issued"  # "upper": verify HMACs keyed by the upper-cased secret (as ccxt signs)
    # our own trades move the book (kairos.sim.impact) with the backtest's cost parameters; paper mode turns it off
    impact: bool = True
    costs: CostModel = field(default_factory=CostModel)

    def __post_init__(self) -> None:
        if self.post_only_cross not in ("cancel", "error"):
            raise ValueError("post_only_cross must be 'cancel' or 'error'")
        if self.secret_key_case not in ("as_issued", "upper"):
            raise ValueError("secret_key_case must be 'as_issued' or 'upper'")
