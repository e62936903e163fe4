"""Typed, frozen settings loaded once from YAML + environment.

Where the file lives: `--config PATH`, else `$KAIROS_CONFIG`, else `config/config.yaml` under the
installation home. No file at all means built-in defaults in mock mode (a fresh checkout runs
without keys). Every problem is one `ConfigError` line naming the key path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Literal, Mapping

import yaml

from kairos.errors import ConfigError
from kairos.schema import Rule, Secret, build, expand_env, setting

D = Decimal
RATIO = {"lo": D(0), "hi": D(1)}
COIN = Rule(pattern=r"[A-Z0-9]{1,15}", pattern_hint="a Coinone coin symbol such as BTC")
ALERT_TYPES = (
    "weekly_analysis", "season_change", "quarterly_rebalance", "immediate_rebalance", "twap_start",
    "twap_complete", "twap_stalled", "tracking_error", "system_error", "critical_risk", "test",
)
ALERT_TYPE = Rule(pattern="|".join(ALERT_TYPES), pattern_hint="an alert type (" + ", ".join(ALERT_TYPES) + ")")
MENTION = Rule(pattern=r"[UWS][A-Z0-9]{2,}|@channel|@here|@everyone",
               pattern_hint="a Slack member ID like U1234567890, @channel or @here")
CHANNEL = Rule(pattern="slack|email", pattern_hint="slack or email")
LEVEL = Rule(pattern="critical|warning|info", pattern_hint="critical, warning or info")


@dataclass(frozen=True)
class ExchangeSettings:
    base_url: str = setting("https://api.coinone.co.kr", pattern=r"https?://[^\s/]+(:\d+)?(/[^\s]*)?",
                            pattern_hint="an http(s) URL such as https://api.coinone.co.kr")
    access_token: Secret | None = None
    secret_key: Secret | None = None
    key_issued_on: date | None = None
    timeout_seconds: Decimal = setting(D(10), lo=D(0), lo_open=True, hi=D(120))
    read_retries: int = setting(3, lo=D(0), hi=D(10))
    backoff_seconds: Decimal = setting(D("0.5"), lo=D(0), hi=D(60))
    body_format: Literal["json", "base64", "empty"] = "json"
    # the HMAC key: the secret as issued (Coinone's samples) or upper-cased (ccxt); --preflight tells which works
    secret_key_case: Literal["as_issued", "upper"] = "as_issued"

    @property
    def has_keys(self) -> bool:
        return bool(self.access_token) and bool(self.secret_key)


@dataclass(frozen=True)
class SeasonSettings:
    ma_weeks: int = setting(200, lo=D(10), hi=D(1000))
    band: Decimal = setting(D("0.05"), lo=D(0), hi=D("0.5"))
    risk_on_crypto_ratio: Decimal = setting(D("0.70"), **RATIO)
    risk_off_crypto_ratio: Decimal = setting(D("0.30"), **RATIO)
    reference_coin: str = setting("BTC", pattern=COIN.pattern, pattern_hint=COIN.pattern_hint)


def _weights(**values: str) -> Mapping[str, Decimal]:
    return MappingProxyType({k: D(v) for k, v in values.items()})


@dataclass(frozen=True)
class PortfolioSettings:
    core: Mapping[str, Decimal] = setting(factory=lambda: _weights(BTC="0.40", ETH="0.30"), key_rule=COIN,
                                          item_rule=Rule(**RATIO), upper_keys=True)
    satellite: Mapping[str, Decimal] = setting(factory=lambda: _weights(XRP="0.15", SOL="0.15"), key_rule=COIN,
                                               item_rule=Rule(**RATIO), upper_keys=True)

    @property
    def weights(self) -> dict[str, Decimal]:
        """Weights of the crypto part per coin, core first, in configuration order."""
        return {**self.core, **self.satellite}

    @property
    def universe(self) -> tuple[str, ...]:
        return tuple(self.weights)


@dataclass(frozen=True)
class RebalanceSettings:
    drift_threshold: Decimal = setting(D("0.01"), lo=D(0), hi=D("0.5"))
    fee_buffer: Decimal = setting(D("0.005"), lo=D(0), hi=D("0.1"))
    max_slippage: Decimal = setting(D("0.01"), lo=D(0), lo_open=True, hi=D("0.2"))
    min_order_krw: Decimal = setting(D(5000), lo=D(1000), hi=D(100_000_000))
    rebalance_on_season_change: bool = True
    catch_up: bool = True  # a quarter's rebalance not run by its first Monday 09:00 KST + 1 h is started late
    quarter_months: tuple[int, ...] = setting((1, 4, 7, 10), item_rule=Rule(lo=D(1), hi=D(12)))


@dataclass(frozen=True)
class StrategySettings:
    season_filter: SeasonSettings = field(default_factory=SeasonSettings)
    portfolio: PortfolioSettings = field(default_factory=PortfolioSettings)
    rebalance: RebalanceSettings = field(default_factory=RebalanceSettings)


@dataclass(frozen=True)
class ScheduleSettings:
    slices: int = setting(12, lo=D(1), hi=D(500))
    interval_minutes: int = setting(30, lo=D(1), hi=D(1440))


@dataclass(frozen=True)
class ExecutionSettings:
    atr_period: int = setting(14, lo=D(2), hi=D(200))
    atr_candles: int = setting(100, lo=D(3), hi=D(1000))  # completed daily candles the ATR is computed over
    atr_threshold: Decimal = setting(D("0.05"), lo=D(0), lo_open=True, hi=D(1))
    calm: ScheduleSettings = field(default_factory=ScheduleSettings)
    volatile: ScheduleSettings = field(default_factory=lambda: ScheduleSettings(24, 60))
    max_slice_multiple: Decimal = setting(D(2), lo=D(1), hi=D(10))
    expiry_grace_minutes: int = setting(360, lo=D(0), hi=D(10080))
    lost_order_checks: int = setting(3, lo=D(1), hi=D(50))
    lost_after_minutes: int = setting(30, lo=D(5), hi=D(10080))


@dataclass(frozen=True)
class TradingSettings:
    enabled: bool = True
    max_order_krw: Decimal = setting(D(20_000_000), lo=D(5000), hi=D(10_000_000_000))
    max_daily_krw: Decimal = setting(D(200_000_000), lo=D(5000), hi=D(100_000_000_000))
    notional_tolerance: Decimal = setting(D("0.05"), lo=D(0), hi=D(1))
    allow_insecure_permissions: bool = False


@dataclass(frozen=True)
class MonitoringSettings:
    tracking_error_threshold: Decimal = setting(D("0.05"), lo=D(0), lo_open=True, hi=D(1))
    heartbeat_warn_minutes: int = setting(45, lo=D(1), hi=D(10080))
    weekly_analysis_warn_days: int = setting(8, lo=D(1), hi=D(365))
    key_validity_days: int = setting(365, lo=D(1), hi=D(3650))
    key_expiry_warn_days: int = setting(30, lo=D(0), hi=D(365))


@dataclass(frozen=True)
class MentionSettings:
    default_users: tuple[str, ...] = setting((), item_rule=MENTION)
    by_alert_type: Mapping[str, tuple[str, ...]] = setting(factory=lambda: MappingProxyType({}),
                                                          key_rule=ALERT_TYPE, item_rule=Rule(item_rule=MENTION))
    channel_mention_types: tuple[str, ...] = setting((), item_rule=ALERT_TYPE)


@dataclass(frozen=True)
class SlackSettings:
    enabled: bool = False
    webhook_url: Secret | None = None
    channel: str = "#trading-alerts"
    username: str = "KAIROS-1"
    timeout_seconds: Decimal = setting(D(10), lo=D(0), lo_open=True, hi=D(120))
    mentions: MentionSettings = field(default_factory=MentionSettings)


@dataclass(frozen=True)
class EmailSettings:
    enabled: bool = False
    smtp_server: str = ""
    smtp_port: int = setting(587, lo=D(1), hi=D(65535))
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password: Secret | None = None
    sender: str = ""
    recipients: tuple[str, ...] = setting((), item_rule=Rule(pattern=r"[^@\s]+@[^@\s]+", pattern_hint="an e-mail address"))
    timeout_seconds: Decimal = setting(D(20), lo=D(0), lo_open=True, hi=D(300))


def _default_levels() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({"critical": ("slack", "email"), "warning": ("slack", "email"), "info": ("slack",)})


@dataclass(frozen=True)
class NotificationSettings:
    dedupe_minutes: int = setting(60, lo=D(0), hi=D(10080))
    alert_levels: Mapping[str, tuple[str, ...]] = setting(factory=_default_levels, key_rule=LEVEL,
                                                         item_rule=Rule(item_rule=CHANNEL))
    slack: SlackSettings = field(default_factory=SlackSettings)
    email: EmailSettings = field(default_factory=EmailSettings)


@dataclass(frozen=True)
class MarketSettings:
    max_last_deviation: Decimal = setting(D("0.02"), lo=D(0), lo_open=True, hi=D("0.5"))


@dataclass(frozen=True)
class StateSettings:
    keep_finished_days: int = setting(30, lo=D(0), hi=D(3650))
    lock_wait_seconds: int = setting(120, lo=D(0), hi=D(3600))
    ledger_wait_seconds: Decimal = setting(D(5), lo=D(0), lo_open=True, hi=D(120))


@dataclass(frozen=True)
class PathSettings:
    data_dir: str = ""  # empty: data/<mode>/ under the home (mock and live never share a directory)
    log_dir: str = "logs"


@dataclass(frozen=True)
class LoggingSettings:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_bytes: int = setting(5_000_000, lo=D(10_000), hi=D(1_000_000_000))
    backups: int = setting(5, lo=D(0), hi=D(100))


@dataclass(frozen=True)
class MockSettings:
    initial_krw: Decimal = setting(D(10_000_000), lo=D(0), hi=D(1_000_000_000_000))
    seed: int = setting(20240601, lo=D(0), hi=D(2**31))
    exchange_file: str = "mock_exchange.sqlite"
    server_url: str = setting("", pattern=r"(https?://[^\s/]+(:\d+)?(/[^\s]*)?)?",
                              pattern_hint="empty (in-process simulator) or the URL printed by python -m kairos.sim")
    access_token: str = "sim-access-token-0000"
    secret_key: str = "sim-secret-key-0000"


@dataclass(frozen=True)
class PaperSettings:
    """Paper trading: Coinone's real public data (exchange.base_url), a local pretend account, no keys."""

    initial_krw: Decimal = setting(D(10_000_000), lo=D(0), hi=D(1_000_000_000_000))
    fee_rate: Decimal = setting(D("0.002"), lo=D(0), hi=D("0.05"))
    exchange_file: str = "paper_exchange.sqlite"


