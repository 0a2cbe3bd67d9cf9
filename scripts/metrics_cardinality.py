#!/usr/bin/env python3
"""How many Prometheus series one worker exports, for a catalog and a workload.

Runs the production router core (dict tables instead of Kafka), the production
metric recording (`agents.runtime.telemetry.record_batch`, `OpenGauges`) and the alert ticks,
then counts the series in the registry. Budget (docs/metrics.md): <= 5,000 for a
catalog of 2,000 procedures and 300 agencies.

    .venv/bin/python scripts/catalog_from_national.py /tmp/national
    .venv/bin/python scripts/metrics_cardinality.py --catalog /tmp/national --dossiers 20000
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prometheus_client import CollectorRegistry  # noqa: E402

from agents.runtime.router import RouterCore, Tables  # noqa: E402
from agents.runtime.telemetry import OpenGauges, record_batch  # noqa: E402
from agents.runtime.watcher import Watcher  # noqa: E402
from monitoring.metrics import create_metrics  # noqa: E402
from scripts.bench_replay import due_ticks, topic_records  # noqa: E402
from workflows.alerts import AlertPolicy  # noqa: E402
from workflows.calendar import VN_TZ, WorkingCalendar  # noqa: E402
from workflows.catalog import load_catalog  # noqa: E402
from workflows.routing import RoutingContext  # noqa: E402
from workflows.simulation import interleave, simulate  # noqa: E402

PARTITIONS = 4


def series_by_metric(registry: CollectorRegistry) -> Counter[str]:
    counts: Counter[str] = Counter()
    for family in registry.collect():
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                counts[family.name] += 1
    return counts


def run(catalog_path: Path | None, dossiers: int, seed: int, workers: int) -> Counter[str]:
    ctx = RoutingContext(load_catalog(catalog_path), WorkingCalendar())
    registry = CollectorRegistry()
    metrics = create_metrics(registry)
    policy = AlertPolicy()
    # after every version's effective date (the national extract is in force from 2026-07)
    start = datetime(2026, 9, 1, 8, tzinfo=VN_TZ)
    events = interleave(
        simulate(ctx.catalog, ctx.calendar, start, dossiers, seed=seed, spread=timedelta(days=30))
    )
    tables = Tables({}, {}, {})
    core = RouterCore(ctx, tables, ticks_topic="ticks", alerts=policy)
    # Several workers export the gauges with their own worker label: partitions split.
    gauges = [OpenGauges(metrics, f"worker-{w}") for w in range(workers)]
    watcher = Watcher(ctx.calendar, policy, PARTITIONS)
    records = topic_records(events, PARTITIONS)
    if not records:
        raise SystemExit("the simulation produced no events: is the catalog in force?")
    clock = start
    for i in range(0, len(records), 1000):
        batch = records[i : i + 1000]
        clock = max(clock, max(events[j].occurred_at for j in range(i, i + len(batch))))
        batch += due_ticks(watcher, clock)
        result = core.run_batch(batch, clock)
        tables.apply(result.writes)
        for key, partition in result.touched.items():
            after = result.states.get(key)
            watcher.reschedule(key, partition, after)
            gauges[partition % workers].move(partition, result.before.get(key), after)
        record_batch(metrics, result, batch, "ticks")
    for g in gauges:
        g.export()
    return series_by_metric(registry)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--catalog", type=Path, help="catalog folder (default: the sample)")
    ap.add_argument("--dossiers", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    counts = run(args.catalog, args.dossiers, args.seed, args.workers)
    for name, n in counts.most_common():
        print(f"{n:6,}  {name}")
    print(
        f"{sum(counts.values()):6,}  total series ({args.workers} workers' gauges, one "
        f"registry; catalog {args.catalog or 'sample'}, {args.dossiers:,} dossiers)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
