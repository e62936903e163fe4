"""One exception tree for KAIROS-1, split by what the caller must do.

    KairosError                       anything this program raises on purpose
    ├── ConfigError                   a human must fix the config / CLI / secrets   → exit 2
    ├── StateError                    the state file or ledger cannot be trusted     → exit 3
    ├── SafetyStop                    a cap or the kill switch refused an order      → exit 4
    ├── DataError                     market data missing or insufficient; no decision → exit 1
    └── ExchangeError                 the exchange said no, or could not be reached  → exit 1
        ├── TemporaryExchangeError    retry later (reads are retried automatically)
        │   ├── RateLimited           code 4 or quota headers exhausted
        │   ├── ExchangeUnavailable   maintenance (405), 5xx
        │   └── TransportError        timeout, connection reset, DNS …
        ├── ProtocolError             the answer was not Coinone's JSON shape
        ├── AuthError                 keys, signature, nonce, permission, IP
        ├── OrderNotFound             104 / unknown order id
        └── RequestRejected           the request itself was refused (bad parameter, pair, window)
            └── OrderRejected         the order was refused; do not resend as is
                ├── InsufficientBalance   103
                └── DuplicateOrderId      312

Exit codes are mapped in one place, `kairos.cli.main`.
"""
from __future__ import annotations


class KairosError(Exception):
    """Base of every error this program raises on purpose."""

    exit_code = 1


class ConfigError(KairosError):
    """Invalid configuration, CLI argument or secret: a human must act."""

    exit_code = 2


class StateError(KairosError):
    """The state file or ledger is unreadable or inconsistent: never reset silently."""

    exit_code = 3


class SafetyStop(KairosError):
    """A safety rail (cap, kill switch, notional check) refused an order."""

    exit_code = 4


class DataError(KairosError):
    """Market data is missing or insufficient, so no decision is made."""

    exit_code = 1


class ExchangeError(KairosError):
    """The exchange refused a request or could not be reached."""

    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.endpoint = endpoint


class TemporaryExchangeError(ExchangeError):
    """Worth retrying later; reads are retried automatically, orders never."""


class RateLimited(TemporaryExchangeError):
    """Coinone error 4 or an exhausted rate-limit quota."""


class ExchangeUnavailable(TemporaryExchangeError):
    """Maintenance (405) or a server-side failure (5xx)."""


class TransportError(TemporaryExchangeError):
    """Timeout, connection reset, DNS failure: the request may or may not have arrived."""


class ProtocolError(ExchangeError):
    """The response was not the JSON shape Coinone documents."""


class AuthError(ExchangeError):
    """Keys, signature, nonce, permission or IP problem: a human must act."""


class OrderNotFound(ExchangeError):
    """The exchange does not know this order (104)."""


class RequestRejected(ExchangeError):
    """The exchange refused the request's parameters (101, 107, 108, 109, 313, 316, 317 …)."""


class OrderRejected(RequestRejected):
    """The exchange refused the order; it must not be resent unchanged."""


class InsufficientBalance(OrderRejected):
    """Code 103: the available balance does not cover the order."""


class DuplicateOrderId(OrderRejected):
    """Code 312: this user_order_id was used before."""
