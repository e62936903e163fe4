"""The command line in-process: `main(argv, env=Env(...))` with a tmp home and a config written here."""
from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import Callable

import pytest

from kairos import __version__
from kairos.cli import main
from kairos.env import Env

SEED_FLAGS = ["--weekly-analysis", "--quarterly-rebalance", "--quarterly-rebalance-twap", "--process-twap",
              "--twap-status", "--clear-failed-twap", "--performance-report", "--system-status", "--test-alerts",
              "--dry-run"]

PORTFOLIO_OK = """\
strategy:
  portfolio:
    core: {BTC: 0.4, ETH: 0.3}
    satellite: {XRP: 0.15, SOL: 0.15}
"""

# (id, YAML text, the one stderr line after "오류: "; a regex when it starts with "re:")
MALFORMED = [
    ("unknown-key-did-you-mean", "strategy:\n  portfolio:\n    cor: {BTC: 1}\n",
     "strategy.portfolio.cor: unknown setting (did you mean 'core'?); allowed: core, satellite"),
    ("unknown-nested-key-did-you-mean", "execution:\n  calm:\n    slice: 12\n",
     "execution.calm.slice: unknown setting (did you mean 'slices'?); allowed: slices, interval_minutes"),
    ("unknown-top-level-key", "strategie: {}\n",
     "re:^strategie: unknown setting \\(did you mean 'strategy'\\?\\); allowed: mode, language, exchange, "),
    ("unknown-top-level-key-no-hint", "zzz_extra: 1\n", "re:^zzz_extra: unknown setting; allowed: mode, "),
    ("string-for-number", "execution:\n  atr_threshold: high\n",
     "execution.atr_threshold: expected a number greater than 0 and at most 1, got high"),
    ("string-for-whole-number", "execution:\n  calm:\n    slices: twelve\n",
     "execution.calm.slices: expected a whole number, got twelve"),
    ("float-for-whole-number", "exchange:\n  read_retries: 2.5\n",
     "exchange.read_retries: expected a whole number, got 2.5"),
    ("list-for-settings-mapping", "strategy:\n  portfolio: [BTC, ETH]\n",
     "strategy.portfolio: expected a mapping of settings, got a list"),
    ("list-for-weights-mapping", "strategy:\n  portfolio:\n    core: [BTC, ETH]\n",
     "strategy.portfolio.core: expected a mapping, got a list"),
    ("number-for-bool", "trading:\n  enabled: 1\n", "trading.enabled: expected true or false, got 1"),
    ("string-for-bool", "notifications:\n  slack:\n    enabled: 'yes'\n",
     'notifications.slack.enabled: expected true or false, got the quoted text "yes" (write it without quotes)'),
    ("quoted-false", "trading:\n  enabled: \"false\"\n",
     'trading.enabled: expected true or false, got the quoted text "false" (write it without quotes)'),
    ("webhook-not-a-url", "notifications:\n  slack:\n    webhook_url: not-a-url\n",
     "notifications.slack.webhook_url: expected an http(s) URL such as https://hooks.slack.com/services/…, "
     "got something else (value hidden)"),
    ("smtp-host-with-port", "notifications:\n  email: {enabled: true, smtp_server: 'smtp.gmail.com:587', "
     "sender: a@b.c, recipients: [a@b.c]}\n",
     "re:^notifications\\.email\\.smtp_server: expected a host name such as smtp\\.gmail\\.com"),
    ("smtp-ssl-on-587", "notifications:\n  email: {enabled: true, smtp_server: smtp.gmail.com, smtp_port: 587, "
     "security: ssl, sender: a@b.c, recipients: [a@b.c]}\n",
     "notifications.email.smtp_port: 587 is the starttls port, but security is ssl; use 465 or security: starttls"),
    ("mapping-for-list", "notifications:\n  email:\n    recipients: {a: b}\n",
     "notifications.email.recipients: expected a list, got a mapping"),
    ("ratio-above-one", "strategy:\n  portfolio:\n    core:\n      BTC: 1.4\n",
     "strategy.portfolio.core.BTC: expected a number between 0 and 1, got 1.4"),
    ("ratio-negative", "strategy:\n  portfolio:\n    satellite: {xrp: -0.1}\n",
     "strategy.portfolio.satellite.XRP: expected a number between 0 and 1, got -0.1"),
    ("ratio-nan", "strategy:\n  portfolio:\n    core: {BTC: .nan}\n",
     "strategy.portfolio.core.BTC: expected a number between 0 and 1, got nan"),
    ("season-ratio-out-of-range", "strategy:\n  season_filter:\n    risk_on_crypto_ratio: 1.5\n",
     "strategy.season_filter.risk_on_crypto_ratio: expected a number between 0 and 1, got 1.5"),
    ("risk-on-below-risk-off", "strategy:\n  season_filter:\n    risk_on_crypto_ratio: 0.2\n",
     "strategy.season_filter.risk_on_crypto_ratio: expected at least risk_off_crypto_ratio (0.30), got 0.2"),
    ("weights-not-summing-to-one", "strategy:\n  portfolio:\n    core: {BTC: 0.5, ETH: 0.3}\n",
     "strategy.portfolio: expected core + satellite weights to sum to 1, got 1.1"),
    ("no-coins", "strategy:\n  portfolio:\n    core: {}\n    satellite: {}\n",
     "strategy.portfolio: expected at least one coin, got nothing"),
    ("coin-in-core-and-satellite",
     "strategy:\n  portfolio:\n    core: {BTC: 0.4, ETH: 0.3}\n    satellite: {btc: 0.15, SOL: 0.15}\n",
     "strategy.portfolio.satellite.BTC: expected a coin not already in core, got a duplicate"),
    ("bad-coin-symbol", "strategy:\n  portfolio:\n    core: {BTC-KRW: 0.7}\n",
     "strategy.portfolio.core.BTC-KRW: expected a Coinone coin symbol such as BTC, got BTC-KRW"),
    ("bad-mention-id", "notifications:\n  slack:\n    mentions:\n      default_users: [bob]\n",
     "notifications.slack.mentions.default_users[0]: expected a Slack member ID like U1234567890, @channel or "
     "@here, got bob"),
    ("bad-alert-type-in-by-alert-type",
     "notifications:\n  slack:\n    mentions:\n      by_alert_type:\n        weekly: [U0123456789]\n",
     "re:^notifications\\.slack\\.mentions\\.by_alert_type\\.weekly: expected an alert type \\(weekly_analysis, "
     ".*\\), got weekly$"),
    ("bad-mention-in-by-alert-type",
     "notifications:\n  slack:\n    mentions:\n      by_alert_type:\n        season_change: [u0123]\n",
     "notifications.slack.mentions.by_alert_type.season_change[0]: expected a Slack member ID like U1234567890, "
     "@channel or @here, got u0123"),
    ("bad-alert-type-in-channel-mention-types",
     "notifications:\n  slack:\n    mentions:\n      channel_mention_types: [critical_risk, panic]\n",
     "re:^notifications\\.slack\\.mentions\\.channel_mention_types\\[1\\]: expected an alert type .*, got panic$"),
    ("unknown-alert-level-channel", "notifications:\n  alert_levels:\n    critical: [slack, sms]\n",
     "notifications.alert_levels.critical[1]: expected slack or email, got sms"),
    ("unknown-alert-level", "notifications:\n  alert_levels:\n    urgent: [slack]\n",
     "notifications.alert_levels.urgent: expected critical, warning or info, got urgent"),
    ("unset-variable", "exchange:\n  access_token: ${KAIROS_TEST_SURELY_UNSET}\n",
     "exchange.access_token: environment variable KAIROS_TEST_SURELY_UNSET is not set "
     "(referenced as ${KAIROS_TEST_SURELY_UNSET})"),
    ("unset-variable-in-list", "notifications:\n  email:\n    recipients: [ops@example.com, '${NOPE_MAIL}']\n",
     "notifications.email.recipients[1]: environment variable NOPE_MAIL is not set (referenced as ${NOPE_MAIL})"),
    ("invalid-yaml", "strategy:\n  portfolio:\n    core: {BTC: 0.4\n  mode: live\n",
     r"re:config\.yaml: line \d+, column \d+: .+"),
    ("invalid-yaml-tab-indent", "mode: mock\n\tlanguage: ko\n", r"re:config\.yaml: line 2, column 1: .+"),
    ("zero-slices", "execution:\n  calm:\n    slices: 0\n",
     "execution.calm.slices: expected a whole number between 1 and 500, got 0"),
    ("zero-interval", "execution:\n  volatile:\n    interval_minutes: 0\n",
     "execution.volatile.interval_minutes: expected a whole number between 1 and 1440, got 0"),
    ("bad-mode", "mode: demo\n", "mode: expected one of mock, live, paper, got demo"),
    ("bad-language", "language: fr\n", "language: expected one of ko, en, got fr"),
    ("bad-base-url", "exchange:\n  base_url: ftp://api.coinone.co.kr\n",
     "exchange.base_url: expected an http(s) URL such as https://api.coinone.co.kr, got ftp://api.coinone.co.kr"),
    ("bad-body-format", "exchange:\n  body_format: xml\n",
     "exchange.body_format: expected one of json, base64, empty, got xml"),
    ("bad-date", "exchange:\n  key_issued_on: 2026-13-01\n",
     "exchange.key_issued_on: expected a date like 2026-01-31, got 2026-13-01"),
    ("quarter-month-13", "strategy:\n  rebalance:\n    quarter_months: [1, 13]\n",
     "strategy.rebalance.quarter_months[1]: expected a whole number between 1 and 12, got 13"),
    ("slack-enabled-without-webhook", "notifications:\n  slack:\n    enabled: true\n",
     "notifications.slack.webhook_url: expected a webhook URL when slack is enabled, got nothing"),
    ("email-enabled-without-recipients",
     "notifications:\n  email:\n    enabled: true\n    smtp_server: smtp.example.com\n    sender: k@example.com\n",
     "notifications.email.recipients: expected at least one address when email is enabled, got nothing"),
    ("email-enabled-without-server", "notifications:\n  email:\n    enabled: true\n    recipients: [a@example.com]\n",
     "notifications.email.smtp_server: expected a value when email is enabled, got nothing"),
    ("bad-email-address", "notifications:\n  email:\n    recipients: [ops.example.com]\n",
     "notifications.email.recipients[0]: expected an e-mail address, got ops.example.com"),
    ("live-mode-without-keys", "mode: live\n",
     "exchange.access_token: required in live mode (in the file or $KAIROS_ACCESS_TOKEN), got nothing"),
    ("live-mode-without-secret", "mode: live\nexchange:\n  access_token: tok-123456\n",
     "exchange.secret_key: required in live mode (in the file or $KAIROS_SECRET_KEY), got nothing"),
    ("top-level-list", "- mode\n- live\n", "config: expected a mapping of settings, got a list"),
    ("duplicate-section", "strategy:\n  portfolio:\n    core: {BTC: 0.7}\n    satellite: {ETH: 0.3}\n"
                          "mode: mock\nstrategy:\n  rebalance: {drift_threshold: 0.02}\n",
     "re:config\\.yaml: line 6, column 1: found duplicate key 'strategy'$"),
    ("duplicate-coin-in-other-case", "strategy:\n  portfolio:\n    core: {btc: 0.1, ETH: 0.3, BTC: 0.4}\n",
     "strategy.portfolio.core.BTC: expected each key only once (case does not matter), got a duplicate"),
    ("numeric-secret-not-echoed", "notifications:\n  email:\n    password: 86753091\n",
     "notifications.email.password: expected a text value in quotes, got a non-text value (hidden)"),
]


