"""Which exchange account a data directory belongs to, and which installation it is.

DESIGN §3: a data directory belongs to one exchange (mode, base URL, a one-way fingerprint of the
access token — never the token) and mock and live never share one; each data directory is one
installation, with a random id that travels inside every `user_order_id` it sends, so a run can
tell its own orders from another installation's on the same account.

The binding is written into the state file (`installation`) and the ledger (`meta`) when they are
created; a run whose exchange differs refuses with exit 3 and one line saying which directory
belongs to which exchange.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from kairos.errors import StateError

SIM_BASE_URL = "https://coinone-sim.invalid"  # where the in-process simulator is mounted (kairos.wiring)

# k1-<installation>-<plan id>-<coin>-s<slot>-a<attempt> (TWAP) / k1-<installation>-<plan id>-<coin>-<side>-a1 (immediate)
UOID = re.compile(r"^k1-(?P<installation>[a-z0-9]{8})-(?P<rest>[a-z0-9._-]+)$")


class BindingError(StateError):
    """This data directory belongs to another exchange account (exit 3)."""


def new_installation_id() -> str:
    """Eight random lowercase hex characters."""
    return secrets.token_hex(4)


def key_fingerprint(token: str | None) -> str:
    """A short one-way fingerprint of an access token ("none" without a key); never the token."""
    if not token:
        return "none"
    return hashlib.sha256(f"kairos-1:{token}".encode("utf-8")).hexdigest()[:12]


def order_uid(installation: str, plan_id: str, coin: str, tail: str) -> str:
    """The deterministic lowercase user_order_id of one order of this installation."""
    return f"k1-{installation}-{plan_id}-{coin.lower()}-{tail}"


def installation_of(user_order_id: str | None) -> str | None:
    """The installation id inside a KAIROS-1 user_order_id, or None for any other id."""
    match = UOID.match(user_order_id or "")
    return match["installation"] if match else None


@dataclass(frozen=True)
class ExchangeIdentity:
    """The exchange account a run talks to."""

    mode: str  # mock | live
    base_url: str
    key_fp: str

    def to_json(self) -> dict[str, str]:
        return {"mode": self.mode, "base_url": self.base_url, "key_fp": self.key_fp}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "ExchangeIdentity":
        return cls(str(raw.get("mode", "")), str(raw.get("base_url", "")), str(raw.get("key_fp", "")))

    def describe(self) -> str:
        return f"{self.mode} {self.base_url} (key {self.key_fp})"

    def same_account(self, other: "ExchangeIdentity") -> bool:
        """Mock: same mode and simulator key (a simulator's address changes between starts). Live: all three."""
        if self.mode != other.mode:
            return False
        if self.mode == "mock":
            return self.key_fp == other.key_fp
        return self.base_url.rstrip("/") == other.base_url.rstrip("/") and self.key_fp == other.key_fp


def check(where: str, recorded: ExchangeIdentity, current: ExchangeIdentity) -> None:
    """BindingError unless `current` is the account `where` was created for."""
    if not recorded.same_account(current):
        raise BindingError(f"{where} belongs to {recorded.describe()}, but this run talks to {current.describe()}; "
                           f"refusing to mix two accounts' history — use the data directory of this exchange "
                           f"(paths.data_dir) or start a new one")
