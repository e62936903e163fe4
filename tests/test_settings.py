"""Typed frozen settings from YAML + environment (kairos.settings.load)."""
from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from kairos.errors import ConfigError
from kairos.schema import Secret
from kairos.settings import Settings, load, locate

D = Decimal


def write(home: Path, text: str, name: str = "config/config.yaml") -> Path:
    path = home / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_text(home: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    write(home, text)
    return load(None, environ or {}, home)


# ---- defaults and shape ----------------------------------------------------------------------------

def test_no_file_means_defaults_in_mock_mode(tmp_path: Path) -> None:
    s = load(None, {}, tmp_path)
    assert s.mode == "mock" and s.language == "ko" and s.source is None
    assert dict(s.strategy.portfolio.weights) == {"BTC": D("0.40"), "ETH": D("0.30"), "XRP": D("0.15"),
                                                   "SOL": D("0.15")}
    assert s.universe == ("BTC", "ETH", "XRP", "SOL")
    assert (s.execution.calm.slices, s.execution.calm.interval_minutes) == (12, 30)
    assert (s.execution.volatile.slices, s.execution.volatile.interval_minutes) == (24, 60)
    assert s.strategy.season_filter.band == D("0.05") and s.strategy.season_filter.ma_weeks == 200
    assert s.strategy.rebalance.min_order_krw == D(5000) and s.strategy.rebalance.quarter_months == (1, 4, 7, 10)
    assert not s.exchange.has_keys and s.secrets() == []
    assert s == Settings()


def test_empty_file_is_defaults_with_its_source(tmp_path: Path) -> None:
    s = load_text(tmp_path, "# nothing yet\n")
    assert s.source == tmp_path / "config" / "config.yaml"
    assert dataclasses.replace(s, source=None) == Settings()


def test_settings_are_frozen_and_mappings_read_only(tmp_path: Path) -> None:
    s = load(None, {}, tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.mode = "live"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.strategy.portfolio.core["BTC"] = D(1)  # type: ignore[index]


def test_full_config_is_typed(tmp_path: Path) -> None:
    s = load_text(tmp_path, """\
mode: mock
language: en
exchange:
  base_url: http://127.0.0.1:8765/
  key_issued_on: 2026-01-31
  timeout_seconds: 2.5
  read_retries: 0
  body_format: base64
strategy:
  portfolio:
    core: {btc: "0.5", eth: 0.2}
    satellite: {xrp: 0.3}
  rebalance:
    quarter_months: [3, 6, 9, 12]
    rebalance_on_season_change: false
execution:
  calm: {slices: 6, interval_minutes: 10}
notifications:
  slack:
    mentions:
      default_users: [U0123456789, "@channel"]
      by_alert_type: {season_change: [W0123456789], critical_risk: ["@here"]}
      channel_mention_types: [system_error]
  alert_levels:
    critical: [email]
""")
    assert s.language == "en"
    assert s.exchange.base_url == "http://127.0.0.1:8765/"
    assert s.exchange.key_issued_on == date(2026, 1, 31)
    assert s.exchange.timeout_seconds == D("2.5") and isinstance(s.exchange.timeout_seconds, Decimal)
    assert s.exchange.read_retries == 0 and s.exchange.body_format == "base64"
    assert dict(s.strategy.portfolio.core) == {"BTC": D("0.5"), "ETH": D("0.2")}
    assert s.universe == ("BTC", "ETH", "XRP")
    assert s.strategy.rebalance.quarter_months == (3, 6, 9, 12)
    assert s.strategy.rebalance.rebalance_on_season_change is False
    assert s.execution.calm.slices == 6 and s.execution.volatile.slices == 24  # untouched default
    assert s.notifications.slack.mentions.by_alert_type["season_change"] == ("W0123456789",)
    assert s.notifications.slack.mentions.default_users == ("U0123456789", "@channel")
    assert dict(s.notifications.alert_levels) == {"critical": ("email",)}


# ---- errors name their key path --------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("strategy:\n  portfolio:\n    core:\n      BTC: 1.4\n",
     "strategy.portfolio.core.BTC: expected a number between 0 and 1, got 1.4"),
    ("strategy:\n  season_filer: {}\n",
     "strategy.season_filer: unknown setting (did you mean 'season_filter'?); allowed: season_filter, portfolio, "
     "rebalance"),
    ("notifcations: {}\n", "notifcations: unknown setting (did you mean 'notifications'?)"),
    ("strategy:\n  portfolio:\n    core: {btc: 0.1, ETH: 0.3, BTC: 0.4}\n",
     "strategy.portfolio.core.BTC: expected each key only once (case does not matter), got a duplicate"),
    ("exchange:\n  key_issued_on: 2026-02-30\n",
     "exchange.key_issued_on: expected a date like 2026-01-31, got 2026-02-30"),
    ("exchange:\n  timeout_seconds: 0\n",
     "exchange.timeout_seconds: expected a number greater than 0 and at most 120, got 0"),
    ("trading:\n  max_order_krw: lots\n",
     "trading.max_order_krw: expected a number between 5000 and 10000000000, got lots"),
    ("monitoring:\n  heartbeat_warn_minutes: true\n",
     "monitoring.heartbeat_warn_minutes: expected a whole number, got True"),
    ("exchange:\n  secret_key: [a, b]\n", "exchange.secret_key: expected a text value in quotes, got a list"),
])
def test_errors_are_one_line_with_the_key_path(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_secret_value_is_never_in_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, "exchange:\n  access_token: 1234567890123\n")
    assert "1234567890123" not in str(info.value)


