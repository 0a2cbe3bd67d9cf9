"""Open-dossier gauges across two workers, a rebalance and a restart (issue: metrics).

Each worker exports the numbers for the partitions it owns; the sum over workers
must equal the truth (a fold of the pure state machine over the same events)
while both run, after one stops (its partitions move), and after a restart
(rebuilt from state, not from zero).
"""

from __future__ import annotations

import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from events import TopicNames
from workflows.calendar import VN_TZ
from workflows.routing import apply
from workflows.state import DossierState

from support.context import engine_context
from support.dossiers import simulated
from support.harness import Worker, free_port, group_lag, manual_clock, wait_for, worker_env
from support.kafka_io import publish
from support.signing import SENDER

START = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)


def open_gauges(workers: list[Worker]) -> Counter[tuple[str, str]]:
    """sum over workers of dossierflow_open_dossiers, by (agency, status)."""
    total: Counter[tuple[str, str]] = Counter()
    for worker in workers:
        with urllib.request.urlopen(f"{worker.url}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        for line in text.splitlines():
            if not line.startswith("dossierflow_open_dossiers{"):
                continue
            labels, value = line.rsplit(" ", 1)
            fields = dict(
                part.split("=", 1) for part in labels[labels.index("{") + 1 : -1].split(",")
            )
            key = (fields["agency"].strip('"'), fields["status"].strip('"'))
            total[key] += int(float(value))
    return +total


def truth(states: dict[str, DossierState | None]) -> Counter[tuple[str, str]]:
    return Counter(
        (s.current_agency or "-", s.status.value)
        for s in states.values()
        if s is not None and not s.status.closed
    )


def test_gauges_sum_to_the_truth_across_workers_rebalance_and_restart(
    kafka_bootstrap: str, topic_prefix: str, consumer_group: str, tmp_path: Path
) -> None:
    ctx = engine_context()
    _, simulated_events = simulated(
        200, seed=11, id_prefix=f"{topic_prefix}G", start=START, spread=timedelta(days=4)
    )
    # Leave a third of the dossiers open: drop everything after their third event.
    seen: Counter[str] = Counter()
    events = []
    for event in simulated_events:
        seen[event.dossier_id] += 1
        if int(event.dossier_id[-5:]) % 3 or seen[event.dossier_id] <= 3:
            events.append(event)
    states: dict[str, DossierState | None] = {}
    for event in events:
        states[event.dossier_id] = apply(states.get(event.dossier_id), event, ctx, SENDER)[0]
    expected = truth(states)
    assert sum(expected.values()) > 40  # the test means something

    names = TopicNames.with_prefix(topic_prefix)

    def start(n: int) -> Worker:
        env = worker_env(
            kafka_bootstrap, topic_prefix, consumer_group, tmp_path / f"w{n}", free_port()
        )
        # The clock stays at the workload's start: the router and gauges alone are tested.
        env.update(
            **manual_clock(START),
            DOSSIERFLOW_WORKER_NAME=f"w{n}",
            BROKER_SESSION_TIMEOUT="10",
            BROKER_HEARTBEAT_INTERVAL="1",
        )
        return Worker(env=env, log_path=tmp_path / f"w{n}.log").start()

    first = start(1)
    second = start(2)
    workers = [first, second]
    try:
        publish(kafka_bootstrap, names.events, events)
        wait_for(
            lambda: group_lag(kafka_bootstrap, consumer_group, names.events) == 0,
            120,
            "every event consumed",
        )
        wait_for(lambda: open_gauges(workers) == expected, 30, "both workers' gauges sum up")
        # Both workers own something: the sum really is over two workers.
        assert all(open_gauges([w]) for w in workers)

        second.stop()  # its partitions move to the first worker
        wait_for(lambda: open_gauges([first]) == expected, 60, "the survivor's gauges")

        first.stop()
        restarted = start(3)
        workers = [restarted]
        wait_for(lambda: open_gauges([restarted]) == expected, 60, "gauges after a restart")
    finally:
        for worker in (first, second, *workers):
            worker.stop()
