"""Injectable time: every service asks a clock, so tests and demos can fix or move "now"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Protocol

JST = timezone(timedelta(hours=9), "JST")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real time, timezone-aware (UTC)."""

    fake = False

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stays where it is set (tests, demos); ``advance`` moves it."""

    current: datetime
    fake: bool = field(default=True, init=False)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def today_in_japan(clock: Clock) -> date:
    """Register dates are Japanese calendar dates, whatever the server's zone."""
    return clock.now().astimezone(JST).date()