# ---- environment -----------------------------------------------------------------------------------

def test_env_keys_override_the_file(tmp_path: Path) -> None:
    text = "mode: live\nexchange:\n  access_token: file-token-0001\n  secret_key: file-secret-0001\n"
    from_file = load_text(tmp_path, text)
    assert from_file.exchange.access_token == Secret("file-token-0001")
    s = load_text(tmp_path, text, {"KAIROS_ACCESS_TOKEN": "env-token-0002", "KAIROS_SECRET_KEY": "env-secret-0002"})
    assert s.exchange.access_token is not None and s.exchange.access_token.reveal() == "env-token-0002"
    assert s.exchange.secret_key is not None and s.exchange.secret_key.reveal() == "env-secret-0002"
    assert sorted(s.secrets()) == ["env-secret-0002", "env-token-0002"]


def test_env_keys_alone_satisfy_live_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^exchange\.access_token: required in live mode"):
        load_text(tmp_path, "mode: live\n")
    s = load_text(tmp_path, "mode: live\n", {"KAIROS_ACCESS_TOKEN": "tok-abcdef", "KAIROS_SECRET_KEY": "sec-abcdef"})
    assert s.mode == "live" and s.exchange.has_keys


def test_only_one_env_key_overrides_only_that_key(tmp_path: Path) -> None:
    s = load_text(tmp_path, "exchange:\n  access_token: file-token\n  secret_key: file-secret\n",
                  {"KAIROS_SECRET_KEY": "env-secret", "KAIROS_ACCESS_TOKEN": ""})
    assert s.exchange.access_token == Secret("file-token") and s.exchange.secret_key == Secret("env-secret")


@pytest.mark.parametrize("environ, channel, token", [
    ({}, "#fallback", None),
    ({"SLACK_CHANNEL": "#ops", "TOKEN": "tok-from-env"}, "#ops", "tok-from-env"),
    ({"SLACK_CHANNEL": ""}, "", None),  # set but empty: the value, not the default
])
def test_variable_expansion_with_defaults(tmp_path: Path, environ: dict[str, str], channel: str,
                                          token: str | None) -> None:
    s = load_text(tmp_path, 'notifications:\n  slack:\n    channel: "${SLACK_CHANNEL:-#fallback}"\n'
                            'exchange:\n  access_token: "${TOKEN:-}"\n', environ)
    assert s.notifications.slack.channel == channel
    assert (s.exchange.access_token.reveal() if s.exchange.access_token else None) == token


