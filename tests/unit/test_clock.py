"""One contract for every clock, subclassed per implementation (STYLE.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from agents.clock import (
    AcceleratedClock,
    Clock,
    ManualClock,
    RealClock,
    clock_from,
    monotonic_at,
)
from agents.demo.feed import clock_env
from agents.settings import Settings

START = datetime(2026, 4, 27, 7, 30, tzinfo=UTC)


class ClockContract:
    def make(self) -> Clock:
        raise NotImplementedError

    def test_now_is_aware(self) -> None:
        assert self.make().now().utcoffset() is not None

    def test_never_goes_backwards(self) -> None:
        clock = self.make()
        readings = [clock.now() for _ in range(200)]
        assert readings == sorted(readings)


class TestRealClock(ClockContract):
    def make(self) -> Clock:
        return RealClock()

    def test_close_to_the_system_clock(self) -> None:
        assert abs(RealClock().now() - datetime.now(UTC)) < timedelta(seconds=1)


class TestAcceleratedClock(ClockContract):
    def make(self) -> Clock:
        return AcceleratedClock(START, 3600.0)

    def test_runs_speed_times_faster_from_start(self) -> None:
        t0 = time.monotonic()
        clock = AcceleratedClock(START, 3600.0, origin=t0 - 2.0)  # two real seconds ago
        elapsed = clock.now() - START
        assert timedelta(hours=2) <= elapsed < timedelta(hours=2, minutes=30)

    def test_real_wait_until_an_instant(self) -> None:
        clock = AcceleratedClock(START, 60.0)
        assert clock.real_seconds_until(START + timedelta(minutes=10)) == pytest.approx(10, abs=0.5)

    def test_naive_start_refused(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            AcceleratedClock(datetime(2026, 1, 1), 2.0)


class TestManualClock(ClockContract):
    def make(self) -> Clock:
        return ManualClock(START)

    def test_stands_still_until_advanced(self) -> None:
        clock = ManualClock(START)
        assert clock.now() == clock.now() == START
        assert clock.advance(timedelta(days=90)) == START + timedelta(days=90)
        assert clock.now() == START + timedelta(days=90)

    def test_refuses_to_go_back(self) -> None:
        clock = ManualClock(START)
        with pytest.raises(ValueError, match="backwards"):
            clock.advance(timedelta(seconds=-1))
        with pytest.raises(ValueError, match="backwards"):
            clock.set(START - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("mode", "kind"),
    [("real", RealClock), ("accelerated", AcceleratedClock), ("manual", ManualClock)],
)
def test_settings_choose_the_clock(mode: str, kind: type) -> None:
    settings = Settings(clock=mode, clock_start=START, clock_speed=10)
    assert isinstance(clock_from(settings), kind)


def test_a_shared_origin_puts_processes_started_apart_on_one_clock() -> None:
    # A worker started 30 real seconds after the origin shows what a worker started at
    # the origin shows now: start + 30 s x speed, not start.
    origin = datetime.now(UTC) - timedelta(seconds=30)
    settings = Settings(clock="accelerated", clock_start=START, clock_speed=60, clock_origin=origin)
    late, also_late = clock_from(settings), clock_from(settings)
    shown = late.now() - START
    assert timedelta(minutes=30) <= shown < timedelta(minutes=31)
    assert abs(late.now() - also_late.now()) < timedelta(seconds=30)  # < 0.5 real s apart


def test_before_a_future_origin_the_clock_shows_its_start() -> None:
    origin = datetime.now(UTC) + timedelta(hours=1)
    settings = Settings(clock="accelerated", clock_start=START, clock_speed=60, clock_origin=origin)
    clock = clock_from(settings)
    assert clock.now() == START
    assert isinstance(clock, AcceleratedClock)
    assert clock.real_seconds_until(START + timedelta(minutes=1)) == pytest.approx(3601, abs=1)


def test_without_an_origin_the_clock_starts_when_the_process_makes_it() -> None:
    settings = Settings(clock="accelerated", clock_start=START, clock_speed=60)
    assert clock_from(settings).now() - START < timedelta(seconds=30)


def test_monotonic_at_maps_wall_instants() -> None:
    now_mono = time.monotonic()
    assert monotonic_at(datetime.now(UTC) - timedelta(seconds=5)) == pytest.approx(
        now_mono - 5, abs=0.2
    )
    with pytest.raises(ValueError, match="aware"):
        monotonic_at(datetime(2026, 1, 1))


def test_a_naive_origin_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="clock_origin"):
        Settings(clock="accelerated", clock_origin=datetime(2026, 1, 1))


def test_the_simulators_clock_line_puts_a_worker_on_its_clock() -> None:
    # What `dossierflow simulate` prints, read back as a worker's environment.
    origin = datetime.now(UTC) - timedelta(seconds=10)
    run = AcceleratedClock(START, 600.0, held=True)
    run.release(monotonic_at(origin))
    env = dict(pair.split("=", 1) for pair in clock_env(START, 600.0, origin).split())
    settings = Settings.model_validate(
        {k.removeprefix("DOSSIERFLOW_").lower(): v for k, v in env.items()}
    )
    worker = clock_from(settings)
    assert abs(worker.now() - run.now()) < timedelta(seconds=60)  # < 0.1 real s apart
    assert run.now() - START >= timedelta(seconds=6000)
