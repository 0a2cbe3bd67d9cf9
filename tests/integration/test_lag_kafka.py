"""dossierflow_consumer_lag on a real broker: > 0 for a backlog, 0 once it is processed,
and again for the backlog a stopped worker finds when it comes back, on the same series."""

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


def lag_series(worker: Worker) -> dict[tuple[str, str, str], float]:
    """(worker label, topic, partition) -> lag, as the worker's /metrics shows it."""
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith(LAG):
            labels, value = line.rsplit(" ", 1)
            fields = dict(part.split("=", 1) for part in labels[len(LAG) : -1].split(",") if part)
            key = tuple(fields[name].strip('"') for name in ("worker", "topic", "partition"))
            found[key] = float(value)
    return found


def lags(worker: Worker) -> dict[tuple[str, str], float]:
    """(topic, partition) -> lag."""
    return {(topic, part): v for (_, topic, part), v in lag_series(worker).items()}


def events_lag(worker: Worker, topic: str) -> float:
    return sum(v for (t, _), v in lags(worker).items() if t == topic)


def peak_lag(worker: Worker, topic: str) -> float:
    """The first non-zero lag of ``topic`` seen within 30 s (0: none)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seen = events_lag(worker, topic)
        if seen:
            return seen
        time.sleep(0.1)
    return 0.0


def caught_up(worker: Worker, bootstrap: str, group: str, topic: str) -> None:
    wait_for(
        lambda: group_lag(bootstrap, group, topic) == 0,
        180,
        "every event committed",
        alive=worker.proc,
    )
    # The gauge agrees with the group's committed offsets.
    wait_for(lambda: events_lag(worker, topic) == 0, 15, "the lag gauge back at 0")


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
        # The backlog is seen (the worker commits every 2.8 s: it cannot be 0 at once).
        assert 0 < peak_lag(worker, names.events) <= len(events)
        caught_up(worker, kafka_bootstrap, consumer_group, names.events)
        label = {name for name, _, _ in lag_series(worker)}
        assert len(label) == 1

        # Stopped, the worker leaves a backlog behind; back, it shows it on the same series
        # (its label is its slot, not its pid), then works it off.
        worker.stop()
        _, later = simulated(
            300, seed=6, id_prefix=f"{topic_prefix}M", start=START, spread=timedelta(days=3)
        )
        publish(kafka_bootstrap, names.events, later)
        assert group_lag(kafka_bootstrap, consumer_group, names.events) == len(later)
        worker.start()
        assert 0 < peak_lag(worker, names.events) <= len(later)
        assert {name for name, _, _ in lag_series(worker)} == label
        caught_up(worker, kafka_bootstrap, consumer_group, names.events)
    finally:
        worker.stop()
    # `dossierflow worker` said where it listens once per start, when it was ready.
    said = [
        line
        for line in (tmp_path / "worker.log").read_text(encoding="utf-8").splitlines()
        if line.startswith("listening on ")
    ]
    assert said == [f"listening on http://127.0.0.1:{worker.port}"] * 2
