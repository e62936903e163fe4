"""Command line: argparse → one command per run; exceptions → documented exit codes.

Exit codes
    0  success (also: nothing to do, or an overlapping run skipped quietly)
    1  runtime failure: exchange unreachable or refusing, market data missing, unexpected error
    2  usage or configuration error (bad flag, bad config value, missing/wrong master key)
    3  state file or ledger unreadable/inconsistent: a human must look (nothing was reset)
    4  refused by a safety rail: kill switch, per-order or per-day cap, notional check
    130 interrupted (Ctrl-C)
    141 the output pipe was closed (e.g. `| head`)
    143 stopped by SIGTERM after finishing the order in flight
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from kairos import __version__, signals
from kairos.env import Env
from kairos.errors import ConfigError, KairosError
from kairos.logsetup import FILE_ONLY
from kairos.redact import GLOBAL as REDACTOR

log = logging.getLogger("kairos.cli")

# action dest → "module:function"; imported lazily so the 15-minute tick stays light.
COMMANDS = {
    "weekly_analysis": "kairos.commands.weekly:run",
    "quarterly_rebalance": "kairos.commands.rebalance:run_immediate",
    "quarterly_rebalance_twap": "kairos.commands.rebalance:run_twap",
    "process_twap": "kairos.commands.twap:process",
    "twap_status": "kairos.commands.twap_status:run",
    "clear_failed_twap": "kairos.commands.twap_status:clear_failed",
    "performance_report": "kairos.commands.report:run",
    "system_status": "kairos.commands.status:run",
    "preflight": "kairos.commands.preflight:run",
    "test_alerts": "kairos.commands.alert_check:run",
    "print_crontab": "kairos.commands.crontab:run",
    "backtest": "kairos.commands.backtest:run",
    "init_master_key": "kairos.commands.secrets:init_master_key",
    "encrypt_config": "kairos.commands.secrets:encrypt_config",
    "reset_mock": "kairos.commands.reset:run",
    "reset_paper": "kairos.commands.reset:run_paper",
    "balance": "kairos.commands.console:balance",
    "show_config": "kairos.commands.show_config:run",
    "cancel_twap": "kairos.commands.plan_control:cancel",
    "pause_twap": "kairos.commands.plan_control:pause",
    "resume_twap": "kairos.commands.plan_control:resume",
    "orders": "kairos.commands.console:orders",
}
DRY_RUN_OK = {"weekly_analysis", "quarterly_rebalance", "quarterly_rebalance_twap", "process_twap"}
FORCE_OK = {"quarterly_rebalance", "quarterly_rebalance_twap"}
CHART_OK = {"performance_report", "backtest"}
NEEDS_NO_SETTINGS = {"init_master_key"}
WRITES_DATA = {"weekly_analysis", "quarterly_rebalance", "quarterly_rebalance_twap", "process_twap",
               "clear_failed_twap", "performance_report", "test_alerts", "backtest"}


class Parser(argparse.ArgumentParser):
    """argparse writing to the run's own streams (so in-process tests see usage errors)."""

    streams: tuple[object, object] | None = None

    def _print_message(self, message: str, file=None) -> None:  # noqa: ANN001 - argparse's signature
        if message and self.streams is not None:
            file = self.streams[0] if file in (None, sys.stdout) else self.streams[1]
        super()._print_message(message, file)


