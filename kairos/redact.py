"""Secret redaction for logs, exception messages, alerts, state and JSON output.

Known secret values are replaced wherever they appear; so are the signing artefacts that would
let someone replay a request (payload header, 128-hex signatures) and `access_token` fields.
"""
from __future__ import annotations

import base64
import logging
import re
from typing import Iterable

MASK = "********"
_PATTERNS = (
    re.compile(r"(?i)(x-coinone-payload['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9+/=]{8,}"),
    re.compile(r"(?i)(x-coinone-signature['\"]?\s*[:=]\s*['\"]?)[0-9a-f]{16,}"),
    # not the words that follow a key path in our own one-line config errors ("exchange.secret_key: required …")
    re.compile(r"(?i)((?:access_token|secret_key|secret|password|webhook_url|master_key)['\"]?\s*[:=]\s*['\"]?)"
               r"(?!(?-i:expected|required|environment variable|unknown setting|cannot decrypt)\b)[^\s'\",}]{4,}"),
    re.compile(r"(?<![0-9a-f])[0-9a-f]{128}(?![0-9a-f])"),
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
)


class Redactor:
    """Masks registered secrets (and their base64 forms) plus well-known secret shapes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        for value in secrets:
            if value and len(value) >= 4:
                self._values.add(value)
                self._values.add(base64.b64encode(value.encode("utf-8")).decode("ascii").rstrip("="))

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record once and masks secrets in it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        return True


GLOBAL = Redactor()


def redact(text: str) -> str:
    """Mask secrets in `text` using the process-wide redactor."""
    return GLOBAL(text)
