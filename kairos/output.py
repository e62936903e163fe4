"""User-facing output: Korean by default, English on request, every line of a mock run marked."""
from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Callable, TextIO

SIM_MARK = {"ko": "[모의 거래소] ", "en": "[SIMULATED] "}  # mock mode: the simulated exchange
PAPER_MARK = {"ko": "[모의 투자] ", "en": "[PAPER] "}  # paper mode: real prices, a pretend account
LIVE_MARK = {"ko": "[실거래] ", "en": "[LIVE] "}  # live mode: real money


def mark_for(mode: str, lang: str) -> str:
    """The tag every line of a run carries, so real money is never mistaken for a simulation or back."""
    marks = {"mock": SIM_MARK, "paper": PAPER_MARK, "live": LIVE_MARK}.get(mode)
    return marks["en" if lang == "en" else "ko"] if marks else ""


def tr(lang: str, pair: tuple[str, str], **values: Any) -> str:
    """Pick the Korean or English text of a (ko, en) pair and fill in values."""
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**values) if values else text


class Output:
    """Writes lines (or one JSON document) to stdout, redacted and marked when simulated."""

    def __init__(self, stream: TextIO, *, lang: str = "ko", simulated: bool = False, json_mode: bool = False,
                 redact: Callable[[str], str] = lambda s: s, mode: str | None = None) -> None:
        self.stream = stream
        self.lang = lang
        self.mode = mode or ("mock" if simulated else "live")
        self.emitted = False
        self.messages: list[str] = []  # what say() would have printed, for the --json fallback document
        self.simulated = self.mode != "live"
        self.json_mode = json_mode
        self.redact = redact

    def t(self, pair: tuple[str, str], **values: Any) -> str:
        return tr(self.lang, pair, **values)

    def say(self, text: str = "") -> None:
        """Print text line by line (suppressed in --json mode)."""
        if self.json_mode:
            self.messages.extend(self.redact(line) for line in text.splitlines() if line.strip())
            return
        prefix = mark_for(self.mode, self.lang)
        for line in (text.splitlines() or [""]):
            self.stream.write(self.redact(prefix + line if line else prefix.rstrip()) + "\n")
        self.stream.flush()

    def emit(self, data: dict[str, Any]) -> None:
        """Print one JSON document (only in --json mode)."""
        if not self.json_mode or self.emitted:
            return
        self.emitted = True
        document = {"simulated": self.simulated, **({"mode": "paper"} if self.mode == "paper" else {}), **data}
        self.stream.write(self.redact(json.dumps(document, default=to_jsonable, ensure_ascii=False, indent=2)) + "\n")
        self.stream.flush()


    def finish(self, command: str, exit_code: int, error: str | None = None) -> None:
        """--json: every path prints one document — the command's own, else this one (messages, or the error)."""
        if not self.json_mode or self.emitted:
            return
        body: dict[str, Any] = {"command": command, "exit_code": exit_code, "messages": self.messages}
        if error is not None:
            body["error"] = self.redact(error)
        self.emit(body)


def to_jsonable(value: Any) -> Any:
    """JSON encoder fallback: Decimals as strings (exact), datetimes as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
