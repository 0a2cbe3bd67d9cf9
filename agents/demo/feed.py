"""Publishing a simulated province in simulated time (``dossierflow simulate``, the demo).

``workflows.simulation`` decides what happens and when; this module makes it happen
on Kafka through the same ``Publisher`` agencies use: each event is published when
the run's accelerated clock reaches its ``occurred_at``, so a worker on the same
clock sees deadlines expire in order, between the events that beat them and the
events that come too late. The ground truth (every dossier, its events and what
the engine must conclude) is written next to it as JSON lines.

The run's clock (``agents.clock.AcceleratedClock``, held) is one that a whole run shares: the
simulator and every worker hold the same start, speed and real-time origin, so
they agree on simulated time to the millisecond, not to the seconds that separate
their process starts.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from agents.clock import AcceleratedClock, monotonic_at
from events import InboundEvent, encode
from workflows.simulation import RunWindow, Workload

if TYPE_CHECKING:
    from agents.settings import Settings
    from agents.tools.publisher import Publisher

#: A date with no holidays near it, so a default run is the same every time.
DEFAULT_FIRST_DAY = date(2026, 3, 2)
#: One simulated week per real minute: two working weeks in about 100 s.
DEFAULT_SPEED = 7 * 24 * 60.0


@dataclass
class SimulatorStats:
    """Counters the demo's live view reads while the simulator publishes (one writer)."""

    total: int = 0
    published: int = 0
    last_at: datetime | None = None
    done: bool = False
    _samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=64))

    def count(self, n: int, last_at: datetime | None) -> None:
        self.published += n
        if last_at is not None:
            self.last_at = last_at
        self._samples.append((time.monotonic(), self.published))

    def rate(self, over: float = 2.0) -> float:
        """Events published per real second over the last ``over`` seconds."""
        now = time.monotonic()
        samples = [s for s in list(self._samples) if now - s[0] <= over]
        if not samples:
            return 0.0
        first_t, first_n = samples[0]
        return (self.published - first_n) / max(now - first_t, over / 4)


def publish_now(publisher: Publisher, events: Iterable[InboundEvent], stats: SimulatorStats) -> int:
    """Publish ``events`` at once (the backlog, before the clock runs) and wait for the broker."""
    count = 0
    last: datetime | None = None
    for event in events:
        publisher.publish(event)
        count += 1
        last = event.occurred_at
        if count % 5000 == 0:
            publisher.flush()
    publisher.flush()
    stats.count(count, last)
    return count


def publish_in_simulated_time(
    publisher: Publisher,
    events: Sequence[InboundEvent],
    clock: AcceleratedClock,
    stats: SimulatorStats,
    stop: threading.Event | None = None,
    *,
    poll: float = 0.02,
) -> int:
    """Publish each event when ``clock`` shows its ``occurred_at``; returns how many.

    Events must be in time order. Each batch is flushed before the loop sleeps, so an
    event reaches the broker within about ``poll`` real seconds of its instant.
    Returns early when ``stop`` is set.
    """
    index = 0
    total = len(events)
    while index < total:
        if stop is not None and stop.is_set():
            break
        now = clock.now()
        first = index
        while index < total and events[index].occurred_at <= now:
            publisher.publish(events[index])
            index += 1
        if index > first:
            publisher.flush()
            stats.count(index - first, events[index - 1].occurred_at)
        if index < total:
            wait = clock.real_seconds_until(events[index].occurred_at)
            time.sleep(min(max(wait, 0.001), poll))
    return index


def wait_for_end(clock: AcceleratedClock, stop: threading.Event | None = None) -> None:
    """Sleep until the clock stops at the end of the run."""
    while not clock.stopped():
        if stop is not None and stop.is_set():
            return
        time.sleep(min(0.2, max(clock.real_seconds_until(clock.stop_at or clock.now()), 0.01)))


# --- ground truth -----------------------------------------------------------------------


def run_record(workload: Workload, **extra: Any) -> dict[str, Any]:
    """The first line of a ground-truth file: how the run was made."""
    w: RunWindow = workload.window
    events = workload.events()
    return {
        "record": "run",
        "seed": workload.seed,
        "scale": workload.scale,
        "start": w.start.isoformat(),
        "end": w.end.isoformat(),
        "backlog_from": w.backlog_from.isoformat(),
        "guard_seconds": workload.guard.total_seconds(),
        "dossiers": len(workload.dossiers),
        "backlog_dossiers": sum(d.received_at < w.start for d in workload.dossiers),
        "events": len(events),
        "backlog_events": sum(e.occurred_at < w.start for e in events),
        "timing_sensitive": sum(d.timing_sensitive(workload.guard) for d in workload.dossiers),
        **extra,
    }


def write_truth(path: Path, workload: Workload, **extra: Any) -> Path:
    """Ground truth as JSON lines: a ``run`` record, then one ``dossier`` record each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        _line(out, run_record(workload, **extra))
        for dossier in workload.dossiers:
            _line(out, {"record": "dossier", **dossier.truth(workload.window)})
    return path


def read_truth(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(run record, dossier records) of a ground-truth file."""
    run: dict[str, Any] = {}
    dossiers = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("record") == "run":
                run = record
            elif record.get("record") == "dossier":
                dossiers.append(record)
    return run, dossiers


