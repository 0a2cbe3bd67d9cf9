#!/usr/bin/env python3
"""What-if replay speed: a simulated province's year folded through the pure core.

    .venv/bin/python scripts/bench_replay.py [--scale 0.1] [--seed 1] [--gc] [--profile 20]

``--scale 1`` is a year of a province like Lào Cai (80,000 dossiers a quarter: ~320,000
dossiers); a smaller scale is the same year thinned, and the rate is extrapolated to the
year's event count. Only the replay is timed (``workflows.replay.replay`` with the sample
catalog, as ``dossierflow whatif`` runs it once per catalog), not the simulation that
makes the events. The digest of every replayed state shows that a faster core gives the
same results: compare it between runs of the same scale and seed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import os
import platform
import pstats
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.tools.whatif import without_cycle_collection  # noqa: E402
from events import InboundEvent  # noqa: E402
from workflows.calendar import WorkingCalendar  # noqa: E402
from workflows.catalog import load_catalog  # noqa: E402
from workflows.replay import replay, sent_by_anyone  # noqa: E402
from workflows.routing import RoutingContext  # noqa: E402
from workflows.simulation import run_window, simulate_province  # noqa: E402
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="share of a year (default 0.1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gc", action="store_true", help="leave the cyclic collector on")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile: print the top N")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    events, dossiers = year_of_events(args.scale, args.seed)
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
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        states = replay(sent_by_anyone(events), ctx)
        if profiler is not None:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
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
