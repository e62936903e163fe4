"""Clocks. Nothing in `kairos.core` reads the time; commands get a Clock injected."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol

from kairos.errors import ConfigError

KST = timezone(timedelta(hours=9), name="KST")


class Clock(Protocol):
    """What the program needs from time: an aware 'now' and a way to wait."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real wall clock (UTC)."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FixedClock:
    """A clock that stands still unless moved; sleeping advances it instantly."""

    def __init__(self, now: datetime) -> None:
        self._now = ensure_aware(now)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._now += timedelta(seconds=max(seconds, 0))

    def set(self, now: datetime) -> None:
        self._now = ensure_aware(now)

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now


class OffsetClock:
    """The system clock shifted by a fixed offset (the simulator's movable time)."""

    def __init__(self, offset: timedelta, base: Clock | None = None) -> None:
        self.offset = offset
        self._base = base or SystemClock()

    def now(self) -> datetime:
        return self._base.now() + self.offset

    def sleep(self, seconds: float) -> None:
        self._base.sleep(seconds)


def ensure_aware(moment: datetime) -> datetime:
    """Return `moment` as an aware UTC datetime (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_iso(text: str, *, what: str) -> datetime:
    """Parse an ISO 8601 timestamp; errors name `what`."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{what}: expected an ISO 8601 time such as 2026-01-05T09:00:00+09:00, got {text!r}") from None
    return ensure_aware(value)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as Coinone counts them."""
    return int(ensure_aware(moment).timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