def _line(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    out.write("\n")


# --- dossierflow simulate ---------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser, *, default_speed: bool) -> None:
    """Options ``demo`` and ``simulate`` share: which weeks, how many dossiers, how fast."""
    parser.add_argument("--days", type=int, default=10, help="working days (default 10)")
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=DEFAULT_FIRST_DAY,
        help=f"first day, YYYY-MM-DD (default {DEFAULT_FIRST_DAY})",
    )
    parser.add_argument(
        "--backlog-days",
        type=int,
        default=30,
        help="working days of dossiers already in progress at the start (default 30)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=0.25,
        help="share of a province's 80,000 dossiers a quarter (default 0.25)",
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed, same dossiers")
    parser.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED if default_speed else None,
        help="simulated seconds per real second (default "
        + (
            f"{DEFAULT_SPEED:.0f}: a week a minute)"
            if default_speed
            else "DOSSIERFLOW_CLOCK_SPEED, or a week a minute)"
        ),
    )


@dataclass(frozen=True)
class RunOptions:
    """What a simulated run is (``dossierflow simulate`` and ``dossierflow demo`` share it)."""

    days: int = 10
    first_day: date = DEFAULT_FIRST_DAY
    backlog_days: int = 30
    scale: float = 0.25
    seed: int = 1


@dataclass(frozen=True)
class SimulateOptions(RunOptions):
    #: None: the accelerated clock's speed from the settings
    speed: float | None = None
    truth: Path = Path("simulation-truth.jsonl")
    #: write the events here (JSON lines) instead of publishing them
    events_out: Path | None = None
    guard_seconds: float = 0.0


def main_simulate(settings: Settings, opts: SimulateOptions) -> int:
    """``dossierflow simulate``: generate, write the ground truth, publish in simulated time.

    The clock shows ``DOSSIERFLOW_CLOCK_START`` (default: half an hour before the first
    opening) at ``DOSSIERFLOW_CLOCK_ORIGIN`` (default: once the backlog is published) and
    runs at the speed from there. It prints the three variables; workers started with
    them, before or after, see the same simulated time (``dossierflow demo`` shares one
    origin in-process instead).
    """
    from agents.runtime.context import build_calendar
    from agents.tools.publisher import Publisher
    from agents.tools.signing import KeyFileError, signer_from
    from workflows.catalog import load_catalog
    from workflows.simulation import run_window, simulate_province

    try:
        signer = signer_from(settings) if opts.events_out is None else None
    except KeyFileError as exc:
        _err(f"dossierflow simulate: {exc}")
        return 2
    catalog = load_catalog(settings.catalog_path)
    calendar = build_calendar(settings)
    window = run_window(calendar, opts.first_day, opts.days, opts.backlog_days)
    speed = opts.speed
    if speed is None:
        speed = settings.clock_speed if settings.clock == "accelerated" else DEFAULT_SPEED
    started = time.monotonic()
    workload = simulate_province(
        catalog,
        calendar,
        window,
        seed=opts.seed,
        scale=opts.scale,
        guard=timedelta(seconds=opts.guard_seconds * speed),
    )
    write_truth(opts.truth, workload, speed=speed)
    backlog, events = workload.backlog_events(), workload.run_events()
    _err(
        f"simulated {len(workload.dossiers):,} dossiers ({len(backlog) + len(events):,} events) "
        f"from {window.start.isoformat()} to {window.end.isoformat()} in "
        f"{time.monotonic() - started:.1f} s; ground truth in {opts.truth}"
    )
    if opts.events_out is not None:
        with opts.events_out.open("wb") as out:
            for event in workload.events():
                out.write(encode(event) + b"\n")
        _err(f"events written to {opts.events_out} (publish them with: dossierflow publish FILE)")
        return 0
    start = settings.clock_start or window.start
    clock = AcceleratedClock(start, speed, held=True, stop_at=window.end)
    stats = SimulatorStats(total=len(backlog) + len(events))
    topic = settings.topics.events
    stop = threading.Event()
    try:
        login = settings.kafka_security("publisher").kafka_python_kwargs()
        with Publisher(settings.bootstrap_servers, topic, signer=signer, **login) as publisher:
            publish_now(publisher, backlog, stats)
            _err(f"published the {len(backlog):,} events before {start.isoformat()} to {topic}")
            origin = settings.clock_origin or datetime.now(UTC)
            clock.release(monotonic_at(origin))
            _err(
                f"clock x{speed:g} from {start.isoformat()}: workers on the same clock run with "
                f"{clock_env(start, speed, origin)}"
            )
            reporter = threading.Thread(
                target=_report_progress, args=(clock, stats, stop), daemon=True
            )
            reporter.start()
            publish_in_simulated_time(publisher, events, clock, stats, stop)
    except KeyboardInterrupt:
        stop.set()
        _err(f"interrupted after {stats.published:,} of {stats.total:,} events")
        return 130
    stop.set()
    _err(f"published {stats.published:,} events to {topic}")
    return 0


def clock_env(start: datetime, speed: float, origin: datetime) -> str:
    """The worker settings that put a worker on this run's accelerated clock."""
    return (
        f"DOSSIERFLOW_CLOCK=accelerated DOSSIERFLOW_CLOCK_START={start.isoformat()} "
        f"DOSSIERFLOW_CLOCK_SPEED={speed:g} "
        f"DOSSIERFLOW_CLOCK_ORIGIN={origin.astimezone(UTC).isoformat(timespec='milliseconds')}"
    )


def _report_progress(clock: AcceleratedClock, stats: SimulatorStats, stop: threading.Event) -> None:
    while not stop.wait(5.0):
        _err(
            f"  {clock.now().isoformat(timespec='minutes')}: {stats.published:,} of "
            f"{stats.total:,} events ({stats.rate():,.0f}/s)"
        )


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