HELP_EN = {  # --help in English under --lang en (the Korean text is written at each flag below)
    "--weekly-analysis": "weekly market season analysis (BTC vs its 200-week moving average)",
    "--quarterly-rebalance": "quarterly rebalance, executed at once",
    "--quarterly-rebalance-twap": "quarterly rebalance as TWAP (split into slices)",
    "--process-twap": "advance the TWAP plans by their due slices (cron, every 15 minutes)",
    "--twap-status": "TWAP plans and their orders",
    "--clear-failed-twap": "clear failed / expired / superseded / canceled plans (the ledger keeps them)",
    "--cancel-twap": "cancel one plan: its open orders cancelled and reconciled, fills kept, closed as canceled",
    "--pause-twap": "pause one plan (no order until resumed)",
    "--resume-twap": "resume a paused plan (the remaining slots start now)",
    "--performance-report": "performance report of the last DAYS days",
    "--system-status": "system health checks",
    "--preflight": "before going live: read-only checks of keys, IP, signature, balances, markets, fees, data directory",
    "--show-config": "the effective settings, each with its source (file / environment / default); secrets hidden",
    "--balance": "holdings: available / locked, value, weight vs target, open orders, the active plan",
    "--orders": "orders of the last DAYS days (default 30), from the ledger",
    "--test-alerts": "send a test alert to every enabled channel (Slack / e-mail)",
    "--print-crontab": "print the crontab for this installation",
    "--backtest": "backtest the strategy on past data",
    "--init-master-key": "create the master key for encrypted API keys (config/master.key)",
    "--encrypt-config": "encrypt the secret values of the config file in place",
    "--reset-mock": "archive the simulated account (exchange, state, ledger) and start again (needs --yes)",
    "--reset-paper": "archive the paper-trading account and start again with paper.initial_krw (needs --yes)",
    "--dry-run": "decide and print the plan; no order, no state change",
    "--mock": "use the simulated exchange",
    "--paper": "paper trading: Coinone's real prices, a pretend account (no keys)",
    "--yes": "confirm without asking (--reset-mock, --reset-paper)",
    "--force": "run even if this quarter already ran / supersede the active plan",
    "--config": "config file (default: config/config.yaml or $KAIROS_CONFIG)",
    "--json": "print one JSON document instead of text",
    "--verbose": "copy the log file's lines (with timestamps) to stderr",
    "--lang": "output language (default: the config's language, ko)",
    "--chart": "save a PNG chart (performance report, backtest)",
    "--start": "backtest start date", "--end": "backtest end date", "--capital": "backtest starting capital (KRW)",
    "--data": "folder of your own CSV files for the backtest (SYMBOL.csv per coin)",
}


def lang_of(argv: Sequence[str] | None) -> str:
    """The --lang given on the command line (so --help itself is in that language), else Korean."""
    args = list(argv if argv is not None else sys.argv[1:])
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return "ko"


def build_parser(env: Env | None = None, lang: str = "ko") -> argparse.ArgumentParser:
    english = lang == "en"
    parser = Parser(
        prog="kairos1_main.py", description="KAIROS-1: rule-based long-term crypto allocation for one Coinone account"
        if english else "KAIROS-1: 코인원 장기 자산배분 시스템 (rule-based crypto allocation)",
        epilog="Exit codes: 0 ok, 1 runtime failure, 2 usage/config error, 3 state error, 4 safety stop, "
               "130 interrupted, 143 SIGTERM.")
    actions = parser.add_mutually_exclusive_group()

    def localized(adder):  # noqa: ANN001, ANN202 - wraps argparse's add_argument
        def add_one(flag: str, **kwargs):  # noqa: ANN003, ANN202
            if english and "help" in kwargs:
                kwargs["help"] = HELP_EN.get(flag, kwargs["help"])
            return adder(flag, **kwargs)
        return add_one

    add = localized(actions.add_argument)
    option = localized(parser.add_argument)
    add("--weekly-analysis", action="store_true", help="주간 시장 계절 분석 (BTC vs 200주 이동평균)")
    add("--quarterly-rebalance", action="store_true", help="분기별 리밸런싱 (즉시 실행)")
    add("--quarterly-rebalance-twap", action="store_true", help="TWAP 방식 분기별 리밸런싱 (분할 매매)")
    add("--process-twap", action="store_true", help="대기 중인 TWAP 슬라이스 처리 (cron, 15분마다)")
    add("--twap-status", action="store_true", help="TWAP 주문 상태 조회")
    add("--clear-failed-twap", action="store_true", help="실패/만료/대체된 TWAP 계획 정리")
    add("--cancel-twap", metavar="PLAN_ID", help="계획 하나 취소: 미체결 주문 취소·대조, 체결분 유지, canceled로 종료")
    add("--pause-twap", metavar="PLAN_ID", help="계획 하나 일시정지 (새 주문 없음)")
    add("--resume-twap", metavar="PLAN_ID", help="일시정지한 계획 재개 (남은 슬롯은 지금부터)")
    add("--performance-report", type=_days, metavar="DAYS", help="최근 DAYS일 성과 보고서")
    add("--system-status", action="store_true", help="시스템 상태 확인")
    add("--preflight", action="store_true", help="실거래 전 점검: 키, IP, 서명, 잔고, 마켓, 수수료, 데이터 폴더 (읽기 요청만)")
    add("--show-config", action="store_true", help="적용된 설정과 각 값의 출처(파일/환경변수/기본값), 비밀 값은 숨김")
    add("--balance", action="store_true", help="보유 자산: 사용 가능/주문 중, 평가액, 목표 대비 비중, 미체결 주문, 진행 중 계획")
    add("--orders", type=_days, nargs="?", const=30, metavar="DAYS", help="최근 DAYS일(기본 30) 주문 내역 (장부)")
    add("--test-alerts", action="store_true", help="알림 시스템 테스트 (Slack/이메일)")
    add("--print-crontab", action="store_true", help="이 설치에 맞는 crontab 출력")
    add("--backtest", action="store_true", help="과거 데이터로 전략 백테스트")
    add("--init-master-key", action="store_true", help="API 키 암호화용 마스터 키 생성 (config/master.key)")
    add("--encrypt-config", action="store_true", help="설정 파일의 비밀 값을 제자리에서 암호화")
    add("--reset-mock", action="store_true", help="모의 계좌(모의 거래소·상태·원장)를 보관하고 새로 시작 (--yes 필요)")
    add("--reset-paper", action="store_true", help="모의 투자 계좌를 보관하고 paper.initial_krw로 새로 시작 (--yes 필요)")
    option("--dry-run", action="store_true", help="판단과 계획만 출력, 주문·상태 변경 없음")
    option("--mock", action="store_true", help="모의 거래소(시뮬레이터) 사용")
    option("--paper", action="store_true", help="모의 투자: 코인원의 실제 시세 + 가상 계좌 (키 불필요)")
    option("--yes", action="store_true", help="확인 없이 실행 (--reset-mock)")
    option("--force", action="store_true", help="이번 분기 실행 여부/활성 계획을 무시하고 새로 실행")
    option("--config", metavar="PATH", help="설정 파일 경로 (기본: config/config.yaml 또는 $KAIROS_CONFIG)")
    option("--json", action="store_true", help="사람이 읽는 글 대신 JSON 출력")
    option("--verbose", action="store_true", help="로그 파일의 내용(시각 포함)을 stderr에도 출력")
    option("--lang", choices=("ko", "en"), help="출력 언어 (기본: 설정의 language, ko)")
    option("--chart", metavar="FILE.png", help="차트 PNG 저장 (성과 보고서, 백테스트)")
    option("--start", metavar="YYYY-MM-DD", help="백테스트 시작일")
    option("--end", metavar="YYYY-MM-DD", help="백테스트 종료일")
    option("--capital", metavar="KRW", help="백테스트 초기 자본 (KRW)")
    option("--data", metavar="DIR", help="백테스트용 사용자 CSV 폴더 (코인별 SYMBOL.csv)")
    parser.add_argument("--version", action="version", version=f"kairos {__version__}")
    if env is not None:
        parser.streams = (env.stdout, env.stderr)
    return parser


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if not 1 <= value <= 3650:
        raise argparse.ArgumentTypeError(f"expected between 1 and 3650 days, got {value}")
    return value


