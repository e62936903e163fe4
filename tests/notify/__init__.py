"""Notification tests, plus the small real servers they (and tests/commands) run against.

Every server binds 127.0.0.1 on a port the OS picks at run time and is stopped by its context manager.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import io
import json
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from kairos.clock import Clock
from kairos.context import Context
from kairos.env import Env
from kairos.redact import Redactor
from kairos.settings import load


class SlackServer:
    """A local stand-in for Slack's incoming-webhook endpoint that records every POST body.

    `statuses` are answered in order (the last one repeats): [500, 200] fails once, then accepts.
    """

    def __init__(self, statuses: tuple[int, ...] = (200,)) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/services/T/B/X"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r["json"] for r in self.requests]

    def _next_status(self) -> int:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.requests.append({"path": self.path, "json": json.loads(raw), "headers": dict(self.headers)})
                status = owner._next_status()
                answer = b"ok" if status == 200 else b"internal_error"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
                return

        return Handler

    def __enter__(self) -> "SlackServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class MailSink:
    """aiosmtpd handler keeping every message it accepts."""

    received: list[Received] = field(default_factory=list)
    refuse: frozenset[str] = frozenset()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802 - aiosmtpd hook
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted"


class EphemeralController(Controller):
    """aiosmtpd's Controller on port 0: learn the OS-chosen port before the readiness probe uses it."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        super()._trigger_server()


class SmtpServer:
    """A real SMTP server on 127.0.0.1 (plain, STARTTLS or implicit TLS; AUTH optional)."""

    def __init__(self, *, login: tuple[str, str] | None = None, refuse: frozenset[str] = frozenset(),
                 **smtp_kwargs: Any) -> None:
        self.sink = MailSink(refuse=refuse)
        if login is not None:
            smtp_kwargs["authenticator"] = _authenticator(*login)
            smtp_kwargs.setdefault("auth_require_tls", False)
        self._controller = EphemeralController(self.sink, hostname="127.0.0.1", port=0, **smtp_kwargs)

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def received(self) -> list[Received]:
        return self.sink.received

    def __enter__(self) -> "SmtpServer":
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def _authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() \
            and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False)
    return check


class SilentServer:
    """Accepts TCP connections and never says a word (an SMTP server that hangs)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    def __enter__(self) -> "SilentServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    """The text/plain and text/html bodies of a multipart/alternative message."""
    text = message.get_body(preferencelist=("plain",))
    markup = message.get_body(preferencelist=("html",))
    assert text is not None and markup is not None, "expected both a text and an HTML part"
    return text.get_content(), markup.get_content()


# ---- configuration and context for end-to-end tests ------------------------------------------------
SENDER = "kairos@example.com"
RECIPIENTS = ["ops@example.com", "owner@example.org"]


def write_config(path: Path, *, slack_url: str | None = None, smtp_port: int | None = None,
                 mentions: dict[str, Any] | None = None, notifications: dict[str, Any] | None = None,
                 top: dict[str, Any] | None = None) -> Path:
    """A YAML config enabling Slack (at `slack_url`) and/or e-mail (plain SMTP on `smtp_port`)."""
    n: dict[str, Any] = {"dedupe_minutes": 60}
    if slack_url:
        n["slack"] = {"enabled": True, "webhook_url": slack_url, "timeout_seconds": 5, "channel": "#kairos",
                      "username": "KAIROS-1", "mentions": mentions or {}}
    if smtp_port:
        n["email"] = {"enabled": True, "smtp_server": "127.0.0.1", "smtp_port": smtp_port, "security": "none",
                      "sender": SENDER, "recipients": RECIPIENTS, "timeout_seconds": 5}
    n.update(notifications or {})
    path.write_text(yaml.safe_dump({"notifications": n, **(top or {})}, allow_unicode=True), encoding="utf-8")
    return path


def context_for(home: Path, config: Path, *, clock: Clock | None = None, lang: str | None = None,
                dry_run: bool = False) -> Context:
    """A run context built the way the CLI builds it (settings from the file, secrets registered)."""
    env = Env(io.StringIO(), io.StringIO(), {}, home, clock=clock)
    settings = load(str(config), {}, home)
    args = argparse.Namespace(lang=lang, dry_run=dry_run)
    return Context(env, settings, args, Redactor(settings.secrets()))
