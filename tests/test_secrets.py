"""Encrypted secrets (Fernet), master key handling, permission rails and the live-mode guard."""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from kairos import secrets
from kairos.cli import main
from kairos.env import Env
from kairos.errors import ConfigError
from kairos.settings import load


def run(home: Path, *argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO(), dict(environ or {}), home)
    code = main(list(argv), env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()


def write_config(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_round_trip() -> None:
    key = Fernet.generate_key()
    token = secrets.encrypt_value("my-api-secret", key)
    assert token.startswith("enc:") and "my-api-secret" not in token
    assert secrets.decrypt_value(token, key, path="exchange.secret_key", source="test") == "my-api-secret"


@pytest.mark.parametrize("damage", [
    lambda token, key: (token, Fernet.generate_key()),  # wrong key
    lambda token, key: (token[:-10], key),  # truncated token
    lambda token, key: ("enc:not-a-token", key),  # garbage
])
def test_decrypt_failures_are_one_line_config_errors(damage) -> None:
    key = Fernet.generate_key()
    token, use_key = damage(secrets.encrypt_value("value-123", key), key)
    with pytest.raises(ConfigError) as err:
        secrets.decrypt_value(token, use_key, path="exchange.secret_key", source="$KAIROS_MASTER_KEY")
    message = str(err.value)
    assert message.startswith("exchange.secret_key: cannot decrypt") and "\n" not in message
    assert "value-123" not in message


def test_cli_with_encrypted_config(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    token = secrets.encrypt_value("tok-SECRET-123456", key)
    write_config(tmp_path, f'exchange:\n  access_token: "{token}"\n')
    code, out, err = run(tmp_path, "--twap-status", environ={"KAIROS_MASTER_KEY": key.decode()})
    assert code == 0, err
    assert "tok-SECRET-123456" not in out + err


@pytest.mark.parametrize("environ,expected", [
    ({}, "master key not found: set $KAIROS_MASTER_KEY or create"),
    ({"KAIROS_MASTER_KEY": "short"}, "master key from $KAIROS_MASTER_KEY is not a valid Fernet key"),
    ({"KAIROS_MASTER_KEY": Fernet.generate_key().decode()}, "exchange.access_token: cannot decrypt with the master key from $KAIROS_MASTER_KEY"),
])
def test_missing_or_wrong_master_key_exit_2_one_line(tmp_path: Path, environ: dict[str, str], expected: str) -> None:
    token = secrets.encrypt_value("tok-SECRET-123456", Fernet.generate_key())
    write_config(tmp_path, f'exchange:\n  access_token: "{token}"\n')
    code, out, err = run(tmp_path, "--twap-status", environ=environ)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
    assert not (tmp_path / "data").exists()


def test_no_key_is_ever_derived(tmp_path: Path) -> None:
    """Without env var or key file there is no fallback (the seed derived one from the hostname)."""
    with pytest.raises(ConfigError, match=str(tmp_path / "config" / "master.key")):
        secrets.load_master_key({}, tmp_path)


def test_init_master_key_creates_0600_and_refuses_overwrite(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "--init-master-key")
    path = tmp_path / "config" / "master.key"
    assert code == 0 and str(path) in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    Fernet(path.read_bytes().strip())  # a valid key
    first = path.read_bytes()
    code, _, err = run(tmp_path, "--init-master-key")
    assert code == 2 and "refusing to overwrite" in err
    assert path.read_bytes() == first


CONFIG = """# my settings
mode: mock
exchange:
  access_token: "tok-PLAIN-abcdef"   # keep this comment
  secret_key: sec-PLAIN-987654321
  timeout_seconds: 10
notifications:
  email:
    password: 'smtp-PLAIN-pass'
    recipients: []
"""


def test_encrypt_config_in_place_keeps_comments_and_order(tmp_path: Path) -> None:
    path = write_config(tmp_path, CONFIG)
    assert run(tmp_path, "--init-master-key")[0] == 0
    code, out, err = run(tmp_path, "--encrypt-config")
    assert code == 0, err
    text = path.read_text()
    for plain in ("tok-PLAIN-abcdef", "sec-PLAIN-987654321", "smtp-PLAIN-pass"):
        assert plain not in text and plain not in out
    assert "# keep this comment" in text and text.startswith("# my settings")
    assert [line.split(":")[0].strip() for line in text.splitlines()] == \
           [line.split(":")[0].strip() for line in CONFIG.splitlines()]
    backups = list(path.parent.glob("config.yaml.bak-*"))
    assert len(backups) == 1 and "tok-PLAIN-abcdef" in backups[0].read_text()
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    settings = load(str(path), {}, tmp_path, secrets.decryptor({}, tmp_path))
    assert settings.exchange.access_token.reveal() == "tok-PLAIN-abcdef"
    assert settings.notifications.email.password.reveal() == "smtp-PLAIN-pass"
    code, out, _ = run(tmp_path, "--encrypt-config")
    assert code == 0 and path.read_text() == text  # nothing left to encrypt; file unchanged


def test_world_readable_config_warns_in_mock_and_fails_in_live(tmp_path: Path) -> None:
    write_config(tmp_path, "mode: mock\n", mode=0o644)
    code, _, err = run(tmp_path, "--twap-status")
    assert code == 0 and "readable by group/others" in err and "chmod 600" in err
    write_config(tmp_path, "mode: live\nexchange: {access_token: a-token-1234, secret_key: a-secret-1234}\n", mode=0o644)
    code, _, err = run(tmp_path, "--twap-status")
    assert code == 2 and "live mode refuses this" in err and len(err.strip().splitlines()) <= 2
    write_config(tmp_path, "mode: live\nexchange: {access_token: a-token-1234, secret_key: a-secret-1234}\n"
                           "trading: {allow_insecure_permissions: true}\n", mode=0o644)
    code, _, _ = run(tmp_path, "--twap-status")
    assert code == 0


def test_live_mode_requires_keys_and_rejects_kairos_now(tmp_path: Path) -> None:
    write_config(tmp_path, "mode: live\n")
    code, _, err = run(tmp_path, "--twap-status")
    assert code == 2 and err.startswith("오류: exchange.access_token: required in live mode")
    write_config(tmp_path, "mode: live\nexchange: {access_token: a-token-1234, secret_key: a-secret-1234}\n")
    code, _, err = run(tmp_path, "--twap-status", environ={"KAIROS_NOW": "2026-01-05T00:00:00Z"})
    assert code == 2 and "KAIROS_NOW: only allowed in mock and paper mode" in err


def test_mock_is_the_default_without_config(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "--twap-status")
    assert code == 0 and out.startswith("[모의 거래소]")


def test_example_config_loads_as_documented(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "config" / "config.example.yaml"
    settings = load(str(example), {}, tmp_path)
    assert settings.mode == "mock" and settings.universe == ("BTC", "ETH", "XRP", "SOL")
    assert settings.notifications.slack.mentions.channel_mention_types == ("system_error", "critical_risk")
    assert settings.notifications.slack.mentions.by_alert_type["twap_start"] == ("U1234567890",)