def test_variable_expansion_inside_text_and_lists(tmp_path: Path) -> None:
    s = load_text(tmp_path, 'notifications:\n  email:\n    sender: "kairos@${DOMAIN}"\n'
                            '    recipients: ["ops@${DOMAIN}", "${EXTRA:-cto@example.com}"]\n'
                            'strategy:\n  season_filter:\n    band: "${BAND:-0.07}"\n',
                  {"DOMAIN": "example.org"})
    assert s.notifications.email.sender == "kairos@example.org"
    assert s.notifications.email.recipients == ("ops@example.org", "cto@example.com")
    assert s.strategy.season_filter.band == D("0.07")


def test_unset_variable_names_key_and_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, "notifications:\n  slack:\n    webhook_url: ${SLACK_HOOK}\n")
    assert str(info.value) == ("notifications.slack.webhook_url: environment variable SLACK_HOOK is not set "
                               "(referenced as ${SLACK_HOOK})")


# ---- where the file is -----------------------------------------------------------------------------

def test_locate(tmp_path: Path) -> None:
    assert locate("x.yaml", {"KAIROS_CONFIG": "y.yaml"}, tmp_path) == (Path("x.yaml"), True)
    assert locate(None, {"KAIROS_CONFIG": "y.yaml"}, tmp_path) == (Path("y.yaml"), True)
    assert locate(None, {}, tmp_path) == (tmp_path / "config" / "config.yaml", False)


def test_explicit_missing_file_is_an_error_but_default_missing_is_not(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load(str(tmp_path / "missing.yaml"), {}, tmp_path)
    with pytest.raises(ConfigError, match="config file not found"):
        load(None, {"KAIROS_CONFIG": str(tmp_path / "missing.yaml")}, tmp_path)
    assert load(None, {}, tmp_path).source is None


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "mode: mock\nstrategy:\n  portfolio: {core: [\n")
    with pytest.raises(ConfigError) as info:
        load(str(path), {}, tmp_path)
    assert str(info.value).startswith(f"{path}: line ")
    assert ", column " in str(info.value)


def test_explicitly_tagged_bad_value_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "exchange:\n  key_issued_on: !!timestamp 2026-13-01\n")
    with pytest.raises(ConfigError, match="invalid value"):
        load(str(path), {}, tmp_path)


def test_encrypted_value_goes_through_the_hook(tmp_path: Path) -> None:
    write(tmp_path, "exchange:\n  secret_key: enc:opaque\n  access_token: plain-token\n")
    seen: list[tuple[str, str]] = []

    def decrypt(value: str, path: str) -> str:
        seen.append((value, path))
        return "decrypted-secret"

    s = load(None, {}, tmp_path, decrypt)
    assert seen == [("enc:opaque", "exchange.secret_key")]
    assert s.exchange.secret_key == Secret("decrypted-secret")
    assert s.exchange.access_token == Secret("plain-token")


def test_secret_hides_itself() -> None:
    secret = Secret("hunter2-hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret) and "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2-hunter2"
    assert not Secret("") and secret == Secret("hunter2-hunter2") and secret != "hunter2-hunter2"


def test_duplicate_yaml_key_is_refused_but_merge_keys_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 3, column 1: found duplicate key 'mode'"):
        load_text(tmp_path, "mode: mock\nlanguage: en\nmode: live\n")
    s = load_text(tmp_path, "execution:\n  calm: &calm\n    slices: 6\n    interval_minutes: 10\n"
                            "  volatile:\n    <<: *calm\n    slices: 24\n")
    assert (s.execution.volatile.slices, s.execution.volatile.interval_minutes) == (24, 10)


def test_dates_and_datetimes_in_yaml(tmp_path: Path) -> None:
    assert load_text(tmp_path, "exchange:\n  key_issued_on: 2026-01-31\n").exchange.key_issued_on == date(2026, 1, 31)
    with pytest.raises(ConfigError, match=r"^exchange\.key_issued_on: expected a date like 2026-01-31"):
        load_text(tmp_path, "exchange:\n  key_issued_on: 2026-01-31 10:00:00\n")
