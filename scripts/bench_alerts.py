#!/usr/bin/env python3
"""Deadline detection cost and memory with 10k / 100k / 1M open dossiers on one worker.

In one process, without Kafka: the open table is a dict of serialized states
(what faust's memory store holds), the watcher is the production ``Watcher`` and
the router the production ``RouterCore``. Each tick runs what a worker runs: the
watcher pops the expired index entries and writes one ``DeadlineTick`` record per
dossier still open (``Deadlines.watch_once``); the router takes them in batches of
``BATCH_MAX`` (``RouterCore.run_batch``: decode the tick, load the state, apply the
tick, encode the alerts, store the state with its next watch instant), the tables
take the writes and the watcher re-schedules what the batch touched (``BatchLoop``).
Only the Kafka round trips are left out.

Simulated time advances ``--step-minutes`` per tick, so deadlines expire during the
run. The figures: CPU per tick (flat in N is the target), alerts per tick, the lag
between a watch point's instant and the tick that raised it (bounded by one tick),
the processing latency of each alert (from its tick's start to the end of the router
batch that raised it: what a real 1 s tick adds to the alert latency), the index
rebuild time and RSS per open dossier (RSS grows by the table and the index; run one
size per process for it: a later size reuses the memory an earlier one freed).

``--burst K`` adds the burst of issue 18: K of the open dossiers have their current
step due at one instant (Monday 15/6/2026 17:30, the closing time, a tick instant;
their earlier levels already alerted), and the tick at that instant is reported
on its own line.

    .venv/bin/python scripts/bench_alerts.py --sizes 10000 100000 1000000
    .venv/bin/python scripts/bench_alerts.py --sizes 1000000 --burst 10000 --ticks 120
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.runtime.batch import BATCH_MAX  # noqa: E402
from agents.runtime.records import Coordinates  # noqa: E402
from agents.runtime.router import BatchResult, RawRecord, RouterCore, Tables  # noqa: E402
from agents.runtime.watcher import Watcher  # noqa: E402
from events import DossierReceived, StepCompleted  # noqa: E402
from events.internal import DeadlineTick  # noqa: E402
from workflows import alerts as wa  # noqa: E402
from workflows.calendar import VN_TZ, WorkingCalendar  # noqa: E402
from workflows.catalog import load_catalog  # noqa: E402
from workflows.routing import RoutingContext, apply  # noqa: E402
from workflows.state import DossierState  # noqa: E402

try:  # the ticks prepared ahead (--prepare-ahead): not in trees before them
    from agents.runtime import prepared as prepared_module  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover
    prepared_module = None  # type: ignore[assignment,unused-ignore]

try:  # what Deadlines.watch_once sends (measured on older trees too: one record each)
    from agents.runtime.watcher import tick_values  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - before tick_values

    def tick_values(keys: Iterable[bytes], now: datetime) -> list[bytes]:
        return [
            DeadlineTick(dossier_id=k.decode("utf-8"), detected_at=now).model_dump_json().encode()
            for k in keys
        ]


TICKS_TOPIC = "dossier-deadline-ticks"
#: The first tick of a run (everything expired before it is the backlog).
START = datetime(2026, 6, 15, 8, tzinfo=VN_TZ)
#: Where ``--burst`` puts its deadlines: Monday's closing time, 114 ticks of 5 min in.
BURST_AT = datetime(2026, 6, 15, 17, 30, tzinfo=VN_TZ)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, sorted in place; 0 when empty."""
    if not values:
        return 0.0
    values.sort()
    return values[min(len(values) - 1, int(len(values) * q))]


def templates(ctx: RoutingContext) -> list[DossierState]:
    """One realistic open state per working-day procedure: received, first step done."""

    out = []
    at = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)
    for code, versions in ctx.catalog.procedures.items():
        proc = versions[-1]
        if proc.time_unit != "working_days" or proc.committed_time == 0:
            continue
        state, _ = apply(
            None,
            DossierReceived(
                event_id=f"{code}-r",
                dossier_id="T",
                occurred_at=at,
                agency=proc.entry.agency,
                procedure=code,
                channel="online",
            ),
            ctx,
        )
        state, _ = apply(
            state,
            StepCompleted(
                event_id=f"{code}-s",
                dossier_id="T",
                occurred_at=at + timedelta(hours=3),
                agency=proc.entry.agency,
                step=proc.entry.id,
            ),
            ctx,
        )
        assert state is not None
        out.append(state)
    return out


def shifted(state: DossierState, shift: timedelta, cal: WorkingCalendar) -> DossierState:
    return state.model_copy(
        update={
            "received_at": state.received_at + shift,
            "start_at": cal.next_opening(state.start_at + shift),
            "committed_due_at": state.committed_due_at + shift,
            "statutory_due_at": state.statutory_due_at + shift,
            "original_due_at": state.original_due_at + shift,
            "sheet": tuple(
                r.model_copy(
                    update={"started_at": r.started_at + shift, "due_at": r.due_at + shift}
                )
                for r in state.sheet
            ),
        }
    )


