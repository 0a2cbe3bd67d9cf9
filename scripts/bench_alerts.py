#!/usr/bin/env python3
"""Deadline detection cost and memory with 10k / 100k / 1M open dossiers on one worker.

In one process, without Kafka: the open table is a dict of serialized states
(what faust's memory store holds), the watcher is the production ``Watcher``,
and each tick runs exactly what the worker runs: pop the expired index entries,
read each state, apply the tick (``workflows.alerts.apply_tick``) and re-schedule.
Simulated time advances ``--step-minutes`` per tick, so deadlines expire during
the run; the figures are CPU per tick (flat in N is the target), alerts per
tick, the lag between a watch point's instant and the tick that raised it
(bounded by one tick + the tick's own processing), and RSS per open dossier.

    .venv/bin/python scripts/bench_alerts.py --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.runtime.watcher import Watcher, partition_of  # noqa: E402
from events import DossierReceived, StepCompleted  # noqa: E402
from events.internal import DeadlineTick  # noqa: E402
from workflows import alerts as wa  # noqa: E402
from workflows.calendar import VN_TZ, WorkingCalendar  # noqa: E402
from workflows.catalog import load_catalog  # noqa: E402
from workflows.routing import RoutingContext, apply  # noqa: E402
from workflows.state import DossierState  # noqa: E402


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


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


def build(
    n: int, ctx: RoutingContext, spread_days: int, policy: wa.AlertPolicy
) -> dict[bytes, bytes]:
    """``n`` open dossiers, received over ``spread_days`` days, serialized like the table
    (stamped with their next watch instant, as the router stores them)."""
    table: dict[bytes, bytes] = {}
    base = templates(ctx)
    cal = ctx.calendar
    key = wa.watch_key(cal, policy)
    for i in range(n):
        t = base[i % len(base)]
        shift = timedelta(minutes=(i * 7919) % (spread_days * 24 * 60))
        raw = t.to_bytes().replace(b'"id":"T"', f'"id":"D{i:07d}"'.encode())
        state = DossierState.from_bytes(raw)
        moved = state.model_copy(
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
        table[f"D{i:07d}".encode()] = wa.stamp_watch(moved, cal, policy, key).to_bytes()
    return table


def run(n: int, ticks: int, step: timedelta, partitions: int) -> dict[str, float]:
    ctx = RoutingContext(load_catalog(), WorkingCalendar())
    policy = wa.AlertPolicy()
    gc.collect()
    before = rss_bytes()
    table = build(n, ctx, spread_days=30, policy=policy)
    watcher = Watcher(ctx.calendar, policy, partitions)
    t0 = time.perf_counter()
    watcher.rebuild(table, set(range(partitions)))
    rebuild_s = time.perf_counter() - t0
    assert watcher.computed == 0, "the stored instants were not used"
    gc.collect()
    per_dossier = (rss_bytes() - before) / n
    state_bytes = statistics.mean(len(v) for v in list(table.values())[:1000])
    # The same rebuild without the stored instants (states from before they existed, or
    # a changed policy): every dossier's watch points are computed.
    bare = {k: wa.unstamped(DossierState.from_bytes(v)).to_bytes() for k, v in table.items()}
    t0 = time.perf_counter()
    Watcher(ctx.calendar, policy, partitions).rebuild(bare, set(range(partitions)))
    rebuild_computed_s = time.perf_counter() - t0
    del bare

    # Start mid-way through the receipts: dossiers expire throughout the run.
    now = datetime(2026, 6, 15, 8, tzinfo=VN_TZ)

    def tick(now: datetime) -> tuple[list[float], int]:
        lags: list[float] = []
        raised = 0
        for key, partition in watcher.index.pop_due(now):
            state = wa.unstamped(DossierState.from_bytes(table[key]))
            points = wa.due_points(state, now, ctx.calendar, policy)
            new, alerts = wa.apply_tick(
                state,
                DeadlineTick(dossier_id=key.decode(), detected_at=now),
                ctx.catalog,
                ctx.calendar,
                policy,
            )
            lags.extend((now - p.at).total_seconds() for p in points)
            raised += len(alerts)
            new = wa.stamp_watch(new, ctx.calendar, policy, watcher.key)  # as the router does
            table[key] = new.to_bytes()
            watcher.reschedule(key, partition, new)
        return lags, raised

    backlog_t0 = time.process_time()
    _, backlog = tick(now)  # what expired before the run, raised at once (as after an outage)
    backlog_s = time.process_time() - backlog_t0
    cpu, lags, raised = [], [], 0
    for _ in range(ticks):
        now += step
        c0 = time.process_time()
        tick_lags, tick_raised = tick(now)
        lags.extend(tick_lags)
        raised += tick_raised
        cpu.append(time.process_time() - c0)
    lags.sort()
    return {
        "n": n,
        "rebuild_s": rebuild_s,
        "rebuild_computed_s": rebuild_computed_s,
        "rss_per_dossier": per_dossier,
        "state_bytes": state_bytes,
        "cpu_p50_ms": statistics.median(cpu) * 1000,
        "cpu_p99_ms": sorted(cpu)[int(len(cpu) * 0.99) - 1] * 1000 if cpu else 0,
        "cpu_per_alert_us": sum(cpu) / max(raised, 1) * 1e6,
        "alerts_per_tick": raised / ticks,
        "lag_p50_s": lags[len(lags) // 2] if lags else 0,
        "lag_p99_s": lags[int(len(lags) * 0.99)] if lags else 0,
        "watched": len(watcher.index),
        "backlog": backlog,
        "backlog_s": backlog_s,
        "partition_check": partition_of(b"D0000001", partitions),
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--ticks", type=int, default=600)
    ap.add_argument(
        "--step-minutes",
        type=float,
        default=5.0,
        help="simulated time per tick (tick = 1 s real: lag is in simulated seconds)",
    )
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"{args.ticks} ticks of {args.step_minutes} simulated minutes each")
    header = (
        "open",
        "rebuild s",
        "rebuild, computing s",
        "state B",
        "RSS/dossier B",
        "cpu/tick p50 ms",
        "p99 ms",
        "alerts/tick",
        "cpu/alert us",
        "lag p50 s",
        "lag p99 s",
    )
    print(" | ".join(header))
    for n in args.sizes:
        r = run(n, args.ticks, timedelta(minutes=args.step_minutes), args.partitions)
        print(
            f"{n:,} | {r['rebuild_s']:.1f} | {r['rebuild_computed_s']:.1f} | "
            f"{r['state_bytes']:.0f} | {r['rss_per_dossier']:.0f} | "
            f"{r['cpu_p50_ms']:.2f} | {r['cpu_p99_ms']:.2f} | {r['alerts_per_tick']:.1f} | "
            f"{r['cpu_per_alert_us']:.0f} | {r['lag_p50_s']:.0f} | {r['lag_p99_s']:.0f} | "
            f"{r['backlog']} alerts in {r['backlog_s']:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
