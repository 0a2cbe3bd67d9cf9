"""dossierflow_consumer_lag on a real broker: > 0 for a backlog, 0 once it is processed."""

from __future__ import annotations

import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from events import TopicNames
from workflows.calendar import VN_TZ

from support.dossiers import simulated
from support.harness import Worker, free_port, group_lag, manual_clock, wait_for, worker_env
from support.kafka_io import publish

START = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)
LAG = "dossierflow_consumer_lag{"


def lags(worker: Worker) -> dict[tuple[str, str], float]:
    """(topic, partition) -> lag, as the worker's /metrics shows it."""
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith(LAG):
            labels, value = line.rsplit(" ", 1)
            fields = dict(part.split("=", 1) for part in labels[len(LAG) : -1].split(",") if part)
            found[(fields["topic"].strip('"'), fields["partition"].strip('"'))] = float(value)
    return found


def test_the_lag_shows_a_backlog_and_falls_to_zero_after_catch_up(
    kafka_bootstrap: str, topic_prefix: str, consumer_group: str, tmp_path: Path
) -> None:
    names = TopicNames.with_prefix(topic_prefix)
    _, events = simulated(
        600, seed=5, id_prefix=f"{topic_prefix}L", start=START, spread=timedelta(days=3)
    )
    assert len(events) > 2000  # enough that routing them takes a few commit intervals
    env = worker_env(kafka_bootstrap, topic_prefix, consumer_group, tmp_path / "w", free_port())
    # The clock stays at the workload's start: no deadline ticks join the backlog.
    env.update(manual_clock(START))
    worker = Worker(env=env, log_path=tmp_path / "worker.log").start()
    try:
        # Idle: every partition the worker consumes is there, at lag 0.
        wait_for(lambda: len(lags(worker)) == 12, 30, "a lag series per owned partition")
        assert {topic for topic, _ in lags(worker)} == {names.events, names.ticks, names.alerts}
        assert set(lags(worker).values()) == {0.0}

        publish(kafka_bootstrap, names.events, events)
        peak = 0.0
        deadline = time.monotonic() + 30
        while peak == 0 and time.monotonic() < deadline:
            peak = sum(v for (t, _), v in lags(worker).items() if t == names.events)
            time.sleep(0.1)
        # The backlog is seen (the worker commits every 2.8 s: it cannot be 0 at once).
        assert 0 < peak <= len(events)

        wait_for(
            lambda: group_lag(kafka_bootstrap, consumer_group, names.events) == 0,
            180,
            "every event committed",
            alive=worker.proc,
        )
        # Caught up: the gauge agrees with the group's committed offsets.
        wait_for(
            lambda: sum(v for (t, _), v in lags(worker).items() if t == names.events) == 0,
            15,
            "the lag gauge back at 0",
        )
    finally:
        worker.stop()
