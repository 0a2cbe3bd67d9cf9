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
issue 19). ``--takeover`` also runs two workers and kills one: the time until the
survivor is ready and owns every partition, and until it caught up. Worker logs are kept
in a temporary folder, printed at the start.
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
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.runtime.kafka_admin import ensure_topics  # noqa: E402
from agents.settings import Settings  # noqa: E402
from scripts import bench_router as br  # noqa: E402


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
    #: None: the group had not committed every record after ``CATCH_UP_TIMEOUT_S``.
    caught_up_s: float | None
    #: Receipts published but not open in the worker's state (its open-dossiers gauge).
    missing: int


#: A restart that has not caught up on a backlog of a few hundred records by then is stuck.
CATCH_UP_TIMEOUT_S = 180


def seconds(value: float | None) -> str:
    return "stuck" if value is None else f"{value:.1f} s"


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
) -> bool:
    """Whether the group committed ``total`` records within ``CATCH_UP_TIMEOUT_S``."""
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while (done := br.committed(bootstrap, group, topic)) < total:
        if proc.poll() is not None:
            raise SystemExit(f"worker exited {proc.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            br.log(f"  STUCK: {done} of {total} records committed after {CATCH_UP_TIMEOUT_S} s")
            return False
        time.sleep(0.2)
    return True


def open_in_state(port: int) -> int:
    """The worker's own count of open dossiers (sum of ``dossierflow_open_dossiers``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("dossierflow_open_dossiers{")
        )
    )


def missing_receipts(port: int, published: int) -> int:
    """Receipts published but not open in the worker (every receipt opens a dossier)."""
    # The gauges move per batch: give the last one a moment.
    for _ in range(20):
        missing = published - open_in_state(port)
        if missing == 0:
            return 0
        time.sleep(0.25)
    br.log(f"  LOST: {missing} published receipts are not open in the worker's state")
    return missing


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
    records = br.make_events(n_open + backlog * len(plan), seed, open_only=True)
    br.log(f"[{store} {n_open:,} open] publishing {n_open:,} receipts ...")
    br.produce(bootstrap, topic, records[:n_open])
    published = n_open
    port = 18_000 + os.getpid() % 1000
    base_env = br.worker_env(bootstrap, prefix, port, work / f"data-{prefix}", store)
    log_path = work / f"{prefix}worker.log"
    first = plan[0]
    proc, startup = br.start_worker({**base_env, **first.env}, log_path, port, loglevel="info")
    br.log(f"  first start ready in {startup:.1f} s; routing the receipts ...")
    t0 = time.perf_counter()
    if not wait_caught_up(bootstrap, group, topic, published, proc, log_path):
        raise SystemExit(f"the first worker did not commit every receipt; see {log_path}")
    br.log(f"  {published:,} committed in {time.perf_counter() - t0:.1f} s")
    rows = []
    previous = first
    for membership in plan:
        kill9(proc)
        br.produce(bootstrap, topic, records[published : published + backlog])
        published += backlog
        t0 = time.perf_counter()
        proc, ready_s = br.start_worker(
            {**base_env, **membership.env}, log_path, port, loglevel="info"
        )
        caught_up = wait_caught_up(bootstrap, group, topic, published, proc, log_path)
        caught_up_s = time.perf_counter() - t0 if caught_up else None
        missing = missing_receipts(port, published)
        measured = previous == membership
        br.log(
            f"  kill -9, {backlog} new receipts, restart ({membership.label}"
            f"{'' if measured else '; after a worker with other settings: not measured'}): "
            f"ready {ready_s:.1f} s, caught up {seconds(caught_up_s)}, missing {missing}"
        )
        if measured:
            rows.append(
                Row(store, published - backlog, membership.label, ready_s, caught_up_s, missing)
            )
        previous = membership
    proc.terminate()
    proc.wait(60)
    return rows


def owns_all_partitions(port: int, topic: str, partitions: int) -> bool:
    """The worker is ready and its lag gauge lists every partition of ``topic``."""
    if not br.ready(port):
        return False
    owned = br.lag_samples(port, topic, timeout=2)
    return owned is not None and len(owned) == partitions


def run_takeover(
    bootstrap: str, store: str, n_open: int, backlog: int, work: Path, seed: int
) -> Row:
    """Two workers; kill -9 one; time until the survivor owns everything and caught up."""
    prefix = f"bench-takeover-{int(time.time())}-"
    settings = Settings(broker=bootstrap, topic_prefix=prefix, partitions=4)
    ensure_topics(settings)
    topic, group = settings.topics.events, f"{prefix}router"
    records = br.make_events(n_open + backlog, seed, open_only=True)
    br.log(f"[{store} {n_open:,} open, takeover] publishing {n_open:,} receipts ...")
    br.produce(bootstrap, topic, records[:n_open])
    log_path = work / f"{prefix}workers.log"
    port = 18_000 + os.getpid() % 1000
    procs = []
    for n in (0, 1):
        env = br.worker_env(bootstrap, prefix, port + n, work / f"data-{prefix}{n}", store)
        env.update(DYNAMIC.env)
        procs.append(br.start_worker(env, log_path, port + n, loglevel="info")[0])
    if not wait_caught_up(bootstrap, group, topic, n_open, procs[1], log_path):
        raise SystemExit(f"the workers did not commit every receipt; see {log_path}")
    # Both must own partitions, or the kill below would take nothing away.
    deadline = time.monotonic() + 60
    while owns_all_partitions(port + 1, topic, settings.partitions):
        if time.monotonic() > deadline:
            raise SystemExit(f"the second worker kept every partition; see {log_path}")
        time.sleep(0.5)
    br.log(f"  {n_open:,} committed by two workers; kill -9 one, {backlog} new receipts ...")
    t0 = time.perf_counter()
    kill9(procs[0])
    br.produce(bootstrap, topic, records[n_open:])
    while not owns_all_partitions(port + 1, topic, settings.partitions):
        time.sleep(0.1)
    ready_s = time.perf_counter() - t0
    caught_up = wait_caught_up(bootstrap, group, topic, n_open + backlog, procs[1], log_path)
    caught_up_s = time.perf_counter() - t0 if caught_up else None
    missing = missing_receipts(port + 1, n_open + backlog)
    br.log(
        f"  survivor owns every partition {ready_s:.1f} s after the kill, "
        f"caught up {seconds(caught_up_s)}, missing {missing}"
    )
    procs[1].terminate()
    procs[1].wait(60)
    return Row(
        store,
        n_open,
        "takeover by the other worker (dynamic, session 10 s)",
        ready_s,
        caught_up_s,
        missing,
    )


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
    ap.add_argument(
        "--takeover", action="store_true", help="also two workers, one killed: the survivor's"
    )
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    bootstrap = args.broker or Settings().broker
    work = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    memberships = ([FAUST_DEFAULT] if args.baseline else []) + [DYNAMIC, STATIC]
    br.log(f"machine: {platform.node()} {os.cpu_count()} cores, python {platform.python_version()}")
    br.log(f"broker {bootstrap}; worker logs in {work}")
    rows: list[Row] = []
    for n_open in args.open:
        for store in args.stores:
            rows += run_store(bootstrap, store, n_open, memberships, args.backlog, work, args.seed)
            if args.takeover:
                rows.append(run_takeover(bootstrap, store, n_open, args.backlog, work, args.seed))
    br.log("")
    br.log("restart after kill -9: times from the restarted process's start; for a takeover, from")
    br.log("the kill to the survivor ready and owning every partition (its lag gauge lists them)")
    br.log("| store | open dossiers | membership | s to ready | s to caught up | missing |")
    br.log("|---|---:|---|---:|---:|---:|")
    for r in rows:
        br.log(
            f"| `{r.store}` | {r.open_dossiers:,} | {r.membership} "
            f"| {r.ready_s:.1f} | {seconds(r.caught_up_s).removesuffix(' s')} | {r.missing} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
