"""The persistent table store (faust's RocksDB driver via rocksdict) on real Kafka.

Regression: faust's RocksDB store reads only the DB of the "current event"'s
partition when one is set; the router reads a whole batch of keys, so a stale
current event made it miss open dossiers and park their events for good. Every
final state must equal the pure fold of the events, before and after a restart.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from agents.tools.publisher import Publisher
from events import TopicNames
from workflows.calendar import VN_TZ
from workflows.routing import apply
from workflows.state import DossierState

from support.context import engine_context
from support.dossiers import simulated
from support.harness import (
    StartWorker,
    Worker,
    group_lag,
    wait_for,
)
from support.security import login
from support.signing import SENDER, signer

START = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)


def test_rocksdb_store_keeps_every_dossier_right_across_a_restart(
    kafka_bootstrap: str,
    topic_prefix: str,
    consumer_group: str,
    tmp_path: Path,
    start_worker: StartWorker,
) -> None:
    ctx = engine_context()
    _, events = simulated(
        160, seed=5, id_prefix=f"{topic_prefix}R", start=START, spread=timedelta(days=3)
    )
    expected: dict[str, DossierState | None] = {}
    for event in events:
        expected[event.dossier_id] = apply(expected.get(event.dossier_id), event, ctx, SENDER)[0]

    names = TopicNames.with_prefix(topic_prefix)
    # The clock stays at the workload's start: no deadline ticks, the router alone is tested.
    worker = start_worker(clock_at=START, DOSSIERFLOW_STORE="rocksdb://")
    env = worker.env
    try:
        # In waves, in time order: each wave's first batch reads dossiers that earlier
        # batches wrote, on every partition (where the stale-partition read went wrong).
        waves = 4
        size = -(-len(events) // waves)
        with Publisher(
            [kafka_bootstrap], names.events, signer=signer(), **login("publisher")
        ) as publisher:
            for wave in range(waves):
                for event in events[wave * size : (wave + 1) * size]:
                    publisher.publish(event)
                publisher.flush()
                wait_for(
                    lambda: group_lag(kafka_bootstrap, consumer_group, names.events) == 0,
                    120,
                    f"wave {wave + 1} consumed",
                    alive=worker.proc,
                )

        def statuses() -> dict[str, str | None]:
            out = {}
            for dossier_id in expected:
                code, body = worker.get(f"/dossiers/{dossier_id}")
                out[dossier_id] = body.get("status") if code == 200 else None
            return out

        want = {d: s.status.value if s else None for d, s in expected.items()}
        assert statuses() == want
        worker.stop()
        assert "Crashed reason=" not in worker.log()

        worker = Worker(env=env, log_path=tmp_path / "worker-2.log").start()
        assert statuses() == want
    finally:
        worker.stop()
