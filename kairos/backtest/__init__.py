"""Backtests: the live strategy's pure core functions replayed on daily history, with costs.

    data       UTC day helpers, History, weekly candles from daily ones
    csvdata    the user's CSVs (`--data DIR`, one SYMBOL.csv per coin; format in its docstring)
    cache      exchange daily candles cached in SQLite (data/backtest_cache.sqlite), keyed by source
    market     per-day prices, tradability, ATR%, σ and volume without look-ahead
    signals    weekly season decisions through kairos.core.season
    book       holdings and fills with costs (kairos.core.costs)
    engine     the strategy and the benchmarks, day by day
    metrics    CAGR, drawdown, volatility, Sharpe, Sortino, Calmar, turnover, costs
    study      the main run plus the robustness table over several start dates
    report     text (ko/en) and the --json document;  chart: the PNG (matplotlib, Agg)

Nothing outside `kairos.commands.backtest` imports this package, so numpy/pandas/matplotlib never
slow down the cron jobs.
"""