def into_burst(state: DossierState, cal: WorkingCalendar, policy: wa.AlertPolicy) -> DossierState:
    """``state`` moved so that its current step is due at ``BURST_AT``, with every level
    it reached before then already alerted (its next watch point is the burst)."""
    row = state.current_row
    assert row is not None
    moved = shifted(state, BURST_AT - row.due_at, cal)
    earlier = tuple(p.mark for p in wa.watch_points(moved, cal, policy) if p.at < BURST_AT)
    return moved.model_copy(update={"alerted": moved.alerted + earlier})


def build(
    n: int, ctx: RoutingContext, spread_days: int, policy: wa.AlertPolicy, burst: int
) -> dict[bytes, bytes]:
    """``n`` open dossiers, received over ``spread_days`` days, serialized like the table
    (stamped with their next watch instant, as the router stores them); ``burst`` of
    them, evenly spread over the keys, moved into the burst."""
    table: dict[bytes, bytes] = {}
    base = templates(ctx)
    cal = ctx.calendar
    key = wa.watch_key(cal, policy)
    every = n // burst if burst else 0
    for i in range(n):
        t = base[i % len(base)]
        shift = timedelta(minutes=(i * 7919) % (spread_days * 24 * 60))
        raw = t.to_bytes().replace(b'"id":"T"', f'"id":"D{i:07d}"'.encode())
        moved = shifted(DossierState.from_bytes(raw), shift, cal)
        if every and i % every == 0 and i // every < burst:
            moved = into_burst(moved, cal, policy)
        table[f"D{i:07d}".encode()] = wa.stamp_watch(moved, cal, policy, key).to_bytes()
    return table


@dataclass
class Tick:
    cpu_s: float
    wall_s: float
    alerts: int
    #: per raised watch point: (its instant, seconds from the tick's start to its batch's end)
    points: list[tuple[datetime, float]] = field(default_factory=list)
    #: of ``cpu_s``: the preparation pass after the tick (``--prepare-ahead``)
    prepare_cpu_s: float = 0.0


@dataclass
class Preparation:
    """What ``--prepare-ahead`` cost: the passes after each tick (``Deadlines.prepare_ahead``)."""

    cpu: list[float] = field(default_factory=list)
    dossiers: int = 0
    #: the largest pass: dossiers prepared, its CPU, RSS growth, entries held after it
    largest: tuple[int, float, int, int] = (0, 0.0, 0, 0)


class Worker:
    """The watcher and the router of one worker over a dict table, without Kafka."""

    def __init__(
        self,
        ctx: RoutingContext,
        policy: wa.AlertPolicy,
        table: dict[bytes, bytes],
        ahead: timedelta = timedelta(0),
    ):
        self.ctx, self.policy, self.table = ctx, policy, table
        self.watcher = Watcher(ctx.calendar, policy, 4)
        self.tables = Tables(table, {}, {})
        self.core = RouterCore(ctx, self.tables, ticks_topic=TICKS_TOPIC, alerts=policy)
        self.offset = 0
        self.ahead = ahead
        self.preparation = Preparation()
        prepared = getattr(self.core, "prepared", None)  # None: a tree before prepared ticks
        if prepared is not None:
            prepared.ahead_s = ahead.total_seconds()

    def prepare(self, now: datetime) -> float:
        """A worker's preparation pass after its tick (``Deadlines.prepare_ahead``, without
        its pauses between slices): the ticks due within the look-ahead computed ahead.
        Returns its CPU seconds."""
        prepared = getattr(self.core, "prepared", None)
        if prepared is None or not self.ahead:
            return 0.0
        rss0, c0 = rss_bytes(), time.process_time()
        instant = now.timestamp()
        prepared.sweep(instant)
        done = 0
        for key, at in prepared.plan(self.watcher.index, instant):
            done += prepared.prepare(key, at, self.table.get(key)) is not None
        if done >= getattr(prepared_module, "COLLECT_AFTER", done + 1):
            gc.collect()  # as Deadlines.prepare_ahead does
        cpu = time.process_time() - c0
        p = self.preparation
        p.cpu.append(cpu)
        p.dossiers += done
        if done > p.largest[0]:
            p.largest = (done, cpu, rss_bytes() - rss0, len(prepared))
        return cpu

    def tick(self, now: datetime) -> Tick:
        c0, w0 = time.process_time(), time.perf_counter()
        # Deadlines.watch_once: pop what expired, one tick record for each dossier still open
        due = [(k, p) for k, p in self.watcher.index.pop_due(now) if k in self.table]
        records = []
        for (key, partition), value in zip(due, tick_values((k for k, _ in due), now), strict=True):
            self.offset += 1
            records.append(RawRecord(value, Coordinates(TICKS_TOPIC, partition, self.offset, key)))
        # BatchLoop.route: the router's batches, their writes, the watcher re-scheduled
        done: list[tuple[float, BatchResult]] = []
        for start in range(0, len(records), BATCH_MAX):
            result = self.core.run_batch(records[start : start + BATCH_MAX], now)
            self.tables.apply(result.writes)
            for key, partition in result.touched.items():
                self.watcher.reschedule(key, partition, result.states.get(key))
            done.append((time.perf_counter() - w0, result))
        tick = Tick(time.process_time() - c0, time.perf_counter() - w0, 0)
        # In the worker's idle time after the tick: the next ticks prepared (counted in this
        # tick's CPU, not in its alerts' processing latency: they were raised before).
        tick.prepare_cpu_s = self.prepare(now)
        tick.cpu_s += tick.prepare_cpu_s
        # Outside the timed part: which watch points each batch raised, for the latencies.
        for offset, result in done:
            tick.alerts += len(result.alerts)
            for before in result.before.values():
                if before is not None:
                    points = wa.due_points(before, now, self.ctx.calendar, self.policy)
                    tick.points += [(p.at, offset) for p in points]
        return tick


