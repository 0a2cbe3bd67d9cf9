"""The workers one test starts, driven and read over their HTTP views."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from events import TopicNames

from support import security
from support.fold import event_driven
from support.harness import Worker, free_port, wait_for, worker_env
from support.kafka_io import WAIT_S

#: Waits that include a rebalance after a member vanished (session timeout below + recovery).
TAKEOVER_S = 120.0
#: faust reads these from the environment. A SIGKILLed or crashed member keeps its partitions
#: until its session times out (faust's default is 60 s); 10 s keeps the tests short and is
#: still far above the 1 s heartbeat on a loaded 2-core machine.
FAST_FAILOVER = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
STORE_URLS = ("memory://", "rocksdb://")


def stores(in_ci: str) -> pytest.MarkDecorator:
    """Parametrize a test over both table stores; CI (`make test`) runs it on ``in_ci``.

    The other store's run is marked ``every_store``: `make faults` runs the whole matrix.
    It keeps CI near its time budget where a fault is not about the store (a frozen worker,
    a poison record); the kill -9 tests run on both stores in CI.
    """
    assert in_ci in STORE_URLS, in_ci
    return pytest.mark.parametrize(
        "store",
        [
            url if url == in_ci else pytest.param(url, marks=pytest.mark.every_store)
            for url in STORE_URLS
        ],
    )


class Fleet:
    """The workers one test started; all stopped (by pid) when the test ends."""

    def __init__(self, bootstrap: str, prefix: str, group: str, base: Path) -> None:
        self.bootstrap, self.prefix, self.group, self.base = bootstrap, prefix, group, base
        self.names = TopicNames.with_prefix(prefix)
        self.started: list[Worker] = []

    def worker(
        self, name: str, *, data: str | None = None, argv: Sequence[str] | None = None, **env: str
    ) -> Worker:
        """A worker (not started yet) in the test's group; ``data`` names a shared data dir."""
        environment = worker_env(
            self.bootstrap, self.prefix, self.group, self.base / (data or name), free_port()
        )
        environment.update(FAST_FAILOVER, **env)
        worker = Worker(env=environment, log_path=self.base / f"{name}.log")
        if argv is not None:
            worker.argv = list(argv)
        self.started.append(worker)
        return worker

    def provision(self) -> None:
        """The roles' ACLs and the engine's topics, before anything is published: on the
        secured broker a publisher may not create a topic (the worker would, at its start)."""
        from agents.runtime.kafka_admin import ensure_topics
        from agents.settings import Settings

        security.grant(self.bootstrap, self.prefix, self.group)
        ensure_topics(Settings(broker=self.bootstrap, topic_prefix=self.prefix, app_id=self.group))

    def start(self, *workers: Worker) -> None:
        """Start ``workers`` side by side and wait until each one is ready."""
        with ThreadPoolExecutor(len(workers)) as pool:
            for future in [pool.submit(w.start) for w in workers]:
                future.result()

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()

    def logs(self) -> str:
        """The last lines of every worker's log, for a failure message."""
        return "\n".join(f"--- {w.log_path.name}\n{w.log()[-4000:]}" for w in self.started)

    def assert_no_agent_crash(self) -> None:
        """faust restarts a crashed agent and acks the batch it was on: that loses events."""
        crashes = [
            f"{w.log_path.name}: {line}"
            for w in self.started
            for line in w.log().splitlines()
            if "Crashed reason=" in line
        ]
        assert not crashes, "\n".join(crashes)


def status(worker: Worker, dossier_id: str) -> dict[str, Any] | None:
    """``GET /dossiers/{id}`` without the clock-driven fields; None unless 200."""
    code, body = worker.get(f"/dossiers/{dossier_id}")
    return event_driven(body) if code == 200 else None


def wait_status(
    worker: Worker, dossier_id: str, predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def check() -> bool:
        seen["body"] = status(worker, dossier_id)
        return seen["body"] is not None and predicate(seen["body"])

    try:
        wait_for(check, WAIT_S, f"the status of {dossier_id}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {seen.get('body')}") from None
    body: dict[str, Any] = seen["body"]
    return body


def ownership(worker: Worker, changelog: str) -> dict[str, list[int]] | None:
    """Which worker (URL) holds which partitions of ``changelog``, as ``worker`` sees it
    (``/routes``, admin only: faust's ``/router/`` is off)."""
    code, body = worker.get("/routes")
    if code != 200 or not isinstance(body, dict):
        return None
    return {url: sorted(tables.get(changelog, [])) for url, tables in body.items()}


def wait_split(one: Worker, two: Worker, changelog: str) -> dict[str, list[int]] | None:
    """Until both workers are ready, agree on who holds what of ``changelog``, and each holds
    some of it; then the split as ``one`` sees it."""

    def split() -> bool:
        views = [ownership(w, changelog) for w in (one, two)]
        return (
            all(w.health() for w in (one, two))
            and views[0] == views[1]
            and views[0] is not None
            and set(views[0]) == {one.url, two.url}
            and all(views[0].values())
        )

    wait_for(split, TAKEOVER_S, "both workers ready with the partitions split between them")
    return ownership(one, changelog)


def post_clock(worker: Worker, body: dict[str, object]) -> dict[str, object]:
    """``POST /clock`` with ``body`` (e.g. ``{"to": instant}``) as the suite's admin; the
    worker's answer."""
    reply = worker.call("/clock", method="POST", body=body)
    assert reply.status == 200, f"POST /clock: {reply.status} {reply.raw[:300]!r}"
    result: dict[str, object] = reply.body
    return result
