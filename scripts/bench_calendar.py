"""Benchmark the working calendar: add_working_time and working_time_between.

Usage: python scripts/bench_calendar.py [--n 200000] [--seed 7] [--repeat 5]

Starts are random aware instants over 2025-2028, drawn in a few UTC offsets so
the timezone conversion is part of the measured cost. The calendar is warmed
over 2025-2029 first: the one-off cost of building the year tables is reported
separately, since a long-running worker pays it once per year it touches.
Reports the best of ``--repeat`` runs (the least disturbed by the machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from workflows.calendar import VN_TZ, WORKING_DAY, WorkingCalendar

ZONES = (VN_TZ, UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9)))
SPAN_START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_SECONDS = int((datetime(2029, 1, 1, tzinfo=UTC) - SPAN_START).total_seconds())


def random_instants(rng: random.Random, n: int) -> list[datetime]:
    return [
        (SPAN_START + timedelta(seconds=rng.randrange(SPAN_SECONDS))).astimezone(rng.choice(ZONES))
        for _ in range(n)
    ]


def best_rate(run: Callable[[], None], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return n / best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="operations per run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best is reported")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    starts = random_instants(rng, args.n)
    ends = random_instants(rng, args.n)
    amount = 45 * WORKING_DAY

    began = time.perf_counter()
    cal = WorkingCalendar(years=range(2025, 2030))
    build_ms = (time.perf_counter() - began) * 1000

    add = cal.add_working_time
    between = cal.working_time_between

    def run_add() -> None:
        for start in starts:
            add(start, amount)

    def run_between() -> None:
        for a, b in zip(starts, ends, strict=True):
            between(a, b)

    def run_baseline() -> None:
        # What one aware-datetime conversion costs, to put the numbers in scale.
        for start in starts:
            start.astimezone(VN_TZ)

    add_rate = best_rate(run_add, args.n, args.repeat)
    between_rate = best_rate(run_between, args.n, args.repeat)
    baseline_rate = best_rate(run_baseline, args.n, args.repeat)

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"n={args.n} per run, best of {args.repeat}, seed {args.seed}, starts 2025-2028")
    print(f"year tables 2025-2029 built in {build_ms:.1f} ms")
    print(f"add_working_time(start, 45 working days): {add_rate:>12,.0f} ops/s")
    print(f"working_time_between(a, b):               {between_rate:>12,.0f} ops/s")
    print(f"baseline: datetime.astimezone alone:      {baseline_rate:>12,.0f} ops/s")


if __name__ == "__main__":
    main()
