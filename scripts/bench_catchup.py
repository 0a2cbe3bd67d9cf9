#!/usr/bin/env python3
"""Catch-up after a worker was down for one simulated day of a province at 4x scale.

The province's workload (``workflows.simulation.simulate_province``) over one working day,
with the dossiers already in progress at its start (``--backlog-days`` working days of
history). One worker routes the history and is stopped (SIGTERM: down); the day's events
are published while it is down; it is started again and timed until its own
``dossierflow_consumer_lag`` for the events topic is zero on every partition (the metric
is refreshed every 2 s, so the figure is good to about 2 s) and every record of the day
is committed.

    .venv/bin/python scripts/bench_catchup.py [--scale 4] [--backlog-days 10] [--insecure]

Secured like scripts/bench_router.py (TLS + SCRAM + ACLs, every event signed and verified)
unless --insecure. The worker's clock is held at the day's start (no deadline alerts: the
router is measured, not the notifier).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.tools.signing import demo_publisher  # noqa: E402
from events import encode  # noqa: E402
from scripts import bench_router as br  # noqa: E402
from workflows.calendar import WorkingCalendar  # noqa: E402
from workflows.catalog import load_catalog  # noqa: E402
from workflows.simulation import run_window, simulate_province  # noqa: E402

#: A day's backlog that has not drained by then is stuck.
CATCH_UP_TIMEOUT_S = 1800


def events_lag(port: int, topic: str) -> int | None:
    """The worker's own lag on ``topic`` (sum over partitions); None before it is exported."""
    lines = br.lag_samples(port, topic, timeout=10)
    if not lines:
        return None
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in lines))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scale", type=float, default=4.0, help="province scale (default 4)")
    ap.add_argument("--day", type=date.fromisoformat, default=date(2025, 9, 16))
    ap.add_argument("--backlog-days", type=int, default=10, help="working days of history")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--store", default="memory://", choices=["memory://", "rocksdb://"])
    ap.add_argument("--insecure", action="store_true", help="PLAINTEXT, unsigned records")
    args = ap.parse_args()

    cal, catalog = WorkingCalendar(), load_catalog()
    window = run_window(cal, args.day, 1, backlog_days=args.backlog_days)
    workload = simulate_province(catalog, cal, window, seed=args.seed, scale=args.scale)
    history = [(e.dossier_id.encode(), encode(e)) for e in workload.backlog_events()]
    day = [(e.dossier_id.encode(), encode(e)) for e in workload.run_events()]

    work = Path(tempfile.mkdtemp(prefix="bench-catchup-"))
    kafka_dir = work / "kafka"
    bootstrap = br.start_broker(kafka_dir, args.insecure)
    security = (
        br.PLAINTEXT if args.insecure else br.Security(kafka_dir / "security" / "clients.json")
    )
    try:
        prefix = f"catchup-{int(time.time())}-"
        settings = br.prepare(security, bootstrap, prefix)
        topic, group = settings.topics.events, f"{prefix}router"
        br.log(
            f"machine: {platform.node()} {os.cpu_count()} cores, python {platform.python_version()}"
        )
        br.log(f"load average: {Path('/proc/loadavg').read_text().strip()}")
        br.log(f"security: {'on (TLS + SCRAM + ACLs, signed)' if security.on else 'OFF'}")
        br.log(
            f"province at scale {args.scale:g}, day {window.start.date()} "
            f"({len(workload.dossiers):,} dossiers): {len(history):,} events of "
            f"{args.backlog_days} working days of history, {len(day):,} events in the day"
        )
        signer, registry = demo_publisher(work / "publisher") if security.on else (None, None)
        port = br.free_ports(1)[0]
        env = br.worker_env(bootstrap, prefix, port, work / "worker", args.store, security)
        env["DOSSIERFLOW_CLOCK_START"] = window.start.isoformat()
        if registry is not None:
            env["DOSSIERFLOW_PUBLISHERS_PATH"] = str(registry)
        else:
            env["DOSSIERFLOW_REQUIRE_SIGNATURES"] = "false"
        logf = work / "worker.log"

        br.produce(bootstrap, topic, history, signer, security)
        br.log("history: one worker routes it ...")
        proc, _, history_s = br.measure_router(
            bootstrap, topic, group, env, logf, len(history), security
        )
        br.log(f"  {len(history):,} in {history_s:.1f} s = {len(history) / history_s:,.0f}/s")
        br.stop(proc)
        br.log("worker down; publishing the day ...")
        br.produce(bootstrap, topic, day, signer, security)
        total = len(history) + len(day)

        br.log("worker up again: timing until its lag on the events topic is zero ...")
        t0 = time.perf_counter()
        proc, ready_s = br.start_worker(env, logf, port)
        try:
            deadline = t0 + CATCH_UP_TIMEOUT_S
            lag: int | None = None
            while True:
                lag = events_lag(port, topic)
                if lag == 0 and br.committed(bootstrap, group, topic, security) >= total:
                    break
                if proc.poll() is not None:
                    raise SystemExit(f"worker exited {proc.returncode}; see {logf}")
                if time.perf_counter() > deadline:
                    raise SystemExit(f"lag still {lag} after {CATCH_UP_TIMEOUT_S} s")
                time.sleep(0.5)
            drained_s = time.perf_counter() - t0
        finally:
            br.stop(proc)
        br.log(
            f"  ready in {ready_s:.1f} s; lag zero {drained_s:.1f} s after the restart: "
            f"{len(day):,} events = {len(day) / (drained_s - ready_s):,.0f} events/s once ready"
        )
        br.log(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    finally:
        br.stop_broker(kafka_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
