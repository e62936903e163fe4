"""Secrets never reach the log file or the console: known values, their base64 form, signing artefacts."""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
from pathlib import Path
from typing import Iterator

import pytest

from kairos.logsetup import FILE_ONLY, setup_logging
from kairos.redact import MASK, Redactor

SECRET = "S3cr3t-Token-ZQX-7731-abcdef"  # recognisable, and not a substring of anything else here
OTHER = "webhook-pass-QQ99"


@pytest.fixture
def kairos_logger() -> Iterator[logging.Logger]:
    """The `kairos` logger, with whatever handlers a test adds removed afterwards."""
    logger = logging.getLogger("kairos")
    before = list(logger.handlers)
    yield logger
    for handler in [h for h in logger.handlers if h not in before]:
        logger.removeHandler(handler)
        handler.close()


def configure(tmp_path: Path, redactor: Redactor) -> tuple[Path, io.StringIO]:
    console = io.StringIO()
    path = setup_logging(tmp_path / "logs", "DEBUG", console, redactor)
    assert path == tmp_path / "logs" / "kairos.log"
    return path, console


def flush(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        handler.flush()


def fail_with_secret() -> None:
    try:
        raise KeyError(f"lookup of {SECRET} failed")
    except KeyError as inner:
        raise RuntimeError(f"request with token={SECRET} was refused") from inner


def test_secret_in_message_args_and_traceback_never_written(tmp_path: Path, kairos_logger: logging.Logger) -> None:
    path, console = configure(tmp_path, Redactor([SECRET, OTHER]))
    log = logging.getLogger("kairos.coinone")
    log.warning(f"message holds {SECRET} inline")
    log.warning("args hold %s and %r", SECRET, {"password": OTHER})
    log.error("mapping args %(tok)s", {"tok": SECRET})
    log.info("info goes to the file only: %s", SECRET)
    log.error("file-only record %s", SECRET, extra=FILE_ONLY)
    try:
        fail_with_secret()
    except RuntimeError:
        log.exception("while calling Coinone with %s", SECRET)
    log.warning("base64 form %s", base64.b64encode(SECRET.encode()).decode())
    flush(kairos_logger)
    written = path.read_text(encoding="utf-8")
    shown = console.getvalue()
    for text in (written, shown):
        assert SECRET not in text
        assert OTHER not in text
        assert base64.b64encode(SECRET.encode()).decode().rstrip("=") not in text
        assert MASK in text
    # the records are still there, masked, and the traceback was kept
    assert "message holds ******** inline" in written
    assert "Traceback (most recent call last)" in written and "RuntimeError" in written and "KeyError" in written
    assert "info goes to the file only" in written and "info goes to the file only" not in shown
    assert "file-only record" in written and "file-only record" not in shown
    assert "while calling Coinone with ********" in shown


def test_signing_headers_are_masked_in_logs(tmp_path: Path, kairos_logger: logging.Logger) -> None:
    path, console = configure(tmp_path, Redactor())  # nothing registered: the shapes alone are masked
    document = json.dumps({"access_token": "tok-abcdef-123456", "nonce": "022f53b2-8b2f-40c6-8e51-b594f562ee83"})
    payload = base64.b64encode(document.encode()).decode()
    signature = hmac.new(b"k-zz", payload.encode(), hashlib.sha512).hexdigest()
    headers = {"Content-Type": "application/json", "X-COINONE-PAYLOAD": payload, "X-COINONE-SIGNATURE": signature}
    log = logging.getLogger("kairos.coinone")
    log.warning("sent headers %s", headers)
    log.warning("X-COINONE-PAYLOAD: %s X-COINONE-SIGNATURE=%s", payload, signature)
    log.warning("bare signature %s", signature)
    log.warning("body %s", document)
    flush(kairos_logger)
    for text in (path.read_text(encoding="utf-8"), console.getvalue()):
        assert payload not in text and payload[:40] not in text
        assert signature not in text and signature[:32] not in text
        assert "tok-abcdef-123456" not in text
        assert "application/json" in text  # harmless headers stay readable
        assert text.count(MASK) >= 6


def test_setup_logging_twice_does_not_duplicate_handlers(tmp_path: Path, kairos_logger: logging.Logger) -> None:
    before = len(kairos_logger.handlers)
    configure(tmp_path, Redactor([SECRET]))
    path, console = configure(tmp_path, Redactor([SECRET]))
    assert len(kairos_logger.handlers) == before + 2
    logging.getLogger("kairos.x").warning("once %s", SECRET)
    flush(kairos_logger)
    assert console.getvalue().count("once") == 1
    assert path.read_text(encoding="utf-8").count("once") == 1


@pytest.mark.parametrize("text, expected", [
    (f"token {SECRET} end", "token ******** end"),
    (f"{SECRET}{SECRET}", "****************"),
    ('{"access_token": "5a3e35e4-0000-1111", "size": 5}', '{"access_token": "********", "size": 5}'),
    ("secret_key=abcdef0123", "secret_key=********"),
    ("password: hunter22", "password: ********"),
    ("master_key='Zm9vYmFyYmF6cXV4'", "master_key='********'"),
    ("see https://hooks.slack.com/services/T000/B000/XXXXXXXX now", "see ******** now"),
    ("id=" + "ab" * 64 + ";", "id=********;"),  # a signature anywhere, whatever the key
    ("f" * 130, "f" * 130),  # a longer hex run is not a SHA-512 signature
    ("sig " + "ab" * 64, "sig ********"),
    ("nothing to hide here", "nothing to hide here"),
    ("", ""),
])
def test_redactor(text: str, expected: str) -> None:
    assert Redactor([SECRET])(text) == expected


@pytest.mark.parametrize("message", [
    "exchange.access_token: required in live mode (in the file or $KAIROS_ACCESS_TOKEN), got nothing",
    "notifications.slack.webhook_url: expected a webhook URL when slack is enabled, got nothing",
    "exchange.secret_key: environment variable KEY is not set (referenced as ${KEY})",
    "exchange.secret: unknown setting (did you mean 'secret_key'?); allowed: base_url, access_token",
    "notifications.email.password: expected a text value in quotes, got a non-text value (hidden)",
    "exchange.secret_key: cannot decrypt with the master key from $KAIROS_MASTER_KEY (wrong key or damaged token)",
])
def test_config_error_lines_about_secret_keys_stay_readable(message: str) -> None:
    assert Redactor([SECRET])(message) == message


def test_redactor_ignores_too_short_values_and_masks_base64_forms() -> None:
    r = Redactor(["abc", "", SECRET])
    assert r("abc abc") == "abc abc"
    encoded = base64.b64encode(SECRET.encode()).decode()
    assert SECRET not in r(f"payload {encoded}") and MASK in r(f"payload {encoded}")
    r.add(OTHER)
    assert r(OTHER) == MASK


def test_longer_secret_masked_before_its_prefix() -> None:
    r = Redactor(["abcd", "abcd-efgh-ijkl"])
    assert r("x abcd-efgh-ijkl y") == f"x {MASK} y"
