"""A requests transport adapter that calls a WSGI app in-process: the real client, no sockets.

    session.mount("https://api.coinone.co.kr", SimAdapter(app))

Faults of kind `timeout` and `drop` surface as the exceptions a socket would give:
`requests.exceptions.ReadTimeout` and `requests.exceptions.ConnectionError`. The adapter does
not actually wait for a simulated timeout; it raises at once.
"""
from __future__ import annotations

import io
import sys
import time
from datetime import timedelta
from typing import Any, Callable, Iterable
from urllib.parse import unquote, urlsplit

from requests import PreparedRequest, Response
from requests.adapters import BaseAdapter
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from kairos.sim.faults import TransportFault

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _read_timeout(timeout: Any) -> float | None:
    """The read part of requests' timeout argument (a number, a (connect, read) pair, or None)."""
    if isinstance(timeout, tuple):
        timeout = timeout[1] if len(timeout) > 1 else timeout[0]
    read = getattr(timeout, "read_timeout", timeout)
    return float(read) if isinstance(read, (int, float)) else None


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if hasattr(body, "read"):
        return body.read()
    return b"".join(part.encode("utf-8") if isinstance(part, str) else part for part in body)


def build_environ(request: PreparedRequest, read_timeout: float | None) -> dict[str, Any]:
    """A WSGI environ for a prepared request."""
    url = urlsplit(request.url or "")
    body = _body_bytes(request.body)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": (request.method or "GET").upper(), "SCRIPT_NAME": "",
        "PATH_INFO": unquote(url.path or "/"), "QUERY_STRING": url.query,
        "SERVER_NAME": url.hostname or "localhost", "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0), "wsgi.url_scheme": url.scheme or "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "kairos.sim.read_timeout": read_timeout,
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "CONTENT_LENGTH":
            environ[f"HTTP_{key}"] = value
    return environ


def call_wsgi(app: WsgiApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run a WSGI app; return (status line, headers, body)."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], body


class SimAdapter(BaseAdapter):
    """Send requests to a WSGI app in-process (mount it on the exchange's base URL)."""

    def __init__(self, app: WsgiApp) -> None:
        super().__init__()
        self.app = app

    def send(self, request: PreparedRequest, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> Response:
        started = time.monotonic()
        environ = build_environ(request, _read_timeout(timeout))
        try:
            status, headers, body = call_wsgi(self.app, environ)
        except TransportFault as fault:
            if fault.kind == "timeout":
                raise ReadTimeout(f"simulated read timeout on {request.url}", request=request) from None
            raise RequestsConnectionError(f"simulated dropped connection on {request.url}", request=request) from None
        return self._response(request, status, headers, body, time.monotonic() - started)

    def _response(self, request: PreparedRequest, status: str, headers: list[tuple[str, str]], body: bytes,
                  elapsed: float) -> Response:
        response = Response()
        code, _, reason = status.partition(" ")
        response.status_code, response.reason = int(code), reason
        response.headers = CaseInsensitiveDict(headers)
        response._content = body
        response._content_consumed = True
        response.raw = io.BytesIO(body)
        response.encoding = get_encoding_from_headers(response.headers)
        response.url = request.url or ""
        response.request = request
        response.connection = self
        response.elapsed = timedelta(seconds=elapsed)
        return response

    def close(self) -> None:
        """Nothing to release: no sockets."""
