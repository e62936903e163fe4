"""--encrypt-config that cannot corrupt: a YAML library edits the file, the new file alone must decrypt to
exactly the old values before it replaces the old one, and what it cannot handle it refuses, untouched."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings, strategies as st

from kairos import secrets
from kairos.cli import main
from kairos.env import Env
from kairos.errors import ConfigError
from kairos.settings import _Loader

REPO = Path(__file__).resolve().parents[1]
KEY = Fernet.generate_key()


def run(home: Path, *argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO(), dict(environ or {}), home)
    code = main(list(argv), env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()


def home_with(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(text, encoding="utf-8")
    os.chmod(config, 0o600)
    (tmp_path / "config" / "master.key").write_bytes(KEY + b"\n")
    os.chmod(tmp_path / "config" / "master.key", 0o600)
    return config


def decrypted_tree(path: Path) -> object:
    """The file alone, as the settings loader reads it, with every enc: value decrypted."""
    def walk(node: object) -> object:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, str) and node.startswith("enc:"):
            return secrets.decrypt_value(node, KEY, path="?", source="test")
        return node
    return walk(yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_hash_in_a_quoted_token_survives_even_with_the_same_value_in_the_environment(tmp_path: Path) -> None:
    """The bug: the line regex cut the value at `#`, and the check compared settings with env overrides."""
    config = home_with(tmp_path, 'mode: mock\nexchange:\n  access_token: "tok#abc"   # my key\n  secret_key: s3cr3t\n')
    before = decrypted_tree(config)
    code, out, err = run(tmp_path, "--encrypt-config", "--lang", "en", environ={"KAIROS_ACCESS_TOKEN": "tok#abc"})
    assert code == 0, err
    text = config.read_text(encoding="utf-8")
    assert "tok#abc" not in text and "s3cr3t" not in text and "# my key" in text
    assert decrypted_tree(config) == before  # the file alone: "tok#abc", not "tok"
    [backup] = list(config.parent.glob("config.yaml.bak-*"))
    assert oct(backup.stat().st_mode & 0o777) == "0o600"


def test_quotes_escapes_anchors_and_aliases_round_trip(tmp_path: Path) -> None:
    text = """\
# KAIROS-1 config
defaults: &defaults
  timeout_seconds: 10   # seconds
exchange:
  <<: *defaults
  access_token: 'it''s#not a comment'
  secret_key: "quote \\" and # inside"
notifications:
  slack:
    enabled: false
    webhook_url: https://hooks.slack.com/services/T000/B000/XXXX # the hook
  email:
    password: ${SMTP_PASSWORD:-}
monitoring: {tracking_error_threshold: 0.1}
"""
    config = home_with(tmp_path, text)
    before = decrypted_tree(config)
    changed, _backup = secrets.encrypt_config_file(config, KEY)
    assert changed == ["exchange.access_token", "exchange.secret_key", "notifications.slack.webhook_url"]
    after = config.read_text(encoding="utf-8")
    assert decrypted_tree(config) == before
    for kept in ("# KAIROS-1 config", "&defaults", "<<: *defaults", "# seconds", "# the hook", "${SMTP_PASSWORD:-}"):
        assert kept in after


@pytest.mark.parametrize("text, message", [
    ("base: &b\n  access_token: plain\nexchange: *b\n", "carries a YAML anchor"),
    ("base: &b\n  access_token: plain\nexchange:\n  <<: *b\n", "comes from a YAML merge key"),
    ("tok: &t plain\nexchange:\n  access_token: *t\n", "carries a YAML anchor"),
    ("exchange:\n  access_token: 12345\n", "expected text to encrypt, got int"),
])
def test_what_it_cannot_handle_is_refused_with_one_line_and_the_file_untouched(tmp_path: Path, text: str,
                                                                             message: str) -> None:
    config = home_with(tmp_path, text)
    digest = sha(config)
    with pytest.raises(ConfigError, match=message) as refused:
        secrets.encrypt_config_file(config, KEY)
    assert len(str(refused.value).splitlines()) == 1
    assert sha(config) == digest and not list(config.parent.glob("*.bak-*")) and not list(config.parent.glob(".*.tmp"))


def test_the_cli_refuses_in_one_line_and_leaves_the_file(tmp_path: Path) -> None:
    config = home_with(tmp_path, "exchange: &ex\n  access_token: plain\n  secret_key: also-plain\n")
    digest = sha(config)
    code, _out, err = run(tmp_path, "--encrypt-config", "--lang", "en")
    assert code == 2 and "exchange: this section carries a YAML anchor (&ex)" in err
    assert len(err.strip().splitlines()) == 1 and sha(config) == digest


def test_the_backups_and_the_master_key_are_ignored_by_git() -> None:
    paths = ["config/config.yaml.bak-20261201T000000Z", "config/master.key", "config/config.yaml"]
    done = subprocess.run(["git", "check-ignore", *paths], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.split() == paths


# ---- property: generated YAML with comments, quotes, anchors and `#` round-trips ---------------------------------
VALUE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda v: not v.startswith(("enc:", "${")))  # those mean "already encrypted" / "from the environment": left alone


def single_quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def double_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def configs(draw: st.DrawFn) -> str:
    token, secret, hook = draw(VALUE), draw(VALUE), draw(VALUE)
    style = draw(st.sampled_from([single_quoted, double_quoted]))
    comment = draw(st.text(alphabet="abc #:'\"-", max_size=12))
    lines = [f"# {comment}", "common: &common", "  timeout_seconds: 10", "exchange:", "  <<: *common",
             f"  access_token: {style(token)}   # {comment}", f"  secret_key: {double_quoted(secret)}",
             "notifications:", "  slack:", f"    webhook_url: {single_quoted(hook)}",
             f"other: *common  # {comment}"]
    return "\n".join(lines) + "\n"


def test_generated_configs_round_trip(tmp_path_factory: pytest.TempPathFactory, slow_mode: bool) -> None:
    @settings(max_examples=600 if slow_mode else 60, derandomize=not slow_mode, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(configs())
    def check(text: str) -> None:
        home = tmp_path_factory.mktemp("enc")
        config = home_with(home, text)
        before = decrypted_tree(config)
        try:
            changed, _ = secrets.encrypt_config_file(config, KEY)
        except ConfigError:
            assert config.read_text(encoding="utf-8") == text  # refused: untouched
            return
        assert set(changed) == {"exchange.access_token", "exchange.secret_key", "notifications.slack.webhook_url"}
        assert decrypted_tree(config) == before
        assert "<<: *common" in config.read_text(encoding="utf-8")
    check()


@pytest.fixture(params=[pytest.param(False, id="ci"), pytest.param(True, id="random", marks=pytest.mark.slow)])
def slow_mode(request: pytest.FixtureRequest) -> bool:
    """Seeded in the default run (and CI); random, and ten times longer, only when -m slow is asked for."""
    if request.param:
        from tests.reliability.conftest import slow_requested
        if not slow_requested(request.config):
            pytest.skip("random-seed variant: run with -m slow")
    return bool(request.param)
