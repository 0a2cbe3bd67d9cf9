#!/usr/bin/env python3
"""A/B in one process: a tick's work on burst dossiers, this tree's ``workflows.alerts``
against another version of that module (``--old``, e.g. from ``git archive a683c60``).

For a machine shared with other jobs, where two runs minutes apart see different loads:
both versions run here on the same states, interleaved, ``--reps`` times each; the
minimum is the figure (the least disturbed run). Per dossier of a burst, the tick's work
in ``workflows.alerts``: ``unstamped`` (the router's load), ``apply_tick``, and
``stamp_watch`` of the state it returns (the router's write). The rebuild is compared the
same way: this tree's ``Watcher.rebuild`` reading state headers, and decoding every state.

    git archive a683c60 workflows/alerts.py | tar -x -C /tmp/old
    .venv/bin/python scripts/bench_alerts_ab.py --old /tmp/old/workflows/alerts.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.runtime import watcher as watcher_module  # noqa: E402
from events.internal import DeadlineTick  # noqa: E402
from scripts import bench_alerts as bench  # noqa: E402
from workflows import alerts as new  # noqa: E402
from workflows.calendar import WorkingCalendar  # noqa: E402
from workflows.catalog import load_catalog  # noqa: E402
from workflows.routing import RoutingContext  # noqa: E402
from workflows.state import DossierState  # noqa: E402


def load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("alerts_old", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["alerts_old"] = module
    spec.loader.exec_module(module)
    return module


def tick_work(m: Any, raws: list[bytes], ctx: RoutingContext) -> tuple[float, int]:
    """CPU µs per dossier of the tick's work in ``m``, and the alerts raised."""
    cal, policy = ctx.calendar, m.AlertPolicy()
    key = m.watch_key(cal, policy)
    loaded = [DossierState.from_bytes(r) for r in raws]
    ticks = [DeadlineTick(dossier_id=s.dossier_id, detected_at=bench.BURST_AT) for s in loaded]
    raised = 0
    t0 = time.process_time()
    for state, tick in zip(loaded, ticks, strict=True):
        after, alerts = m.apply_tick(m.unstamped(state), tick, ctx.catalog, cal, policy)
        m.stamp_watch(after, cal, policy, key)
        raised += len(alerts)
    return (time.process_time() - t0) / len(raws) * 1e6, raised


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--old", required=True, help="another version of workflows/alerts.py")
    ap.add_argument("--dossiers", type=int, default=5000, help="all of them in the burst")
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    old = load(args.old)
    ctx = RoutingContext(load_catalog(), WorkingCalendar())
    table = bench.build(args.dossiers, ctx, 30, new.AlertPolicy(), args.dossiers)
    raws = list(table.values())
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    runs: dict[str, list[float]] = {"old": [], "new": [], "rebuild, header": [], "decode": []}
    raised = {}
    watcher = watcher_module.Watcher(ctx.calendar, new.AlertPolicy(), 4)
    read_header = getattr(watcher_module, "read_header")  # noqa: B009 - swapped below
    for _ in range(args.reps):
        for name, module in (("old", old), ("new", new)):
            us, raised[name] = tick_work(module, raws, ctx)
            runs[name].append(us)
        for name, reader in (("rebuild, header", read_header), ("decode", lambda raw: None)):
            setattr(watcher_module, "read_header", reader)  # noqa: B010
            t0 = time.process_time()
            watcher.rebuild(table, set(range(4)))
            runs[name].append((time.process_time() - t0) / len(raws) * 1e6)
        setattr(watcher_module, "read_header", read_header)  # noqa: B010
    assert raised["old"] == raised["new"], raised
    print(f"{args.dossiers} dossiers due at one instant, {raised['new']} alerts; {args.reps} runs")
    print("what | cpu us per dossier, min | median")
    for name, values in runs.items():
        label = {
            "old": "tick work, --old alerts.py",
            "new": "tick work, this tree",
            "rebuild, header": "rebuild, reading headers",
            "decode": "rebuild, decoding every state",
        }[name]
        values.sort()
        print(f"{label} | {values[0]:.1f} | {values[len(values) // 2]:.1f}")
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
