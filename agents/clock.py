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
    """``start`` + (real time elapsed since ``real_start``, default creation) x ``speed``."""

    def __init__(self, start: datetime, speed: float, *, real_start: float | None = None) -> None:
        if start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic() if real_start is None else real_start

    def now(self) -> datetime:
        # Before a future origin the clock shows ``start``: it never runs backwards.
        elapsed = max(time.monotonic() - self._t0, 0.0)
        return self.start + timedelta(seconds=elapsed * self.speed)

    def real_seconds_until(self, instant: datetime) -> float:
        """How long to wait (real seconds) until the simulated clock shows ``instant``."""
        not_yet_running = max(self._t0 - time.monotonic(), 0.0)
        return not_yet_running + (instant - self.now()).total_seconds() / self.speed


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
        real_start = monotonic_at(origin) if origin is not None else None
        return AcceleratedClock(start, settings.clock_speed, real_start=real_start)
    if settings.clock == "manual":
        return ManualClock(start)
    return RealClock()