@dataclass(frozen=True)
class Settings:
    mode: Literal["mock", "live", "paper"] = "mock"
    language: Literal["ko", "en"] = "ko"
    exchange: ExchangeSettings = field(default_factory=ExchangeSettings)
    strategy: StrategySettings = field(default_factory=StrategySettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    trading: TradingSettings = field(default_factory=TradingSettings)
    market: MarketSettings = field(default_factory=MarketSettings)
    state: StateSettings = field(default_factory=StateSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    mock: MockSettings = field(default_factory=MockSettings)
    paper: PaperSettings = field(default_factory=PaperSettings)
    source: Path | None = field(default=None, compare=False)

    @property
    def universe(self) -> tuple[str, ...]:
        return self.strategy.portfolio.universe

    def secrets(self) -> list[str]:
        """Every secret value in these settings (for the log redaction filter)."""
        found = [self.exchange.access_token, self.exchange.secret_key,
                 self.notifications.slack.webhook_url, self.notifications.email.password]
        return [s.reveal() for s in found if s]


def locate(config_arg: str | None, environ: Mapping[str, str], home: Path) -> tuple[Path, bool]:
    """Where the config file is, and whether the user named it explicitly."""
    if config_arg:
        return Path(config_arg).expanduser(), True
    if environ.get("KAIROS_CONFIG"):
        return Path(environ["KAIROS_CONFIG"]).expanduser(), True
    return home / "config" / "config.yaml", False


def load(config_arg: str | None, environ: Mapping[str, str], home: Path,
         decrypt: Callable[[str, str], str] | None = None) -> Settings:
    """Load, validate and return the settings (defaults when no config file exists)."""
    path, explicit = locate(config_arg, environ, home)
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file not found: {path}")
        tree: object = {}
        path_used = None
    else:
        tree = read_yaml(path)
        path_used = path
    tree = expand_env(tree, environ)
    settings = build(Settings, tree, "", decrypt)
    settings = replace(settings, source=path_used)
    settings = apply_env_overrides(settings, environ)
    check(settings)
    return settings


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text: `2026-13-01` then fails with its key path, not a bare ValueError."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """Refuse a key given twice in one mapping (PyYAML silently keeps the last one)."""
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if (key_node.tag, key_node.value) in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"found duplicate key {key_node.value!r}",
                                                            key_node.start_mark)
                seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:  # a ValueError, not an OSError
        raise ConfigError(f"cannot read config file {path}: not UTF-8 text (byte {exc.start})") from None
    try:
        tree = yaml.load(text, Loader=_Loader) or {}  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
    except (ValueError, TypeError) as exc:  # a constructor refused an explicitly tagged value (!!timestamp …)
        raise ConfigError(f"{path}: invalid value ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where}: {problem}") from None
    refuse_cycles(tree, path)
    return tree


def refuse_cycles(node: object, path: Path, inside: tuple[int, ...] = ()) -> None:
    """Refuse a YAML alias that contains itself (`a: &x [*x]`): checking it would never end."""
    if isinstance(node, (dict, list)):
        if id(node) in inside:
            raise ConfigError(f"{path}: a YAML alias refers to itself; write the value out instead")
        for child in (node.values() if isinstance(node, dict) else node):
            refuse_cycles(child, path, (*inside, id(node)))


def apply_env_overrides(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """KAIROS_ACCESS_TOKEN / KAIROS_SECRET_KEY win over the file's keys."""
    ex = settings.exchange
    token = environ.get("KAIROS_ACCESS_TOKEN")
    secret = environ.get("KAIROS_SECRET_KEY")
    if token:
        ex = replace(ex, access_token=Secret(token))
    if secret:
        ex = replace(ex, secret_key=Secret(secret))
    return replace(settings, exchange=ex)


def check(s: Settings) -> None:
    """Cross-field checks that one field alone cannot express."""
    check_portfolio(s.strategy.portfolio)
    if s.strategy.season_filter.risk_on_crypto_ratio < s.strategy.season_filter.risk_off_crypto_ratio:
        raise ConfigError("strategy.season_filter.risk_on_crypto_ratio: expected at least risk_off_crypto_ratio "
                          f"({s.strategy.season_filter.risk_off_crypto_ratio}), got {s.strategy.season_filter.risk_on_crypto_ratio}")
    if s.execution.atr_candles < s.execution.atr_period + 1:
        raise ConfigError(f"execution.atr_candles: expected at least atr_period + 1 ({s.execution.atr_period + 1}), "
                          f"got {s.execution.atr_candles}")
    if s.mode == "live":
        for key in ("access_token", "secret_key"):
            if not getattr(s.exchange, key):
                env = "KAIROS_ACCESS_TOKEN" if key == "access_token" else "KAIROS_SECRET_KEY"
                raise ConfigError(f"exchange.{key}: required in live mode (in the file or ${env}), got nothing")
    check_notifications(s.notifications)


def check_portfolio(p: PortfolioSettings) -> None:
    both = set(p.core) & set(p.satellite)
    if both:
        raise ConfigError(f"strategy.portfolio.satellite.{sorted(both)[0]}: expected a coin not already in core, got a duplicate")
    if not p.weights:
        raise ConfigError("strategy.portfolio: expected at least one coin, got nothing")
    total = sum(p.weights.values(), D(0))
    if abs(total - 1) > D("0.000001"):
        raise ConfigError(f"strategy.portfolio: expected core + satellite weights to sum to 1, got {total.normalize()}")


_WEBHOOK = re.compile(r"https?://[A-Za-z0-9.-]+(:\d+)?(/\S*)?")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*")


def check_notifications(n: NotificationSettings) -> None:
    if n.slack.enabled and not n.slack.webhook_url:
        raise ConfigError("notifications.slack.webhook_url: expected a webhook URL when slack is enabled, got nothing")
    if n.slack.webhook_url and not n.slack.webhook_url.reveal().startswith("enc:") \
            and not _WEBHOOK.fullmatch(n.slack.webhook_url.reveal()):
        raise ConfigError("notifications.slack.webhook_url: expected an http(s) URL such as "
                          "https://hooks.slack.com/services/…, got something else (value hidden)")
    email = n.email
    if email.enabled and email.smtp_server and not _HOST.fullmatch(email.smtp_server):
        raise ConfigError(f"notifications.email.smtp_server: expected a host name such as smtp.gmail.com "
                          f"(no scheme, no port — the port is smtp_port), got {email.smtp_server!r}")
    if email.enabled and (email.security, email.smtp_port) in (("ssl", 587), ("starttls", 465)):
        other = "starttls" if email.security == "ssl" else "ssl"
        raise ConfigError(f"notifications.email.smtp_port: {email.smtp_port} is the {other} port, but security is "
                          f"{email.security}; use {'465' if email.security == 'ssl' else '587'} or security: {other}")
    if n.email.enabled:
        for key in ("smtp_server", "sender"):
            if not getattr(n.email, key):
                raise ConfigError(f"notifications.email.{key}: expected a value when email is enabled, got nothing")
        if not n.email.recipients:
            raise ConfigError("notifications.email.recipients: expected at least one address when email is enabled, got nothing")