def entry_bytes(worker: Worker, sample: int = 2000) -> tuple[float, int]:
    """Memory a prepared entry holds (tracemalloc, beyond the table's own bytes): ``sample``
    open dossiers prepared for their stored watch instants."""
    prepared = worker.core.prepared
    prepared.clear()
    items = []
    for key, raw in worker.table.items():
        state = DossierState.from_bytes(raw)
        if state.watch_at is not None:
            items.append((key, state.watch_at.timestamp(), raw))
        if len(items) == sample:
            break
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    made = sum(prepared.prepare(key, at, raw) is not None for key, at, raw in items)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    prepared.clear()
    return used / max(made, 1), made


def run(
    n: int, ticks: int, step: timedelta, burst: int, computing: bool, ahead: timedelta
) -> dict[str, float | str]:
    ctx = RoutingContext(load_catalog(), WorkingCalendar())
    policy = wa.AlertPolicy()
    gc.collect()
    before = rss_bytes()
    table = build(n, ctx, spread_days=30, policy=policy, burst=burst)
    worker = Worker(ctx, policy, table, ahead)
    watcher = worker.watcher
    t0, c0 = time.perf_counter(), time.process_time()
    watcher.rebuild(table, set(range(4)))
    rebuild_s, rebuild_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    assert watcher.computed == 0, "the stored instants were not used"
    gc.collect()
    per_dossier = (rss_bytes() - before) / n
    state_bytes = statistics.mean(len(v) for v in list(table.values())[:1000])
    rebuild_computed_s = float("nan")
    if computing:
        # The same rebuild without the stored instants (states from before they existed, or
        # a changed policy): every dossier's watch points are computed.
        bare = {k: wa.unstamped(DossierState.from_bytes(v)).to_bytes() for k, v in table.items()}
        t0 = time.perf_counter()
        Watcher(ctx.calendar, policy, 4).rebuild(bare, set(range(4)))
        rebuild_computed_s = time.perf_counter() - t0
        del bare

    now = START  # mid-way through the receipts: dossiers expire throughout the run
    backlog = (
        worker.tick(now) if ticks else Tick(0, 0, 0)
    )  # what expired before the run, raised at once (after an outage)
    cpu, lags, processing = [], [], []
    burst_tick: Tick | None = None
    raised = 0
    for _ in range(ticks):
        now += step
        tick = worker.tick(now)
        if now == BURST_AT and burst:
            burst_tick = tick
        raised += tick.alerts
        cpu.append(tick.cpu_s)
        lags += [(now - at).total_seconds() for at, _ in tick.points]
        processing += [offset for _, offset in tick.points]
    out: dict[str, float | str] = {
        "n": n,
        "rebuild_s": rebuild_s,
        "rebuild_cpu_s": rebuild_cpu_s,
        "rebuild_computed_s": rebuild_computed_s,
        "rss_per_dossier": per_dossier,
        "state_bytes": state_bytes,
        "cpu_p50_ms": statistics.median(cpu) * 1000 if cpu else 0.0,
        "cpu_p99_ms": pct(cpu, 0.99) * 1000,
        "cpu_per_alert_us": sum(cpu) / max(raised, 1) * 1e6,
        "alerts_per_tick": raised / max(ticks, 1),
        "lag_p50_s": pct(lags, 0.5),
        "lag_p99_s": pct(lags, 0.99),
        "proc_p50_s": pct(processing, 0.5),
        "proc_p99_s": pct(processing, 0.99),
        "backlog": f"{backlog.alerts} alerts in {backlog.cpu_s:.1f} s",
        "burst": "",
        "prepared": "",
    }
    prep = worker.preparation
    core_prepared = getattr(worker.core, "prepared", None)
    if prep.cpu and core_prepared is not None:
        done, cpu_s, _, held = prep.largest
        entry_b, sampled = entry_bytes(worker)
        out["prepared"] = (
            f"prepared ahead ({ahead.total_seconds() / 60:g} simulated min): "
            f"{prep.dossiers} dossiers, cpu {sum(prep.cpu):.2f} s "
            f"({sum(prep.cpu) / max(prep.dossiers, 1) * 1e6:.0f} us a dossier), pass cpu p50 "
            f"{statistics.median(prep.cpu) * 1000:.1f} ms, max {max(prep.cpu) * 1000:.0f} ms; "
            f"used by their tick {core_prepared.used}, stale (computed) {core_prepared.missed}; "
            f"largest pass {done} dossiers in {cpu_s:.2f} s cpu, {held} entries held after it; "
            f"memory {entry_b:.0f} B an entry (tracemalloc over {sampled})"
        )
    if burst_tick is not None:
        at_burst = [offset for at, offset in burst_tick.points if at == BURST_AT]
        routing_s = burst_tick.cpu_s - burst_tick.prepare_cpu_s
        out["burst"] = (
            f"burst tick {BURST_AT:%d/%m %H:%M}: {burst_tick.alerts} alerts "
            f"({len(at_burst)} due at that instant), wall {burst_tick.wall_s:.2f} s, "
            f"cpu {routing_s:.2f} s (+ {burst_tick.prepare_cpu_s:.2f} s preparing the next "
            f"ticks after it), cpu/alert {routing_s / max(burst_tick.alerts, 1) * 1e6:.0f} us, "
            "processing p50 "
            f"{pct(at_burst, 0.5):.2f} s, p99 {pct(at_burst, 0.99):.2f} s, "
            f"max {pct(at_burst, 1.0):.2f} s"
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument(
        "--ticks", type=int, default=600, help="0: build and rebuild only (memory, rebuild)"
    )
    ap.add_argument(
        "--step-minutes",
        type=float,
        default=5.0,
        help="simulated time per tick (tick = 1 s real: lag is in simulated seconds)",
    )
    ap.add_argument(
        "--burst",
        type=int,
        default=0,
        metavar="K",
        help="K open dossiers due at one instant, a tick 9.5 simulated hours in (needs "
        "--ticks >= 114 with 5-minute ticks)",
    )
    ap.add_argument(
        "--prepare-ahead",
        type=float,
        default=0.0,
        metavar="MIN",
        help="after each tick, prepare the ticks due within MIN simulated minutes "
        "(agents/runtime/prepared.py; 0: off, the router computes every tick)",
    )
    ap.add_argument(
        "--no-computing",
        action="store_true",
        help="skip the rebuild without stored instants (minutes at 1M)",
    )
    args = ap.parse_args()
    step = timedelta(minutes=args.step_minutes)
    if args.burst and ((BURST_AT - START) % step or START + step * args.ticks < BURST_AT):
        ap.error("--burst needs a tick at 17:30: 5-minute ticks (or a divisor), --ticks >= 114")
    print(f"machine: {platform.node()} {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    print(f"{args.ticks} ticks of {args.step_minutes} simulated minutes each")
    header = (
        "open",
        "rebuild s",
        "rebuild cpu s",
        "rebuild, computing s",
        "state B",
        "RSS/dossier B",
        "cpu/tick p50 ms",
        "p99 ms",
        "alerts/tick",
        "cpu/alert us",
        "lag p50 s",
        "lag p99 s",
        "processing p50 s",
        "p99 s",
        "backlog",
    )
    print(" | ".join(header))
    for n in args.sizes:
        ahead = timedelta(minutes=args.prepare_ahead)
        r = run(n, args.ticks, step, args.burst, not args.no_computing, ahead)
        print(
            f"{n:,} | {r['rebuild_s']:.1f} | {r['rebuild_cpu_s']:.1f} | "
            f"{r['rebuild_computed_s']:.1f} | "
            f"{r['state_bytes']:.0f} | {r['rss_per_dossier']:.0f} | "
            f"{r['cpu_p50_ms']:.2f} | {r['cpu_p99_ms']:.2f} | {r['alerts_per_tick']:.1f} | "
            f"{r['cpu_per_alert_us']:.0f} | {r['lag_p50_s']:.0f} | {r['lag_p99_s']:.0f} | "
            f"{r['proc_p50_s']:.3f} | {r['proc_p99_s']:.3f} | {r['backlog']}",
            flush=True,
        )
        if r["burst"]:
            print(f"  {r['burst']}", flush=True)
        if r["prepared"]:
            print(f"  {r['prepared']}", flush=True)
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
