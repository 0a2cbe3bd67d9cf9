#!/usr/bin/env python3
"""Recovery after kill -9: how long a restarted worker takes to be ready and to catch up.

For each store and each number of open dossiers: publish that many receipts, run one
worker until it has committed them all, then cycle: kill -9 the worker, publish a small
backlog of new receipts while it is down, restart it at once (what a supervisor does)
and time ``/health`` ready and the group's committed offset reaching the topic's end.

    .venv/bin/python scripts/bench_recovery.py --open 300 100000 --stores memory:// rocksdb://

A restart is measured only after a worker with the same membership settings was killed:
how long the broker waits depends on the dead member's session (dynamic membership) or
instance id (static). ``--baseline`` also measures faust's default 60 s session (before
issue 19). Worker logs are kept in a temporary folder, printed at the start.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.kafka_admin import ensure_topics  # noqa: E402
from agents.settings import Settings  # noqa: E402
from scripts.bench_router import (  # noqa: E402
    committed,
    log,
    make_events,
    produce,
    start_worker,
    worker_env,
)


@dataclass(frozen=True)
class Membership:
    """Group membership settings of one restart (and of the worker killed before it)."""

    label: str
    env: dict[str, str]


DYNAMIC = Membership("dynamic, session 10 s", {})
STATIC = Membership("static, session 10 s", {"DOSSIERFLOW_INSTANCE_ID": "bench-worker-1"})
FAUST_DEFAULT = Membership(
    "dynamic, session 60 s (faust default)",
    {"DOSSIERFLOW_SESSION_TIMEOUT_SECONDS": "60", "DOSSIERFLOW_HEARTBEAT_INTERVAL_SECONDS": "3"},
)


@dataclass(frozen=True)
class Row:
    store: str
    open_dossiers: int
    membership: str
    ready_s: float
    caught_up_s: float


def kill9(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def wait_caught_up(
    bootstrap: str,
    group: str,
    topic: str,
    total: int,
    proc: subprocess.Popen[bytes],
    log_path: Path,
) -> None:
    while committed(bootstrap, group, topic) < total:
        if proc.poll() is not None:
            raise SystemExit(f"worker exited {proc.returncode}; see {log_path}")
        time.sleep(0.2)


def run_store(
    bootstrap: str,
    store: str,
    n_open: int,
    memberships: list[Membership],
    backlog: int,
    work: Path,
    seed: int,
) -> list[Row]:
    prefix = f"bench-recovery-{int(time.time())}-"
    settings = Settings(broker=bootstrap, topic_prefix=prefix, partitions=4)
    ensure_topics(settings)
    topic, group = settings.topics.events, f"{prefix}router"
    # Each membership is restarted twice: the first restart follows a worker killed with
    # the previous settings (not measured), the second one a worker killed with its own.
    plan = [m for m in memberships for _ in range(2)]
    records = make_events(n_open + backlog * len(plan), seed, open_only=True)
    log(f"[{store} {n_open:,} open] publishing {n_open:,} receipts ...")
    produce(bootstrap, topic, records[:n_open])
    published = n_open
    port = 18_000 + os.getpid() % 1000
    base_env = worker_env(bootstrap, prefix, port, work / f"data-{prefix}", store)
    log_path = work / f"{prefix}worker.log"
    first = plan[0]
    proc, startup = start_worker({**base_env, **first.env}, log_path, port, loglevel="info")
    log(f"  first start ready in {startup:.1f} s; routing the receipts ...")
    t0 = time.perf_counter()
    wait_caught_up(bootstrap, group, topic, published, proc, log_path)
    log(f"  {published:,} committed in {time.perf_counter() - t0:.1f} s")
    rows = []
    previous = first
    for membership in plan:
        kill9(proc)
        produce(bootstrap, topic, records[published : published + backlog])
        published += backlog
        t0 = time.perf_counter()
        proc, ready_s = start_worker(
            {**base_env, **membership.env}, log_path, port, loglevel="info"
        )
        wait_caught_up(bootstrap, group, topic, published, proc, log_path)
        caught_up_s = time.perf_counter() - t0
        measured = previous == membership
        log(
            f"  kill -9, {backlog} new receipts, restart ({membership.label}"
            f"{'' if measured else '; after a worker with other settings: not measured'}): "
            f"ready {ready_s:.1f} s, caught up {caught_up_s:.1f} s"
        )
        if measured:
            rows.append(Row(store, published - backlog, membership.label, ready_s, caught_up_s))
        previous = membership
    proc.terminate()
    proc.wait(60)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--broker", default=None, help="default: DOSSIERFLOW_BROKER / settings")
    ap.add_argument("--open", type=int, nargs="+", default=[300], help="open dossiers")
    ap.add_argument(
        "--stores",
        nargs="+",
        default=["memory://", "rocksdb://"],
        choices=["memory://", "rocksdb://"],
    )
    ap.add_argument("--backlog", type=int, default=200, help="receipts published while down")
    ap.add_argument("--baseline", action="store_true", help="also faust's default 60 s session")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    bootstrap = args.broker or Settings().broker
    work = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    memberships = ([FAUST_DEFAULT] if args.baseline else []) + [DYNAMIC, STATIC]
    log(f"machine: {platform.node()} {os.cpu_count()} cores, python {platform.python_version()}")
    log(f"broker {bootstrap}; worker logs in {work}")
    rows: list[Row] = []
    for n_open in args.open:
        for store in args.stores:
            rows += run_store(bootstrap, store, n_open, memberships, args.backlog, work, args.seed)
    log("")
    log("restart after kill -9 (times from the restarted process's start)")
    log("| store | open dossiers | membership | s to ready | s to caught up |")
    log("|---|---:|---|---:|---:|")
    for r in rows:
        log(
            f"| `{r.store}` | {r.open_dossiers:,} | {r.membership} "
            f"| {r.ready_s:.1f} | {r.caught_up_s:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
