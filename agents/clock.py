"""The injected clock: real, accelerated (demo) or manual (tests).

Workflows never read the clock; the shell asks one of these for ``now`` and
passes it down. An accelerated clock runs simulated time from ``start`` at
``speed`` times real time; the simulator uses the same parameters, so a demo
can run two weeks of a province in two minutes.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from agents.settings import Settings


class Clock(Protocol):
    def now(self) -> datetime: ...


class RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class AcceleratedClock:
    """Simulated time: ``start`` + (real seconds since ``origin``) x ``speed``.

    ``origin`` is a ``time.monotonic()`` reading (one clock for every process on a machine;
    default: when the clock is made). ``held=True``: the clock shows ``hold_at`` (default
    ``start``) until ``release`` (the demo loads its backlog then, and no deadline passes
    while it does). ``stop_at``: it never shows a later instant (nothing after the end of a
    run is ever due). Before a future origin it shows ``start``: it never runs backwards.
    """

    def __init__(
        self,
        start: datetime,
        speed: float,
        *,
        origin: float | None = None,
        held: bool = False,
        hold_at: datetime | None = None,
        stop_at: datetime | None = None,
    ) -> None:
        for name, value in (("start", start), ("hold_at", hold_at), ("stop_at", stop_at)):
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.start = start
        self.speed = speed
        self.hold_at = hold_at if hold_at is not None else start
        self.stop_at = stop_at
        self._origin: float | None = None
        if not held:
            self._origin = time.monotonic() if origin is None else origin

    @property
    def released(self) -> bool:
        return self._origin is not None

    @property
    def origin(self) -> float | None:
        return self._origin

    def release(self, origin: float | None = None) -> float:
        """Start running (at ``origin``, default now); returns the origin used."""
        self._origin = time.monotonic() if origin is None else origin
        return self._origin

    def now(self) -> datetime:
        origin = self._origin
        if origin is None:
            return self.hold_at
        elapsed = max(time.monotonic() - origin, 0.0)
        instant = self.start + timedelta(seconds=elapsed * self.speed)
        if self.stop_at is not None and instant > self.stop_at:
            return self.stop_at
        return instant

    def real_seconds_until(self, instant: datetime) -> float:
        """Real seconds until the clock shows ``instant``: 0 if it has, inf if it never will
        (held, or after ``stop_at``)."""
        origin = self._origin
        if origin is None or (self.stop_at is not None and instant > self.stop_at):
            return float("inf")
        not_yet_running = max(origin - time.monotonic(), 0.0)
        return max(not_yet_running + (instant - self.now()).total_seconds() / self.speed, 0.0)

    def stopped(self) -> bool:
        return self.stop_at is not None and self.released and self.now() >= self.stop_at


class ManualClock:
    """Moves only when told; tests jump 90 days in one call and assert what fired."""

    def __init__(self, start: datetime) -> None:
        if start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> datetime:
        if instant.utcoffset() is None:
            raise ValueError("instant must be timezone-aware")
        with self._lock:
            if instant < self._now:
                raise ValueError(f"a clock does not go backwards ({instant} < {self._now})")
            self._now = instant
            return self._now


def monotonic_at(instant: datetime) -> float:
    """The ``time.monotonic()`` reading of the wall-clock ``instant`` (past or future).

    Wall time is read once, here; the clocks then run on the monotonic clock, so a wall
    clock step (NTP) later does not move simulated time."""
    if instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    return time.monotonic() - (datetime.now(UTC) - instant).total_seconds()


def clock_from(settings: Settings) -> Clock:
    start = settings.clock_start or datetime.now(UTC)
    if settings.clock == "accelerated":
        origin = settings.clock_origin
        at = monotonic_at(origin) if origin is not None else None
        return AcceleratedClock(start, settings.clock_speed, origin=at)
    if settings.clock == "manual":
        return ManualClock(start)
    return RealClock()
