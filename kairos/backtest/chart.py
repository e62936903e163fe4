"""The backtest chart (PNG): equity of the strategy and the benchmarks, drawdowns, and regime shading.

matplotlib is imported here, inside the function, with the non-interactive Agg backend (no display
needed). Labels are English: a server may have no CJK font.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kairos.backtest.data import iso, to_date
from kairos.backtest.metrics import drawdown
from kairos.backtest.study import Study
from kairos.errors import ConfigError

LABELS = {"strategy": "Strategy", "btc_hold": "BTC hold", "static": "Static {on}/{off}",
          "equal_weight": "Equal-weight hold"}
COLORS = {"strategy": "#1f4e9c", "btc_hold": "#f2a900", "static": "#6a9f58", "equal_weight": "#8c6bb1"}
SHADE = {True: "#2e7d32", False: "#c62828"}
SHADE_LABEL = {True: "Strategy risk-on (background)", False: "Strategy risk-off (background)"}


def label(study: Study, key: str) -> str:
    on = int(study.settings.strategy.season_filter.risk_on_crypto_ratio * 100)
    return LABELS[key].format(on=on, off=100 - on)


def save_chart(study: Study, path: Path) -> Path:
    """Draw and save the chart; ConfigError when the file cannot be written."""
    import matplotlib.pyplot as plt

    fig = draw_chart(study)
    try:
        try:
            fig.savefig(path, dpi=110)
        except OSError as exc:
            raise ConfigError(f"--chart {path}: cannot write ({exc.strerror or exc})") from exc
    finally:
        plt.close(fig)
    return path


def draw_chart(study: Study) -> Any:
    """The chart as a matplotlib Figure (tests read its lines, legend and ticks); the caller closes it."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    dates = [to_date(int(d)) for d in study.strategy.days]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    _equity_panel(top, study, dates)
    _drawdown_panel(bottom, study, dates)
    fig.suptitle(f"KAIROS-1 backtest {iso(study.start_day)} to {iso(study.end_day)} "
                 f"(capital {study.capital:,.0f} KRW, costs included)")
    fig.tight_layout()
    return fig


def compact_krw(value: float, _pos: object = None) -> str:
    """An axis tick in KRW a person reads at a glance: 5M, 20M, 1.5B."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def _equity_panel(ax: Any, study: Study, dates: list) -> None:
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    shading = _shade_regimes(ax, study, dates)
    # the strategy last and on top (zorder), thicker: where a benchmark coincides with it, the strategy shows
    for key in sorted(study.runs, key=lambda k: k == "strategy"):
        strategy = key == "strategy"
        ax.plot(dates, study.runs[key].equity, label=label(study, key), color=COLORS[key],
                linewidth=2.2 if strategy else 1.0, zorder=5 if strategy else 3, alpha=1.0 if strategy else 0.85)
    ax.set_yscale("log")
    values = np.concatenate([np.asarray(run.equity, dtype=float) for run in study.runs.values()])
    values = values[np.isfinite(values) & (values > 0)]
    narrow = values.size == 0 or values.max() / values.min() < 10
    # less than a decade: evenly spaced plain ticks; more: 1-2-5 in each decade (never only 10^7 and 10^8)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6) if narrow else LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(compact_krw))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("Equity (KRW, log scale)")
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(facecolor=SHADE[flag], alpha=0.25, label=SHADE_LABEL[flag]) for flag in (True, False) if flag in shading]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    ax.grid(True, which="major", alpha=0.3)


def _drawdown_panel(ax: Any, study: Study, dates: list) -> None:
    capital = float(study.capital)
    for key in ("strategy", "btc_hold"):
        dd = drawdown(study.runs[key].equity, capital) * 100
        ax.plot(dates, dd, label=label(study, key), color=COLORS[key], linewidth=1.0)
    ax.set_ylabel("Drawdown (%)")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(True, alpha=0.3)


def _shade_regimes(ax: Any, study: Study, dates: list) -> set[bool]:
    """Green background while the strategy is risk-on, red while risk-off; which of the two were drawn."""
    flags = study.strategy.risk_on
    if flags is None or not len(flags):
        return set()
    edges = np.flatnonzero(np.diff(flags.astype(int))) + 1
    bounds = [0, *edges.tolist(), len(flags)]
    drawn: set[bool] = set()
    for a, b in zip(bounds, bounds[1:]):
        flag = bool(flags[a])
        ax.axvspan(dates[a], dates[min(b, len(dates) - 1)], color=SHADE[flag], alpha=0.08, linewidth=0, zorder=0)
        drawn.add(flag)
    return drawn