def chosen_action(args: argparse.Namespace) -> str | None:
    for dest in COMMANDS:
        value = getattr(args, dest, None)
        if value not in (None, False):
            return dest
    return None


def check_modifiers(action: str, args: argparse.Namespace) -> None:
    """Refuse modifiers that make no sense for the chosen action (one line, exit 2)."""
    if args.dry_run and action not in DRY_RUN_OK:
        raise ConfigError(f"--dry-run: not available with --{action.replace('_', '-')}")
    if args.force and action not in FORCE_OK:
        raise ConfigError("--force: only with --quarterly-rebalance or --quarterly-rebalance-twap")
    if args.yes and action not in ("reset_mock", "reset_paper"):
        raise ConfigError("--yes: only with --reset-mock or --reset-paper")
    if args.mock and args.paper:
        raise ConfigError("--mock and --paper: choose one")
    if args.chart and action not in CHART_OK:
        raise ConfigError("--chart: only with --performance-report or --backtest")
    if action != "backtest" and any((args.start, args.end, args.capital, args.data)):
        raise ConfigError("--start/--end/--capital/--data: only with --backtest")


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    """Run one command; return the process exit status (see the module docstring)."""
    env = env if env is not None else Env.from_process()
    parser = build_parser(env, lang_of(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed usage or --help/--version
        return int(exc.code or 0)
    action = chosen_action(args)
    if action is None:
        parser.print_usage(env.stderr)
        env.stderr.write("error: choose one action, e.g. --weekly-analysis (see --help)\n")
        return 2
    return run(action, args, env)


def run(action: str, args: argparse.Namespace, env: Env) -> int:
    """Run one command with SIGTERM routed to the stop flag (restored afterwards for in-process callers)."""
    previous_handler = signals.install()
    try:
        return dispatch(action, args, env)
    finally:
        signals.restore(previous_handler)


def dispatch(action: str, args: argparse.Namespace, env: Env) -> int:
    """Build the context, run the command, map exceptions to exit codes."""
    ctx = None
    try:
        check_modifiers(action, args)
        ctx = make_context(action, args, env)
        module_name, func_name = COMMANDS[action].split(":")
        command = getattr(importlib.import_module(module_name), func_name)
        code = int(command(ctx) or 0)
        ctx.out.finish(f"--{action.replace('_', '-')}", code)  # --json: one document on every path
        return code
    except KairosError as exc:
        return report_failure(exc, exc.exit_code, ctx, env, action, lang=args.lang)
    except KeyboardInterrupt:
        env.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. `kairos ... | head`: the reader left; nothing to report
        return 141
    except Exception as exc:  # the last line of defence: one line, details in the log file
        log.exception("unexpected error in --%s", action.replace("_", "-"), extra=FILE_ONLY)
        return report_failure(exc, 1, ctx, env, action, unexpected=True, lang=args.lang)


def make_context(action: str, args: argparse.Namespace, env: Env):  # -> Context
    from kairos.context import Context
    from kairos.logsetup import setup_logging
    from kairos.settings import Settings, load

    if action in NEEDS_NO_SETTINGS:
        settings = Settings()
    else:
        from kairos.secrets import decryptor
        settings = load(args.config, env.environ, env.home, decryptor(env.environ, env.home))
    REDACTOR.add(*settings.secrets())
    ctx = Context(env, settings, args, REDACTOR)
    if action not in NEEDS_NO_SETTINGS:
        ctx.adopt_legacy_data()
    # --system-status reports an unusable log or data directory as ❌ and goes on with the other checks
    setup_logging(ctx.paths.log_dir, settings.logging.level, env.stderr, REDACTOR,
                  settings.logging.max_bytes, settings.logging.backups, strict=action != "system_status",
                  verbose=bool(getattr(args, "verbose", False)), lang=ctx.lang)
    if action in WRITES_DATA:
        check_data_dir(ctx.paths.data_dir)
    from kairos.permissions import enforce
    from kairos.secrets import master_key_file
    enforce([settings.source, master_key_file(env.home)], live=ctx.live,
            allow=settings.trading.allow_insecure_permissions)
    log.info("start --%s (mode=%s, dry_run=%s)", action.replace("_", "-"), ctx.mode, ctx.dry_run)
    arm_crashpoints(env, mock=ctx.mock)
    return ctx


def check_data_dir(path) -> None:  # noqa: ANN001 - a Path
    """The data directory exists (or can be made) and takes a file; else one line naming it and its setting."""
    import os

    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"data directory {path} (paths.data_dir) cannot be used: {exc.strerror or exc}") from None


def arm_crashpoints(env: Env, *, mock: bool) -> None:
    """Test-only crash injection: KAIROS_CRASH_AT=N (mock mode only) kills the run at its N-th I/O point."""
    from kairos import crashpoints

    raw = (env.environ.get("KAIROS_CRASH_AT") or "").strip()
    if mock and raw.isdigit() and int(raw) > 0:
        crashpoints.arm(int(raw), env.environ.get("KAIROS_CRASH_TRACE") or None)
    else:
        crashpoints.disarm()  # never inherit an armed state from an earlier in-process run


def report_failure(exc: BaseException, code: int, ctx, env: Env, action: str, unexpected: bool = False,
                   lang: str | None = None) -> int:
    """Print one redacted line, log it, and send a best-effort system_error alert."""
    lang = getattr(ctx, "lang", None) or lang or "ko"
    label = {"ko": "오류", "en": "error"}[lang]
    kind = f"{type(exc).__name__}: " if unexpected else ""
    message = REDACTOR(f"{label}: {kind}{exc}".splitlines()[0] if str(exc) else f"{label}: {type(exc).__name__}")
    env.stderr.write(message + "\n")
    env.stderr.flush()
    if ctx is not None:
        ctx.out.finish(f"--{action.replace('_', '-')}", code, error=message)
    log.error("--%s failed (exit %d): %s", action.replace("_", "-"), code, message, extra=FILE_ONLY)
    if ctx is not None and code in (1, 3, 4) and action not in ("test_alerts",):
        send_failure_alert(ctx, action, message, code)
    return code


def send_failure_alert(ctx, action: str, message: str, code: int) -> None:
    try:
        alert_type = "critical_risk" if code == 4 else "system_error"
        ctx.alerts.failure(alert_type, action, message, code)
    except Exception:  # a failing alert must never mask the original failure
        log.warning("could not send the failure alert", exc_info=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
