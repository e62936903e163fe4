"""Channel-neutral text for an Alert: facts, labels, subject, plain text and HTML (Korean by default)."""
from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from kairos.notify.alerts import Alert
from kairos.output import mark_for, tr

PRODUCT = "KAIROS-1"
NEXT_STEP_LABEL = ("다음 조치", "What to do next")
LEVEL_NAMES = {
    "info": ("정보", "info"),
    "warning": ("경고", "warning"),
    "critical": ("긴급", "critical"),
}
LEVEL_ICONS = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}


def one_line(text: str) -> str:
    """Collapse whitespace (newlines included) to single spaces."""
    return " ".join(str(text).split())


def format_value(value: Any) -> str:
    """A field value as text; Decimals in plain notation (never 1E+7)."""
    if isinstance(value, Decimal) and value.is_finite():
        return format(value, "f")
    return str(value)


def facts(alert: Alert) -> list[str]:
    """One line per fact: the alert's lines, then its fields as `key: value`."""
    lines = [line for line in alert.lines if line.strip()]
    lines += [f"{key}: {format_value(value)}" for key, value in alert.fields.items()]
    return lines


def level_name(level: str, lang: str) -> str:
    """The alert level in the reader's language."""
    return tr(lang, LEVEL_NAMES.get(level, (level, level)))


def sim_mark(alert: Alert, lang: str) -> str:
    """`[모의 거래소]` / `[SIMULATED]` for mock runs, `[모의 투자]` / `[PAPER]` for paper runs, else ''."""
    return mark_for(alert.mode, lang).strip() if alert.simulated else ""


def context_line(alert: Alert, lang: str) -> str:
    """Where the alert comes from: simulated mark, product, level and type."""
    parts = [PRODUCT, level_name(alert.level, lang), alert.alert_type]
    mark = sim_mark(alert, lang)
    return (mark + " " if mark else "") + " · ".join(parts)


def next_step_label(lang: str) -> str:
    return tr(lang, NEXT_STEP_LABEL)


def subject(alert: Alert, lang: str) -> str:
    """`[KAIROS-1] <LEVEL> [모의 거래소] <title>`; the mark only for simulated runs."""
    mark = sim_mark(alert, lang)
    parts = [f"[{PRODUCT}]", alert.level.upper()] + ([mark] if mark else []) + [one_line(alert.title)]
    return " ".join(parts)


def plain_text(alert: Alert, lang: str) -> str:
    """The e-mail's text/plain body."""
    out = [alert.title, ""]
    out += [f"- {line}" for line in facts(alert)]
    if alert.action:
        out += ["", f"{next_step_label(lang)}: {alert.action}"]
    out += ["", "-- ", context_line(alert, lang)]
    return "\n".join(out) + "\n"


def html_text(alert: Alert, lang: str) -> str:
    """The e-mail's text/html alternative; every piece of alert text is escaped."""
    esc = html.escape
    items = "".join(f"<li>{esc(line)}</li>" for line in facts(alert))
    parts = [f"<h2>{esc(alert.title)}</h2>"]
    if items:
        parts.append(f"<ul>{items}</ul>")
    if alert.action:
        parts.append(f"<p><strong>{esc(next_step_label(lang))}:</strong> {esc(alert.action)}</p>")
    parts.append(f'<p style="color:#666;font-size:small">{esc(context_line(alert, lang))}</p>')
    return f'<!DOCTYPE html><html lang="{esc(lang)}"><body>{"".join(parts)}</body></html>\n'
