"""E-mail channel: smtplib (STARTTLS, implicit TLS or plain for local relays), text + HTML alternative.

SMTP, socket and TLS errors are translated here into a failed Delivery with a one-line detail;
the password never appears in it.
"""
from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formatdate, make_msgid
from typing import Callable

from kairos.notify import render
from kairos.notify.alerts import Alert, Delivery
from kairos.settings import EmailSettings


class EmailChannel:
    """Sends alerts as e-mail to the configured recipients."""

    name = "email"

    def __init__(self, settings: EmailSettings, *, lang: str = "ko", redact: Callable[[str], str] = lambda s: s,
                 now: Callable[[], datetime] | None = None, tls_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.lang = lang
        self._redact = redact
        self._now = now
        self._tls_context = tls_context

    def __repr__(self) -> str:
        s = self.settings
        return f"EmailChannel(server={s.smtp_server!r}, port={s.smtp_port}, security={s.security!r})"

    def message(self, alert: Alert) -> EmailMessage:
        """The e-mail for `alert`: subject, From, To, a text/plain body and an escaped text/html alternative."""
        s = self.settings
        msg = EmailMessage()
        msg["Subject"] = self._redact(render.subject(alert, self.lang))
        msg["From"] = s.sender
        msg["To"] = ", ".join(s.recipients)
        msg["Date"] = format_datetime(self._now()) if self._now else formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid("kairos", domain=s.sender.rpartition("@")[2] or "kairos.invalid")
        msg.set_content(self._redact(render.plain_text(alert, self.lang)))
        msg.add_alternative(self._redact(render.html_text(alert, self.lang)), subtype="html")
        return msg

    def send(self, alert: Alert) -> Delivery:
        """Deliver through SMTP; SMTP, socket, TLS and timeout errors become a failed Delivery."""
        s = self.settings
        try:
            refused = self._transmit(self.message(alert))
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            return Delivery(self.name, False, self._scrub(describe_error(exc)))
        if refused:
            bad = ", ".join(sorted(refused))
            return Delivery(self.name, False, self._scrub(f"recipients refused: {bad} (the others were accepted)"))
        return Delivery(self.name, True, f"sent to {len(s.recipients)} recipient(s) via {s.smtp_server}:{s.smtp_port}")

    def _transmit(self, msg: EmailMessage) -> dict[str, tuple[int, bytes]]:
        """Connect, secure, log in when configured, send; returns the refused recipients."""
        s = self.settings
        with self._connect() as smtp:
            if s.security == "starttls":
                smtp.starttls(context=self._context())
            if s.username:
                smtp.login(s.username, s.password.reveal() if s.password else "")
            return smtp.send_message(msg, from_addr=s.sender, to_addrs=list(s.recipients))

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        timeout = float(s.timeout_seconds)
        if s.security == "ssl":
            return smtplib.SMTP_SSL(s.smtp_server, s.smtp_port, timeout=timeout, context=self._context())
        return smtplib.SMTP(s.smtp_server, s.smtp_port, timeout=timeout)

    def _context(self) -> ssl.SSLContext:
        return self._tls_context or ssl.create_default_context()

    def _scrub(self, text: str) -> str:
        """One line, without the SMTP password or any other known secret."""
        password = self.settings.password.reveal() if self.settings.password else ""
        text = render.one_line(text)
        if len(password) >= 4:
            text = text.replace(password, "********")
        return self._redact(text)


def describe_error(exc: BaseException) -> str:
    """`Type: code message` for SMTP replies, `Type: message` otherwise."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{name}: {exc.smtp_code} {reply}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"{name}: all recipients refused ({', '.join(sorted(exc.recipients))})"
    return f"{name}: {exc}" if str(exc) else name
