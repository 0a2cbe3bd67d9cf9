#!/usr/bin/env python3
"""What-if replay speed: a simulated province's year folded through the pure core.

    .venv/bin/python scripts/bench_replay.py [--scale 0.1] [--seed 1] [--gc] [--profile 20]
        [--jobs N] [--events-cache FILE]
    .venv/bin/python scripts/bench_replay.py --router-core [--dossiers 4000] [--repeat 3]

``--scale 1`` is a year of a province like Lào Cai (80,000 dossiers a quarter: ~320,000
dossiers); a smaller scale is the same year thinned, and the rate is extrapolated to the
year's event count. Only the replay is timed (``workflows.replay.replay`` with the sample
catalog, as ``dossierflow whatif`` runs it once per catalog), not the simulation that
makes the events. The digest of every replayed state shows that a faster core gives the
same results: compare it between runs of the same scale and seed.

``--router-core`` times the live router's in-process path instead: ``RouterCore.run_batch``
(parse, load the state, ``apply``, watch instant, save, assignment records) over dict
tables in batches of 1,000, plus the watcher's reschedule and its ticks, for ``--dossiers``
simulated lifecycles; best of ``--repeat``, with a digest of every output record and table.

``--jobs N`` replays as ``dossierflow whatif --jobs N`` does (the dossiers split across N
forked processes); the CPU figure is then the workers' and this process's together, and
the wall-clock rate is printed too. ``--events-cache FILE`` keeps the simulated events in
a pickle, so runs of the same scale and seed skip the simulation.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import os
import pickle
import platform
import pstats
import resource
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.runtime.records import Coordinates  # noqa: E402
from agents.runtime.router import RawRecord, RouterCore, Tables  # noqa: E402
from agents.runtime.watcher import Watcher, partition_of  # noqa: E402
from agents.tools.whatif import without_cycle_collection  # noqa: E402
from agents.tools.whatif_jobs import replay_in_processes  # noqa: E402
from events import InboundEvent, encode  # noqa: E402
from events.internal import DeadlineTick  # noqa: E402
from workflows.alerts import AlertPolicy  # noqa: E402
from workflows.calendar import VN_TZ, WorkingCalendar  # noqa: E402
from workflows.catalog import load_catalog  # noqa: E402
from workflows.replay import replay, sent_by_anyone  # noqa: E402
from workflows.routing import RoutingContext  # noqa: E402
from workflows.simulation import interleave, run_window, simulate, simulate_province  # noqa: E402
from workflows.state import DossierState  # noqa: E402

#: The DESIGN.md target: a year of a province (~2M events) in 60 s on one core.
YEAR_EVENTS = 2_000_000
TARGET_SECONDS = 60.0


def year_of_events(scale: float, seed: int) -> tuple[list[InboundEvent], int]:
    """(every event of a year of the simulated province at ``scale``, dossiers)."""
    cal, catalog = WorkingCalendar(), load_catalog()
    # The sample catalog's versions are in force from 2025-07-01: one year from then.
    window = run_window(cal, date(2025, 7, 1), 250)
    workload = simulate_province(catalog, cal, window, seed=seed, scale=scale)
    return workload.events(), len(workload.dossiers)


def digest(states: dict[str, DossierState]) -> str:
    h = hashlib.sha256()
    for key in sorted(states):
        h.update(states[key].to_bytes())
    return h.hexdigest()[:16]


#: The router core's batches, as the worker takes them (``take_events`` of 1,000).
BATCH = 1000
PARTITIONS = 4


def topic_records(events: list[InboundEvent], partitions: int) -> list[RawRecord]:
    """``events`` as the router reads them: keyed by dossier, on its partition of
    ``partitions``, offsets counting through the whole list."""
    return [
        RawRecord(
            encode(e),
            Coordinates(
                "events", partition_of(e.dossier_id.encode(), partitions), i, e.dossier_id.encode()
            ),
        )
        for i, e in enumerate(events)
    ]


def due_ticks(watcher: Watcher, clock: datetime) -> list[RawRecord]:
    """The tick records of every deadline due by ``clock``, taken off the watcher's index."""
    return [
        RawRecord(
            DeadlineTick(dossier_id=k.decode(), detected_at=clock).model_dump_json().encode(),
            Coordinates("ticks", p, -1, k),
        )
        for k, p in watcher.index.pop_due(clock)
    ]


