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


def label(study: Study, key: str) -> str:
    on = int(study.settings.strategy.season_filter.risk_on_crypto_ratio * 100)
    return LABELS[key].format(on=on, off=100 - on)


def save_chart(study: Study, path: Path) -> Path:
    """Draw and save the chart; ConfigError when the file cannot be written."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    dates = [to_date(int(d)) for d in study.strategy.days]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    try:
        _equity_panel(top, study, dates)
        _drawdown_panel(bottom, study, dates)
        fig.suptitle(f"KAIROS-1 backtest {iso(study.start_day)} to {iso(study.end_day)} "
                     f"(capital {study.capital:,.0f} KRW, costs included)")
        fig.tight_layout()
        try:
            fig.savefig(path, dpi=110)
        except OSError as exc:
            raise ConfigError(f"--chart {path}: cannot write ({exc.strerror or exc})") from exc
    finally:
        plt.close(fig)
    return path


def _equity_panel(ax: Any, study: Study, dates: list) -> None:
    _shade_regimes(ax, study, dates)
    for key, run in study.runs.items():
        ax.plot(dates, run.equity, label=label(study, key), color=COLORS[key], linewidth=1.6 if key == "strategy" else 1.0)
    ax.set_yscale("log")
    ax.set_ylabel("Equity (KRW, log scale)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(True, which="major", alpha=0.3)


def _drawdown_panel(ax: Any, study: Study, dates: list) -> None:
    capital = float(study.capital)
    for key in ("strategy", "btc_hold"):
        dd = drawdown(study.runs[key].equity, capital) * 100
        ax.plot(dates, dd, label=label(study, key), color=COLORS[key], linewidth=1.0)
    ax.set_ylabel("Drawdown (%)")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(True, alpha=0.3)


def _shade_regimes(ax: Any, study: Study, dates: list) -> None:
    """Green background while the strategy is risk-on, red while risk-off."""
    flags = study.strategy.risk_on
    if flags is None or not len(flags):
        return
    edges = np.flatnonzero(np.diff(flags.astype(int))) + 1
    bounds = [0, *edges.tolist(), len(flags)]
    for a, b in zip(bounds, bounds[1:]):
        color = "#2e7d32" if flags[a] else "#c62828"
        ax.axvspan(dates[a], dates[min(b, len(dates) - 1)], color=color, alpha=0.08, linewidth=0)
