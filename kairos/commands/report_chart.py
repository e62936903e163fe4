"""The --performance-report chart (PNG, headless): growth of 100 vs benchmarks, and the portfolio's drawdown.

matplotlib is imported inside the functions, only when `--chart` is given.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kairos.clock import KST
from kairos.errors import KairosError
from kairos.money import fmt_krw

if TYPE_CHECKING:
    from kairos.commands.report import Series

LABELS = {"portfolio": "Portfolio (TWR)", "btc_hold": "BTC buy-and-hold", "static_mix": "Static {mix}, rebalanced quarterly",
          "start_weights": "Starting weights held"}
STYLES = {"portfolio": {"lw": 2.4, "color": "#1f4e99"}, "btc_hold": {"lw": 1.2, "color": "#f2a900"},
          "static_mix": {"lw": 1.2, "color": "#2e8b57", "ls": "--"}, "start_weights": {"lw": 1.2, "color": "#888888", "ls": ":"}}


def write_chart(path: Path, series: "Series", report: dict[str, Any], simulated: bool, mix: str) -> str:
    """Equity curves (growth of 100) vs benchmarks above, the portfolio's drawdown below; PNG, headless."""
    from matplotlib import pyplot as plt

    fig = draw_chart(series, report, simulated, mix)
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise KairosError(f"--chart: cannot write {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)
    return str(path)


def covered(times: list[datetime]) -> str:
    """The span the data really covers, in words: "23 hours", "6 days" (not the days asked for)."""
    span = times[-1] - times[0] if times else timedelta(0)
    hours = span.total_seconds() / 3600
    if hours < 48:
        return f"{hours:.0f} hour{'s' if round(hours) != 1 else ''}"
    return f"{hours / 24:.0f} days"


def draw_chart(series: "Series", report: dict[str, Any], simulated: bool, mix: str) -> Any:
    """The report chart as a matplotlib Figure (tests read its title and lines); the caller closes it."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import dates as mdates
    from matplotlib import pyplot as plt
    from matplotlib.ticker import PercentFormatter

    x = [t.astimezone(KST).replace(tzinfo=None) for t in series.times]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for name, line in series.lines.items():
        final = float(line[-1] * 100 - 100)
        label = LABELS[name].format(mix=mix)
        top.plot(x, [float(v * 100) for v in line], label=f"{label}: {final:+.2f}%",
                 zorder=5 if name == "portfolio" else 3, **STYLES[name])
    top.axhline(100, color="#cccccc", lw=0.8)
    top.set_ylabel("Growth of 100 (flows removed)")
    top.legend(loc="best", fontsize=8, frameon=False)
    first, last = (x[0], x[-1]) if x else (None, None)
    period = f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} KST ({covered(series.times)})" if x else "no data"
    top.set_title(f"KAIROS-1 — {period}{' [SIMULATED]' if simulated else ''}", loc="left", fontsize=11)
    top.set_title(chart_summary(report), loc="right", fontsize=9, color="#555555")
    drawdown = [float(v * 100) for v in series.drawdown]
    bottom.fill_between(x, drawdown, 0, color="#c0392b", alpha=0.3)
    bottom.plot(x, drawdown, color="#c0392b", lw=1)
    bottom.set_ylabel("Drawdown")
    bottom.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=2))
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
    locator = mdates.AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    bottom.set_xlabel("Time (KST)")
    fig.tight_layout()
    return fig


def chart_summary(report: dict[str, Any]) -> str:
    p, fees = report["portfolio"], report["costs"]["all"]["fees"]
    mdd = f"{p['max_drawdown'] * 100:.2f}%" if p["max_drawdown"] is not None else "n/a"
    return f"TWR {p['twr'] * 100:+.2f}% · max drawdown {mdd} · fees {fmt_krw(fees)} KRW"
