"""--backtest: the live strategy replayed on daily history, with costs, benchmarks, robustness and a chart.

    python kairos1_main.py --backtest [--start YYYY-MM-DD] [--end YYYY-MM-DD] [--capital KRW]
                                      [--data DIR] [--chart FILE.png] [--json] [--lang en] [--mock]

History comes from the exchange's daily candles (the simulator in mock mode), cached in
`data/backtest_cache.sqlite` so a rerun is offline, or from the user's CSV files in `--data DIR`
(format: `kairos.backtest.csvdata`). Bad flags or CSV rows exit 2; too little history exits 1 and
says how much there is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from kairos.clock import to_ms
from kairos.context import Context
from kairos.core.costs import CostModel
from kairos.errors import ConfigError, DataError, ExchangeError
from kairos.money import to_decimal

if TYPE_CHECKING:
    from kairos.backtest.data import History

DEFAULT_CAPITAL = Decimal(10_000_000)
MAX_CAPITAL = Decimal(10) ** 15
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

M = {
    "cache": ("  캐시: {path} (이번에 거래소에서 받은 코인 {n}개)", "  Cache: {path} ({n} coin(s) fetched from the exchange this run)"),
}


@dataclass(frozen=True)
class Options:
    start_day: int | None
    end_day: int | None
    capital: Decimal
    data: str | None
    chart: Path | None


def run(ctx: Context, costs: CostModel | None = None) -> int:
    """Load history, run the study, print (or emit JSON), draw the chart when asked."""
    from kairos.backtest import csvdata, report
    from kairos.backtest.chart import save_chart
    from kairos.backtest.study import run_study

    opts = options(ctx.args)
    try:
        history, fetched = load_history(ctx, opts)
    except csvdata.CsvError as exc:
        if len(exc.problems) > 1:  # the exit line names the first; every problem gets its own line here
            ctx.env.stderr.write("".join(f"{line}\n" for line in exc.problems))
        raise
    study = run_study(history, ctx.settings, capital=opts.capital, costs=costs or CostModel(),
                      start_day=opts.start_day, end_day=opts.end_day)
    chart = str(save_chart(study, opts.chart)) if opts.chart else None
    report.show(ctx.out, study, chart)
    if fetched is not None:
        ctx.out.say(ctx.out.t(M["cache"], path=cache_path(ctx), n=fetched))
    document = report.document(study, chart)
    document["backtest"]["cache"] = None if fetched is None else {"path": str(cache_path(ctx)), "fetched_coins": fetched}
    ctx.out.emit(document)
    return 0


# ---- options ------------------------------------------------------------------------------------------
def options(args: object) -> Options:
    """Validate --start/--end/--capital/--data/--chart; one-line ConfigError on a bad value."""
    from kairos.backtest.data import from_date

    start, end = (_date_arg(getattr(args, name, None), name) for name in ("start", "end"))
    if start and end and start > end:
        raise ConfigError(f"--start {start} is after --end {end}")
    chart = getattr(args, "chart", None)
    return Options(start_day=from_date(start) if start else None, end_day=from_date(end) if end else None,
                   capital=_capital(getattr(args, "capital", None)), data=getattr(args, "data", None),
                   chart=_chart_path(chart) if chart else None)


def _date_arg(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    value = text.strip()
    if not _DATE.fullmatch(value):
        raise ConfigError(f"--{name}: expected a date as YYYY-MM-DD, got {text!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--{name}: no such day {text!r}") from None


def _capital(text: str | None) -> Decimal:
    if text is None:
        return DEFAULT_CAPITAL
    try:
        value = to_decimal(text.replace("_", ""), what="--capital")
    except ValueError as exc:
        raise ConfigError(f"{exc} (KRW, e.g. 10000000)") from None
    if not 0 < value <= MAX_CAPITAL:
        raise ConfigError(f"--capital: must be more than 0 and at most {MAX_CAPITAL:,} KRW, got {text!r}")
    return value


def _chart_path(text: str) -> Path:
    path = Path(text).expanduser()
    if path.suffix.lower() != ".png":
        raise ConfigError(f"--chart: expected a .png file name, got {text!r}")
    if not path.parent.is_dir():
        raise ConfigError(f"--chart {text}: folder {path.parent} does not exist")
    return path


# ---- history ------------------------------------------------------------------------------------------
def load_history(ctx: Context, opts: Options) -> tuple[History, int | None]:
    """The user's CSVs (`--data`), else cached exchange candles; returns (history, coins fetched or None)."""
    from kairos.backtest import csvdata
    from kairos.backtest.data import History

    coins = history_coins(ctx)
    if opts.data:
        return History(f"csv:{opts.data}", csvdata.load_dir(Path(opts.data).expanduser(), coins, opts.data)), None
    return _exchange_history(ctx, opts, coins)


def _exchange_history(ctx: Context, opts: Options, coins: tuple[str, ...]) -> tuple[History, int]:
    from kairos.backtest.cache import CandleCache, load_daily
    from kairos.backtest.data import History, day_of

    source = source_key(ctx)
    today = day_of(to_ms(ctx.clock.now()))
    need_until = today - 1 if opts.end_day is None else min(opts.end_day, today - 1)
    try:
        candles, fetched = load_daily(CandleCache(cache_path(ctx)), lambda: ctx.client, source, coins, today, need_until)
    except ExchangeError as exc:
        raise DataError(f"no backtest: daily candles unavailable ({exc})") from exc
    return History(source, candles), fetched


def history_coins(ctx: Context) -> tuple[str, ...]:
    """The universe, plus the season filter's reference coin when it is not in it."""
    universe = ctx.settings.universe
    reference = ctx.settings.strategy.season_filter.reference_coin
    return universe if reference in universe else (*universe, reference)


def cache_path(ctx: Context) -> Path:
    from kairos.backtest.cache import FILE_NAME

    return ctx.paths.data_dir / FILE_NAME


def source_key(ctx: Context) -> str:
    """Where candles come from, as the cache key: real Coinone and each simulator never share rows."""
    if not ctx.mock:
        return f"coinone:{ctx.settings.exchange.base_url}"
    mock = ctx.settings.mock
    if mock.server_url:
        return f"mock:{mock.server_url}"
    app_seed = getattr(getattr(ctx.env.sim_app, "model", None), "seed", None)
    if ctx.env.sim_app is not None:
        return f"mock:seed={app_seed}" if app_seed is not None else f"mock:app={type(ctx.env.sim_app).__name__}"
    return f"mock:seed={paper_seed(ctx)}"


def paper_seed(ctx: Context) -> int:
    """The model seed of the paper account (recorded in its file at first use), else the configured one."""
    path = ctx.paths.data_dir / ctx.settings.mock.exchange_file
    if path.exists():
        from kairos.sim.store import SqliteStore

        recorded = SqliteStore(path).read_meta("model_seed")
        if recorded is not None:
            return int(recorded)
    return ctx.settings.mock.seed
