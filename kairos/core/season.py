"""Market season: BTC/KRW price against its 200-week moving average, with a hysteresis band.

Above MA×(1+band) is risk-on, below MA×(1−band) is risk-off, and inside the band (edges
included) the previous regime stands, so a price wandering around the MA does not flip the
portfolio every week. With no previous regime, price ≥ MA decides.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Sequence

from kairos.coinone.models import Candle
from kairos.core.indicators import moving_average
from kairos.core.types import Regime
from kairos.errors import DataError
from kairos.money import ONE, plain

WEEK_MS = 7 * 86_400_000


class Zone(str, Enum):
    ABOVE = "above"
    INSIDE = "inside"
    BELOW = "below"


def completed_weekly_closes(candles: Sequence[Candle], now_ms: int, week_ms: int = WEEK_MS) -> list[Candle]:
    """Completed weekly candles, oldest-first, one per open timestamp; the still-open week is dropped."""
    by_open: dict[int, Candle] = {}
    for candle in candles:
        by_open[candle.timestamp] = candle  # a repeated week keeps the copy given last
    return [by_open[t] for t in sorted(by_open) if t + week_ms <= now_ms]


def two_hundred_week_ma(
    candles: Sequence[Candle], now_ms: int, period: int = 200, *, market: str = "BTC/KRW"
) -> tuple[Decimal, list[Candle]]:
    """Mean close of the last `period` completed weeks, and the candles it used (oldest-first)."""
    completed = completed_weekly_closes(candles, now_ms)
    if len(completed) < period:
        raise DataError(f"need {period} completed weekly candles of {market}, got {len(completed)}")
    window = completed[len(completed) - period:]
    return moving_average([c.close for c in window], period), window


_REGIME_KO = {Regime.RISK_ON: "위험선호(risk-on)", Regime.RISK_OFF: "위험회피(risk-off)"}
_REGIME_EN = {Regime.RISK_ON: "risk-on", Regime.RISK_OFF: "risk-off"}


@dataclass(frozen=True)
class SeasonDecision:
    """The weekly regime decision with every number that led to it."""

    regime: Regime
    zone: Zone
    ratio: Decimal  # price / ma
    upper: Decimal  # ma × (1 + band)
    lower: Decimal  # ma × (1 − band)
    price: Decimal
    ma: Decimal
    band: Decimal
    previous: Regime | None

    @property
    def changed(self) -> bool:
        """True when a previous regime existed and this decision differs from it."""
        return self.previous is not None and self.regime is not self.previous

    @property
    def first_run(self) -> bool:
        """True when no previous regime was known."""
        return self.previous is None

    def reason(self, lang: str = "ko") -> str:
        """Why this regime, in words: Korean ("ko", default) or English ("en")."""
        if lang == "ko":
            return self._reason_ko()
        if lang == "en":
            return self._reason_en()
        raise ValueError(f"unsupported language {lang!r}; use 'ko' or 'en'")

    def _factors(self) -> tuple[str, str]:
        return plain(ONE - self.band), plain(ONE + self.band)

    def _reason_ko(self) -> str:
        low, up = self._factors()
        name = _REGIME_KO[self.regime]
        if self.zone is Zone.ABOVE:
            return f"BTC 가격이 200주 이동평균 상단 밴드(MA×{up}) 위에 있어 {name}로 판단합니다."
        if self.zone is Zone.BELOW:
            return f"BTC 가격이 200주 이동평균 하단 밴드(MA×{low}) 아래에 있어 {name}로 판단합니다."
        if self.first_run:
            side = "이상" if self.regime is Regime.RISK_ON else "미만"
            return (f"이전 국면 기록이 없는 첫 실행이고 BTC 가격이 200주 이동평균 밴드(MA×{low}~MA×{up}) "
                    f"안에 있어, 가격과 이동평균을 비교합니다: 가격이 이동평균 {side}이므로 {name}로 판단합니다.")
        return (f"BTC 가격이 200주 이동평균 밴드(MA×{low}~MA×{up}) 안에 있어 "
                f"기존 국면을 유지합니다: {name}.")

    def _reason_en(self) -> str:
        low, up = self._factors()
        name = _REGIME_EN[self.regime]
        if self.zone is Zone.ABOVE:
            return f"BTC is above the upper band of its 200-week moving average (MA×{up}), so the regime is {name}."
        if self.zone is Zone.BELOW:
            return f"BTC is below the lower band of its 200-week moving average (MA×{low}), so the regime is {name}."
        if self.first_run:
            side = "at or above" if self.regime is Regime.RISK_ON else "below"
            return (f"First run with no previous regime and BTC inside the 200-week MA band "
                    f"(MA×{low}–MA×{up}): decided by price vs MA; the price is {side} the MA, so {name}.")
        return (f"BTC is inside the 200-week MA band (MA×{low}–MA×{up}), "
                f"so the previous regime stands: {name}.")


def classify(price: Decimal, ma: Decimal, band: Decimal, previous: Regime | None) -> SeasonDecision:
    """Decide the regime from price vs the MA band; inside the band (edges included) keep `previous`."""
    _check_inputs(price, ma, band)
    upper, lower = ma * (ONE + band), ma * (ONE - band)
    zone = _zone(price, upper, lower)
    regime = _regime(zone, price, ma, previous)
    return SeasonDecision(regime=regime, zone=zone, ratio=price / ma, upper=upper, lower=lower,
                          price=price, ma=ma, band=band, previous=previous)


def _check_inputs(price: Decimal, ma: Decimal, band: Decimal) -> None:
    if price <= 0:
        raise ValueError(f"price must be positive, got {price}")
    if ma <= 0:
        raise ValueError(f"moving average must be positive, got {ma}")
    if not 0 <= band < 1:
        raise ValueError(f"band must be in [0, 1), got {band}")


def _zone(price: Decimal, upper: Decimal, lower: Decimal) -> Zone:
    # Strict comparisons: a price exactly on an edge has not left the band.
    if price > upper:
        return Zone.ABOVE
    if price < lower:
        return Zone.BELOW
    return Zone.INSIDE


def _regime(zone: Zone, price: Decimal, ma: Decimal, previous: Regime | None) -> Regime:
    if zone is Zone.ABOVE:
        return Regime.RISK_ON
    if zone is Zone.BELOW:
        return Regime.RISK_OFF
    if previous is not None:
        return previous
    return Regime.RISK_ON if price >= ma else Regime.RISK_OFF
