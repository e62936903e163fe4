"""The simulator over real HTTP: a threaded wsgiref server (one daemon thread per request).

Simulated transport faults become socket behaviour: `drop` closes the connection without an
answer; `timeout` waits the fault's `seconds` first, so a client with a shorter read timeout
sees a read timeout.
"""
from __future__ import annotations

import socket
import sys
import threading
import time
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from kairos.sim.faults import TransportFault

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _FaultAwareHandler(ServerHandler):
    """A ServerHandler that turns a TransportFault into silence and a closed socket."""

    def handle_error(self) -> None:
        fault = sys.exc_info()[1]
        if not isinstance(fault, TransportFault):
            super().handle_error()
            return
        if fault.kind == "timeout":
            time.sleep(fault.seconds)
        connection = getattr(self.request_handler, "connection", None)
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _RequestHandler(WSGIRequestHandler):
    quiet = False

    def handle(self) -> None:
        """As WSGIRequestHandler.handle, with the fault-aware handler and multithread=True."""
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _FaultAwareHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)


class _QuietRequestHandler(_RequestHandler):
    quiet = True


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(app: WsgiApp, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = False) -> ThreadingWSGIServer:
    """A bound, not yet serving, threaded WSGI server for `app`."""
    handler = _QuietRequestHandler if quiet else _RequestHandler
    server = ThreadingWSGIServer((host, port), handler)
    server.set_app(app)
    return server


def server_url(server: ThreadingWSGIServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


class BackgroundServer:
    """The simulator served from a background thread (for tests); use as a context manager."""

    def __init__(self, app: WsgiApp, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> None:
        self.server = make_server(app, host, port, quiet=quiet)
        self.url = server_url(self.server)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="kairos-sim", daemon=True)

    def __enter__(self) -> "BackgroundServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
