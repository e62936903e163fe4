from __future__ import annotations

from decimal import Decimal

import pytest

from kairos.coinone.models import Candle
from kairos.core.season import WEEK_MS, SeasonDecision, Zone, classify, completed_weekly_closes, two_hundred_week_ma
from kairos.core.types import Regime
from kairos.errors import DataError

D = Decimal
ON, OFF = Regime.RISK_ON, Regime.RISK_OFF
MA = D("100000000")  # 100,000,000 KRW: upper = 105,000,000, lower = 95,000,000 at band 0.05
BAND = D("0.05")
T0 = 1_700_438_400_000  # some Monday 00:00 UTC, epoch ms; only differences matter


def week(i: int, close: str) -> Candle:
    """The weekly candle opening i weeks after T0."""
    c = D(close)
    return Candle(timestamp=T0 + i * WEEK_MS, open=c, high=c, low=c, close=c, target_volume=D(0), quote_volume=D(0))


# --- completed_weekly_closes -------------------------------------------------------------------

@pytest.mark.parametrize("given, now_ms, expected_weeks", [
    # shuffled and duplicated input comes back oldest-first, one per week
    ([week(2, "3"), week(0, "1"), week(1, "2"), week(0, "1")], T0 + 3 * WEEK_MS, [0, 1, 2]),
    # week 2 opened at T0+2w and is complete only at T0+3w: one millisecond early it is still open
    ([week(0, "1"), week(1, "2"), week(2, "3")], T0 + 3 * WEEK_MS - 1, [0, 1]),
    # the newest candle still open mid-week is excluded
    ([week(0, "1"), week(1, "2"), week(2, "3")], T0 + 2 * WEEK_MS + 3 * 86_400_000, [0, 1]),
    ([week(0, "1")], T0, []),
    ([], T0, []),
])
def test_completed_weekly_closes(given: list[Candle], now_ms: int, expected_weeks: list[int]) -> None:
    result = completed_weekly_closes(given, now_ms)
    assert [(c.timestamp - T0) // WEEK_MS for c in result] == expected_weeks


def test_completed_weekly_closes_keeps_the_last_given_duplicate() -> None:
    result = completed_weekly_closes([week(0, "1"), week(0, "7")], T0 + WEEK_MS)
    assert [c.close for c in result] == [D("7")]


def test_completed_weekly_closes_custom_week_length() -> None:
    day = 86_400_000
    given = [week(0, "1")]
    assert completed_weekly_closes(given, T0 + day, week_ms=day) == given
    assert completed_weekly_closes(given, T0 + day - 1, week_ms=day) == []


# --- two_hundred_week_ma ----------------------------------------------------------------------

def test_two_hundred_week_ma_uses_last_200_completed_weeks() -> None:
    # weeks 0..200 close at 1..201 (201 completed), plus the open week 201 at 1,000,000, shuffled.
    candles = [week(i, str(i + 1)) for i in range(201)] + [week(201, "1000000")]
    candles.reverse()
    ma, used = two_hundred_week_ma(candles, now_ms=T0 + 201 * WEEK_MS + 1)
    # the last 200 completed closes are 2..201: mean = (2 + 201) / 2 = 101.5; week 0 and the open week excluded
    assert ma == D("101.5")
    assert len(used) == 200
    assert used[0].close == D(2) and used[-1].close == D(201)


def test_two_hundred_week_ma_custom_period() -> None:
    ma, used = two_hundred_week_ma([week(i, c) for i, c in enumerate(["10", "20", "40"])], T0 + 3 * WEEK_MS, period=2)
    assert ma == D(30)  # (20 + 40) / 2
    assert [c.close for c in used] == [D(20), D(40)]


@pytest.mark.parametrize("completed, open_weeks, got", [
    (143, 1, 143),  # the open week does not count toward the 200
    (199, 0, 199),
    (0, 1, 0),
])
def test_two_hundred_week_ma_too_few_weeks(completed: int, open_weeks: int, got: int) -> None:
    candles = [week(i, "1") for i in range(completed + open_weeks)]
    with pytest.raises(DataError, match=f"need 200 completed weekly candles of BTC/KRW, got {got}$"):
        two_hundred_week_ma(candles, now_ms=T0 + completed * WEEK_MS + 1)


# --- classify -------------------------------------------------------------------------------

@pytest.mark.parametrize("price, previous, regime, zone", [
    ("105000001", None, ON, Zone.ABOVE),
    ("105000001", OFF, ON, Zone.ABOVE),
    ("94999999", None, OFF, Zone.BELOW),
    ("94999999", ON, OFF, Zone.BELOW),
    ("105000000", OFF, OFF, Zone.INSIDE),  # exactly MA×1.05 is still inside: previous stands
    ("95000000", ON, ON, Zone.INSIDE),  # exactly MA×0.95 is still inside
    ("102000000", OFF, OFF, Zone.INSIDE),
    ("98000000", ON, ON, Zone.INSIDE),
    # first run inside the band: price vs MA decides, MA itself counts as risk-on
    ("100000000", None, ON, Zone.INSIDE),
    ("99999999", None, OFF, Zone.INSIDE),
    ("105000000", None, ON, Zone.INSIDE),
    ("95000000", None, OFF, Zone.INSIDE),
])
def test_classify_table(price: str, previous: Regime | None, regime: Regime, zone: Zone) -> None:
    decision = classify(D(price), MA, BAND, previous)
    assert (decision.regime, decision.zone) == (regime, zone)
    assert decision.first_run is (previous is None)
    assert decision.changed is (previous is not None and previous is not regime)


def test_classify_numbers() -> None:
    d = classify(D("110000000"), MA, BAND, OFF)
    assert d.upper == D("105000000")  # 100,000,000 × 1.05
    assert d.lower == D("95000000")  # 100,000,000 × 0.95
    assert d.ratio == D("1.1")  # 110,000,000 / 100,000,000
    assert (d.price, d.ma, d.band, d.previous) == (D("110000000"), MA, BAND, OFF)
    assert d.changed and not d.first_run


def fold(prices: list[str], start: Regime | None) -> list[tuple[Regime, Zone, bool]]:
    """Run classify week after week, feeding each decision's regime into the next."""
    out, previous = [], start
    for price in prices:
        d = classify(D(price), MA, BAND, previous)
        out.append((d.regime, d.zone, d.changed))
        previous = d.regime
    return out


I, A, B = Zone.INSIDE, Zone.ABOVE, Zone.BELOW


@pytest.mark.parametrize("start, prices, expected", [
    # from risk-off: into the band and up to the edge (no flip), out above (flip), back inside (stays on)
    (OFF, ["93000000", "99000000", "105000000", "106000000", "101000000", "96000000"],
     [(OFF, B, False), (OFF, I, False), (OFF, I, False), (ON, A, True), (ON, I, False), (ON, I, False)]),
    # from risk-on: inside down to the lower edge (stays on), out below (flip), back inside (stays off)
    (ON, ["104000000", "95000000", "94000000", "99000000", "104999999", "105000001"],
     [(ON, I, False), (ON, I, False), (OFF, B, True), (OFF, I, False), (OFF, I, False), (ON, A, True)]),
    # first run inside below the MA picks risk-off, and the band then holds it
    (None, ["99000000", "104000000", "96000000"],
     [(OFF, I, False), (OFF, I, False), (OFF, I, False)]),
    # whipsaw across the whole band flips every week
    (ON, ["90000000", "110000000", "90000000"],
     [(OFF, B, True), (ON, A, True), (OFF, B, True)]),
])
def test_hysteresis_sequences(start: Regime | None, prices: list[str], expected: list[tuple[Regime, Zone, bool]]) -> None:
    assert fold(prices, start) == expected


@pytest.mark.parametrize("price, ma, band, message", [
    ("0", "100", "0.05", "price must be positive"),
    ("-1", "100", "0.05", "price must be positive"),
    ("100", "0", "0.05", "moving average must be positive"),
    ("100", "-5", "0.05", "moving average must be positive"),
    ("100", "100", "-0.01", "band"),
    ("100", "100", "1", "band"),
])
def test_classify_rejects_bad_inputs(price: str, ma: str, band: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classify(D(price), D(ma), D(band), None)


@pytest.mark.parametrize("price, previous, lang, expected", [
    ("106000000", OFF, "ko", "BTC 가격이 200주 이동평균 상단 밴드(MA×1.05) 위에 있어 위험선호(risk-on)로 판단합니다."),
    ("94000000", ON, "ko", "BTC 가격이 200주 이동평균 하단 밴드(MA×0.95) 아래에 있어 위험회피(risk-off)로 판단합니다."),
    ("101000000", OFF, "ko", "BTC 가격이 200주 이동평균 밴드(MA×0.95~MA×1.05) 안에 있어 기존 국면을 유지합니다: 위험회피(risk-off)."),
    ("106000000", OFF, "en", "BTC is above the upper band of its 200-week moving average (MA×1.05), so the regime is risk-on."),
    ("94000000", ON, "en", "BTC is below the lower band of its 200-week moving average (MA×0.95), so the regime is risk-off."),
    ("101000000", ON, "en", "BTC is inside the 200-week MA band (MA×0.95–MA×1.05), so the previous regime stands: risk-on."),
])
def test_reason_texts(price: str, previous: Regime, lang: str, expected: str) -> None:
    assert classify(D(price), MA, BAND, previous).reason(lang) == expected


@pytest.mark.parametrize("price, fragments_ko, fragments_en", [
    ("101000000", ["첫 실행", "이동평균 이상", "위험선호(risk-on)"], ["First run", "at or above the MA", "risk-on"]),
    ("99000000", ["첫 실행", "이동평균 미만", "위험회피(risk-off)"], ["First run", "below the MA", "risk-off"]),
])
def test_reason_first_run_inside_band_says_so(price: str, fragments_ko: list[str], fragments_en: list[str]) -> None:
    decision = classify(D(price), MA, BAND, None)
    assert all(f in decision.reason() for f in fragments_ko)  # Korean is the default
    assert all(f in decision.reason("en") for f in fragments_en)


def test_reason_uses_the_configured_band() -> None:
    decision = classify(D("111000000"), MA, D("0.1"), None)
    assert "MA×1.1" in decision.reason("en")


def test_reason_unknown_language() -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        classify(D("1"), D("1"), BAND, None).reason("fr")


def test_decision_is_frozen() -> None:
    decision: SeasonDecision = classify(D("1"), D("1"), BAND, None)
    with pytest.raises(AttributeError):
        decision.regime = OFF  # type: ignore[misc]
