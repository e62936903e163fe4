"""The backtest chart read from its Figure: drawing order, legend entries, axis ticks, title."""
from __future__ import annotations

from datetime import date

import pytest

from backtest import D, settings_for, weekly_steps
from kairos.backtest.chart import compact_krw, draw_chart, label
from kairos.backtest.data import History
from kairos.backtest.study import run_study
from kairos.core.costs import CostModel

pytest.importorskip("matplotlib")

# flat, a rally (risk-on), a crash (risk-off), a recovery: both shadings appear
PRICES = [100] * 10 + [100, 120, 150, 160, 170, 60, 60, 55, 110, 100, 97] + [120] * 20


@pytest.fixture(scope="module")
def figure():
    import matplotlib.pyplot as plt

    history = History("test", {"BTC": weekly_steps(date(2020, 5, 4), PRICES, D(1_000_000_000))})
    study = run_study(history, settings_for({"BTC": "1"}, ma_weeks=10), capital=D(10_000_000), costs=CostModel(),
                      robustness=False)
    fig = draw_chart(study)
    yield study, fig
    plt.close(fig)


def test_the_strategy_is_drawn_on_top_and_thicker_than_every_benchmark(figure) -> None:
    study, fig = figure
    top = fig.axes[0]
    lines = {line.get_label(): line for line in top.get_lines()}
    strategy = lines[label(study, "strategy")]
    others = [l for name, l in lines.items() if name != strategy.get_label()]
    assert others and all(strategy.get_zorder() > l.get_zorder() for l in others)
    assert all(strategy.get_linewidth() > l.get_linewidth() for l in others)
    assert top.get_lines()[-1] is strategy  # drawn last too


def test_the_regime_shading_has_legend_entries(figure) -> None:
    _, fig = figure
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Strategy risk-on (background)" in texts and "Strategy risk-off (background)" in texts
    assert texts[0] != texts[-1] and len(texts) == 4 + 2  # four portfolios and two shadings


def test_the_log_axis_has_several_readable_ticks(figure) -> None:
    _, fig = figure
    top = fig.axes[0]
    fig.canvas.draw()
    low, high = top.get_ylim()
    shown = [t.get_text() for t in top.get_yticklabels() if t.get_text() and low <= t.get_position()[1] <= high]
    assert len(shown) >= 3, shown  # not only 10^7 and 10^8
    assert all("$" not in t and "^" not in t for t in shown)  # plain "5M", "10M", "20M", not mathtext powers


@pytest.mark.parametrize("value, text", [(5e6, "5M"), (1e7, "10M"), (2e7, "20M"), (1.5e9, "1.5B"), (2000, "2k"), (12, "12")])
def test_compact_krw_ticks(value: float, text: str) -> None:
    assert compact_krw(value) == text


def test_the_title_names_the_period(figure) -> None:
    study, fig = figure
    from kairos.backtest.data import iso

    assert f"{iso(study.start_day)} to {iso(study.end_day)}" in fig._suptitle.get_text()