def write_config(home: Path, text: str) -> Path:
    path = home / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_line_error(env: Env, expected: str) -> str:
    err = env.stderr.getvalue()
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    line = err[:-1]
    assert line.startswith("오류: "), line
    message = line[len("오류: "):]
    if expected.startswith("re:"):
        assert re.search(expected[3:], message), message
    else:
        assert message == expected
    return message


def test_the_table_is_big_enough() -> None:
    assert len(MALFORMED) >= 20
    assert len({case[0] for case in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize("text, expected", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
@pytest.mark.parametrize("how", ["default-location", "--config"])
def test_malformed_config_exits_2_with_one_line(make_env: Callable[..., Env], tmp_path: Path, text: str,
                                                expected: str, how: str) -> None:
    path = write_config(tmp_path, text)
    env = make_env()
    argv = ["--system-status"] + (["--config", str(path)] if how == "--config" else [])
    assert main(argv, env=env) == 2
    assert_one_line_error(env, expected)
    assert env.stdout.getvalue() == ""
    assert not (tmp_path / "data").exists()
    assert "86753091" not in env.stderr.getvalue()


@pytest.mark.parametrize("action", ["--weekly-analysis", "--process-twap", "--quarterly-rebalance"])
def test_config_errors_are_checked_before_any_action(make_env, tmp_path, action) -> None:
    write_config(tmp_path, "mode: demo\n")
    env = make_env()
    assert main([action], env=env) == 2
    assert_one_line_error(env, "mode: expected one of mock, live, paper, got demo")
    assert not (tmp_path / "data").exists()


def test_config_file_that_is_not_utf8(make_env, tmp_path) -> None:
    path = tmp_path / "config" / "config.yaml"
    path.parent.mkdir()
    path.write_bytes(b"mode: mock\nlanguage: \xff\xfe\n")
    env = make_env()
    assert main(["--system-status"], env=env) == 2
    assert_one_line_error(env, f"cannot read config file {path}: not UTF-8 text (byte 21)")


def test_config_flag_naming_a_missing_file(make_env, tmp_path) -> None:
    write_config(tmp_path, PORTFOLIO_OK)  # the default file exists but was not asked for
    env = make_env()
    missing = tmp_path / "nowhere" / "kairos.yaml"
    assert main(["--system-status", "--config", str(missing)], env=env) == 2
    assert_one_line_error(env, f"config file not found: {missing}")
    assert not (tmp_path / "data").exists()


def test_kairos_config_pointing_to_a_missing_file(make_env, tmp_path) -> None:
    missing = tmp_path / "gone.yaml"
    env = make_env({"KAIROS_CONFIG": str(missing)})
    assert main(["--system-status"], env=env) == 2
    assert_one_line_error(env, f"config file not found: {missing}")
    assert not (tmp_path / "data").exists()


def test_kairos_config_is_used_when_set(make_env, tmp_path) -> None:
    other = tmp_path / "elsewhere.yaml"
    other.write_text("mode: demo\n", encoding="utf-8")
    write_config(tmp_path, PORTFOLIO_OK)
    env = make_env({"KAIROS_CONFIG": str(other)})
    assert main(["--system-status"], env=env) == 2
    assert_one_line_error(env, "mode: expected one of mock, live, paper, got demo")


def test_config_flag_wins_over_kairos_config(make_env, tmp_path) -> None:
    named = tmp_path / "named.yaml"
    named.write_text("language: fr\n", encoding="utf-8")
    env = make_env({"KAIROS_CONFIG": str(tmp_path / "missing.yaml")})
    assert main(["--system-status", "--config", str(named)], env=env) == 2
    assert_one_line_error(env, "language: expected one of ko, en, got fr")


# ---- argument handling -----------------------------------------------------------------------------

def test_help_lists_every_seed_flag(make_env) -> None:
    env = make_env()
    assert main(["--help"], env=env) == 0
    out = env.stdout.getvalue()
    for flag in SEED_FLAGS + ["--mock", "--config", "--force"]:
        assert re.search(rf"(^|\s){re.escape(flag)}\b", out), flag
    assert "Exit codes" in out
    assert env.stderr.getvalue() == ""


def test_version(make_env) -> None:
    env = make_env()
    assert main(["--version"], env=env) == 0
    assert env.stdout.getvalue().strip() == f"kairos {__version__}"


def test_no_action_is_a_usage_error(make_env, tmp_path) -> None:
    env = make_env()
    assert main([], env=env) == 2
    err = env.stderr.getvalue()
    assert "usage:" in err and "choose one action" in err
    assert "Traceback" not in err and env.stdout.getvalue() == ""
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("argv, expected", [
    (["--twap-status", "--force"], "--force: only with --quarterly-rebalance or --quarterly-rebalance-twap"),
    (["--system-status", "--dry-run"], "--dry-run: not available with --system-status"),
    (["--test-alerts", "--dry-run"], "--dry-run: not available with --test-alerts"),
    (["--weekly-analysis", "--force"], "--force: only with --quarterly-rebalance or --quarterly-rebalance-twap"),
    (["--system-status", "--chart", "x.png"], "--chart: only with --performance-report or --backtest"),
    (["--weekly-analysis", "--start", "2024-01-01"], "--start/--end/--capital/--data: only with --backtest"),
])
def test_bad_modifier_combinations(make_env, tmp_path, argv, expected) -> None:
    write_config(tmp_path, PORTFOLIO_OK)
    env = make_env()
    assert main(argv, env=env) == 2
    assert_one_line_error(env, expected)
    assert not (tmp_path / "data").exists() and not (tmp_path / "logs").exists()


@pytest.mark.parametrize("argv", [
    ["--weekly-analysis", "--system-status"],  # two actions
    ["--performance-report", "abc"],
    ["--performance-report", "0"],
    ["--performance-report"],
    ["--no-such-flag"],
    ["--system-status", "--lang", "de"],
])
def test_argparse_errors_exit_2_on_the_env_stderr(make_env, argv) -> None:
    env = make_env()
    assert main(argv, env=env) == 2
    err = env.stderr.getvalue()
    assert "usage:" in err and "error:" in err
    assert env.stdout.getvalue() == ""


def test_env_keys_and_variable_defaults_reach_the_settings(make_env, tmp_path) -> None:
    from kairos.settings import load

    write_config(tmp_path, 'mode: live\nexchange:\n  access_token: file-token-0001\n  secret_key: file-secret-0001\n'
                           'notifications:\n  slack:\n    channel: "${KAIROS_TEST_CHANNEL:-#kairos-default}"\n')
    env = make_env({"KAIROS_ACCESS_TOKEN": "env-token-0002", "KAIROS_SECRET_KEY": "env-secret-0002"})
    settings = load(None, env.environ, env.home)
    assert settings.exchange.access_token.reveal() == "env-token-0002"
    assert settings.exchange.secret_key.reveal() == "env-secret-0002"
    assert settings.notifications.slack.channel == "#kairos-default"
    assert load(None, {**env.environ, "KAIROS_TEST_CHANNEL": "#ops"}, env.home).notifications.slack.channel == "#ops"
    assert load(None, {}, env.home).exchange.access_token.reveal() == "file-token-0001"


def test_an_installed_kairos_never_keeps_its_data_in_the_current_directory(tmp_path, monkeypatch) -> None:
    from kairos.env import default_home

    site = tmp_path / "site-packages" / "kairos"  # an installed package: no kairos1_main.py beside it
    site.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert default_home({"HOME": "/home/u"}, site) == Path("/home/u/.local/share/kairos")
    assert default_home({"HOME": "/home/u", "XDG_DATA_HOME": "/data/x"}, site) == Path("/data/x/kairos")
    assert default_home({"HOME": "/home/u", "KAIROS_HOME": str(tmp_path / "k")}, site) == (tmp_path / "k").resolve()
    checkout = tmp_path / "checkout"
    (checkout / "kairos").mkdir(parents=True)
    (checkout / "kairos1_main.py").write_text("", encoding="utf-8")
    assert default_home({"HOME": "/home/u"}, checkout / "kairos") == checkout


@pytest.mark.parametrize("argv, expected, absent", [
    (["--help", "--lang", "en"], "weekly market season analysis", "주간 시장 계절 분석"),
    (["--lang=en", "--help"], "holdings: available / locked", "보유 자산"),
    (["--help"], "주간 시장 계절 분석", "weekly market season analysis"),
])
def test_help_is_in_the_chosen_language(make_env, argv, expected, absent) -> None:
    env = make_env()
    assert main(argv, env=env) == 0
    text = env.stdout.getvalue()
    assert expected in text and absent not in text


@pytest.mark.parametrize("lang, word", [("ko", "경고: "), ("en", "warning: ")])
def test_console_warnings_carry_a_level_word_in_the_readers_language(tmp_path: Path, lang: str, word: str) -> None:
    import logging

    from kairos.logsetup import setup_logging
    from kairos.redact import Redactor

    stream = StringIO()
    setup_logging(None, "INFO", stream, Redactor(), lang=lang)
    logging.getLogger("kairos.test").warning("ledger slow")
    assert stream.getvalue() == f"{word}ledger slow\n"