def router_core(dossiers: int, seed: int) -> tuple[float, float, int, str]:
    """One pass of the in-process router over ``dossiers`` simulated lifecycles:
    (seconds in ``run_batch``, seconds in all, events, digest of every output)."""
    ctx = RoutingContext(load_catalog(), WorkingCalendar())
    start = datetime(2026, 9, 1, 8, tzinfo=VN_TZ)
    events = interleave(
        simulate(ctx.catalog, ctx.calendar, start, dossiers, seed=seed, spread=timedelta(days=20))
    )
    records = topic_records(events, PARTITIONS)
    policy = AlertPolicy()
    tables = Tables({}, {}, {})
    core = RouterCore(ctx, tables, ticks_topic="ticks", alerts=policy)
    watcher = Watcher(ctx.calendar, policy, PARTITIONS)
    h = hashlib.sha256()
    clock = start
    in_core = 0.0
    began = time.process_time()
    for i in range(0, len(records), BATCH):
        batch = records[i : i + BATCH]
        clock = max(clock, max(e.occurred_at for e in events[i : i + BATCH]))
        batch += due_ticks(watcher, clock)
        t = time.process_time()
        result = core.run_batch(batch, clock)
        in_core += time.process_time() - t
        tables.apply(result.writes)
        for key, partition in result.touched.items():
            watcher.reschedule(key, partition, result.states.get(key))
        for out in result.outgoing:
            h.update(out.topic.encode() + (out.key or b"") + out.value)
    total = time.process_time() - began
    for table in (tables.open, tables.closed, tables.parked):
        for key in sorted(table):
            h.update(key + table[key])
    return in_core, total, len(events), h.hexdigest()[:16]


def main_router_core(dossiers: int, seed: int, repeat: int) -> None:
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    runs = [router_core(dossiers, seed) for _ in range(repeat)]
    for in_core, total, n, dig in runs:
        print(
            f"router core: {n:,} events of {dossiers:,} lifecycles in batches of {BATCH:,}: "
            f"run_batch {in_core:.2f} s CPU ({in_core / n * 1e6:.0f} us an event, "
            f"{n / in_core:,.0f} events/s); with the watcher {total:.2f} s "
            f"({total / n * 1e6:.0f} us an event, {n / total:,.0f} events/s); digest {dig}"
        )
    best = min(runs, key=lambda r: r[1])
    print(
        f"best of {repeat}: {best[1] / best[2] * 1e6:.0f} us an event with the watcher, "
        f"{best[0] / best[2] * 1e6:.0f} us in run_batch"
    )


def _children_cpu() -> float:
    """CPU seconds (user + system) of the waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="share of a year (default 0.1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gc", action="store_true", help="leave the cyclic collector on")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile: print the top N")
    parser.add_argument(
        "--router-core", action="store_true", help="time RouterCore.run_batch instead"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="split the dossiers across N processes (whatif --jobs)"
    )
    parser.add_argument(
        "--events-cache",
        type=Path,
        metavar="FILE",
        help="pickle the simulated events to FILE, or load them from it if it exists",
    )
    parser.add_argument("--dossiers", type=int, default=4000, help="--router-core lifecycles")
    parser.add_argument("--repeat", type=int, default=3, help="--router-core passes")
    args = parser.parse_args(argv)
    if args.router_core:
        main_router_core(args.dossiers, args.seed, args.repeat)
        return

    started = time.perf_counter()
    cache: Path | None = args.events_cache
    if cache is not None and cache.exists():
        with cache.open("rb") as f:
            scale, seed, events, dossiers = pickle.load(f)
        if (scale, seed) != (args.scale, args.seed):
            parser.error(f"{cache} holds scale {scale:g} seed {seed}, not these")
    else:
        events, dossiers = year_of_events(args.scale, args.seed)
        if cache is not None:
            with cache.open("wb") as f:
                pickle.dump((args.scale, args.seed, events, dossiers), f, protocol=5)
    made = time.perf_counter() - started
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"simulated a year at scale {args.scale:g} (seed {args.seed}): {dossiers:,} dossiers, "
        f"{len(events):,} events in {made:.1f} s (not timed below)"
    )
    # A fresh calendar: its per-year tables and caches are part of what a run pays.
    ctx = RoutingContext(load_catalog(), WorkingCalendar())
    profiler = cProfile.Profile() if args.profile else None
    # As `dossierflow whatif` runs it: the cyclic collector off (--gc: left on).
    with contextlib.nullcontext() if args.gc else without_cycle_collection():
        children = _children_cpu()
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        if args.jobs > 1:
            (states,) = replay_in_processes(list(sent_by_anyone(events)), [ctx], args.jobs)
        else:
            states = replay(sent_by_anyone(events), ctx)
        if profiler is not None:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        children = _children_cpu() - children
    if args.jobs > 1:
        print(
            f"{args.jobs} processes: {children:.1f} s CPU in the workers, {cpu:.1f} s here "
            f"(split, merge); {len(events) / wall:,.0f} events/s (wall)"
        )
        cpu += children
    rate = len(events) / cpu
    year = YEAR_EVENTS / rate
    verdict = "meets" if year <= TARGET_SECONDS else "misses"
    print(f"replayed {len(states):,} dossiers: {wall:.1f} s wall, {cpu:.1f} s CPU")
    print(f"{rate:,.0f} events/s (CPU); a year of {YEAR_EVENTS:,} events: {year:.0f} s")
    print(f"target {TARGET_SECONDS:.0f} s: {verdict} it; states digest {digest(states)}")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile)
        print(out.getvalue())


if __name__ == "__main__":
    main()
