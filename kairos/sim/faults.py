"""Fault injection: what can go wrong between the client and the exchange, on purpose.

A `Fault` targets a path (exact, or a prefix when it ends with `*`) and fires for the next
`count` matching requests, or with a `probability` drawn from its own seeded RNG. Kinds:

- `latency`: wait `seconds`, then answer normally (a wait at least as long as the client's read
  timeout, when the transport tells us that timeout, becomes a `timeout`).
- `http_5xx`: answer `status` (default 502) with an HTML error page, as a proxy would.
- `malformed_json`: a 200 whose body is cut-off JSON.  `empty_body`: a 200 with no body.
- `timeout`: no answer: the in-process adapter raises requests' ReadTimeout; the HTTP server
  waits `seconds` (default 30) and then closes the connection.
- `drop`: the request IS processed (an order is placed), then the connection is dropped: the
  adapter raises ConnectionError (ReadTimeout with `as_timeout`), the server closes the socket.
- `late` (place-order only): the answer is lost as with `drop`, but the exchange accepts the order
  only `seconds` later on its own clock (the order is queued, then placed when the exchange clock
  passes that moment). Until then order/detail answers "not found": an answer that arrived after
  the client's timeout, as seen from the client.
- `rest` (place-order only): the order is placed and answered normally, but a MARKET order stays
  open (LIVE, nothing filled) for `seconds` of exchange time before it executes — an order the
  exchange keeps open; a cancel in between ends it with nothing filled.

`process` (default: True for `drop`, False otherwise) says whether the exchange handles the
request before the fault replaces its answer.
"""
from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

KINDS = ("latency", "http_5xx", "malformed_json", "empty_body", "timeout", "drop", "late", "rest")
EXCHANGE_KINDS = ("late", "rest")  # handled by the exchange itself, not by the transport
_HTML = ("<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}"
         "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
            504: "Gateway Time-out"}


@dataclass
class SimRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lowercase names
    body: bytes
    remote_addr: str = "127.0.0.1"
    client_timeout: float | None = None  # the client's read timeout, when the transport knows it
    fault: "Fault | None" = None  # a `late` / `rest` fault the exchange itself must act on


@dataclass
class SimResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, body: Mapping[str, Any], headers: Iterable[tuple[str, str]] = ()) -> SimResponse:
    """A JSON answer (compact, UTF-8)."""
    payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return SimResponse(status, [("Content-Type", "application/json"), *headers], payload)


class TransportFault(Exception):
    """The exchange gives no HTTP answer: `timeout` (nothing comes back) or `drop` (connection closed)."""

    def __init__(self, kind: str, seconds: float = 0.0) -> None:
        super().__init__(f"simulated {kind}")
        self.kind = kind
        self.seconds = seconds


@dataclass
class Fault:
    kind: str
    path: str = "*"
    count: int | None = 1
    probability: float | None = None
    seed: int = 0
    seconds: float = 30.0
    status: int = 502
    process: bool | None = None
    as_timeout: bool = False
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.probability is not None:
            self.count = None
        self._rng = random.Random(self.seed)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "Fault":
        """A fault from the admin API's JSON (unknown keys are refused)."""
        known = {"kind", "path", "count", "probability", "seed", "seconds", "status", "process", "as_timeout"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        values = dict(raw)
        for key in ("probability", "seconds"):
            if values.get(key) is not None:
                values[key] = float(values[key])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "count": self.count, "probability": self.probability,
                "seed": self.seed, "seconds": self.seconds, "status": self.status,
                "process": self.processes, "as_timeout": self.as_timeout}

    @property
    def processes(self) -> bool:
        return self.kind == "drop" if self.process is None else self.process

    def matches(self, path: str) -> bool:
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def fires(self) -> bool:
        """Decide (and spend) one firing; call only for matching requests."""
        if self.probability is not None:
            return self._rng.random() < self.probability
        if self.count is not None and self.count > 0:
            self.count -= 1
            return True
        return False

    @property
    def spent(self) -> bool:
        return self.probability is None and (self.count or 0) <= 0

    def apply(self, request: SimRequest, respond: Callable[[], SimResponse],
              sleep: Callable[[float], None]) -> SimResponse:
        """Answer `request` through this fault."""
        if self.kind == "latency":
            return self._delay(request, respond, sleep)
        if self.processes:
            respond()  # the exchange acts on the request; its answer is lost
        if self.kind == "http_5xx":
            reason = _REASONS.get(self.status, "Server Error")
            page = _HTML.format(status=self.status, reason=reason).encode("ascii")
            return SimResponse(self.status, [("Content-Type", "text/html")], page)
        if self.kind == "malformed_json":
            return SimResponse(200, [("Content-Type", "application/json")], b'{"result":"success","error_code":"0","')
        if self.kind == "empty_body":
            return SimResponse(200, [("Content-Type", "application/json")], b"")
        if self.kind == "timeout" or self.as_timeout:
            raise TransportFault("timeout", self.seconds)
        raise TransportFault("drop")

    def _delay(self, request: SimRequest, respond: Callable[[], SimResponse],
               sleep: Callable[[float], None]) -> SimResponse:
        limit = request.client_timeout
        if limit is not None and self.seconds >= limit:
            raise TransportFault("timeout", self.seconds)
        sleep(self.seconds)
        return respond()


class FaultBook:
    """The active faults of one exchange; the first matching fault that fires applies."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def pick(self, path: str) -> Fault | None:
        """The fault that fires for this request, if any; spent count faults are dropped."""
        with self._lock:
            chosen = next((f for f in self._faults if f.matches(path) and f.fires()), None)
            self._faults = [f for f in self._faults if not f.spent]
        return chosen
