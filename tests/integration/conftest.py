"""Fixtures for tests that need a real Kafka broker.

One broker serves the whole session. It is the broker named by ``DOSSIERFLOW_BROKER`` or
``KAFKA_BOOTSTRAP`` when either is set (CI, a developer's own broker); otherwise the session
starts its own through ``scripts/kafka-local`` on free ports with a data dir under pytest's
tmp folder, so it never clashes with a broker a developer already runs, and stops it at the
end. Tests isolate themselves by name: a fresh topic prefix and consumer group each.

Every test collected under this folder is marked ``integration``
(``pytest -m "not integration"`` skips them).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from agents.runtime.kafka_admin import ensure_topics
from agents.settings import Settings
from events import TopicNames

from support import security
from support.fleet import Fleet
from support.harness import KAFKA_LOCAL, StartWorker, Worker, free_ports, start_worker
from support.security import login

HERE = Path(__file__).resolve().parent

# The start includes a one-time Maven resolve on a cold cache (~10-20 s here) and the
# script's own readiness timeout (90 s); this only guards against a hung script.
START_TIMEOUT_S = 300
STOP_TIMEOUT_S = 60


@dataclass(frozen=True)
class KafkaBroker:
    """The session's broker; ``data_dir`` is set only when this session started it."""

    bootstrap: str
    data_dir: Path | None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # pytest hands every collected item to every conftest's hook: mark only ours.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def _kafka_local(*args: str | Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/kafka-local`` with ``args``; a non-zero exit is the caller's to judge."""
    return subprocess.run(
        [str(KAFKA_LOCAL), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _start_broker(base: Path) -> tuple[str, Path]:
    failures = []
    # The ports are probed free, then handed to a JVM seconds later: retry if one was taken.
    for attempt in range(3):
        port, controller_port = free_ports(2)
        data_dir = base / f"attempt-{attempt}"
        started = _kafka_local(
            "start",
            "--port", str(port),
            "--controller-port", str(controller_port),
            "--data-dir", data_dir,
            timeout=START_TIMEOUT_S,
        )  # fmt: skip
        if started.returncode == 0:
            return started.stdout.strip().splitlines()[-1], data_dir
        failures.append(started.stderr)
        if "already in use" not in started.stderr:
            break
    pytest.fail(
        "scripts/kafka-local could not start a broker for the integration tests "
        "(set DOSSIERFLOW_BROKER=host:port to use a running one):\n" + "\n".join(failures),
        pytrace=False,
    )


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    external = os.environ.get("DOSSIERFLOW_BROKER") or os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        # an external broker: secured when its clients file is given, else PLAINTEXT
        given = os.environ.get("DOSSIERFLOW_KAFKA_CREDENTIALS")
        security.configure(Path(given) if given else None)
        yield KafkaBroker(bootstrap=external, data_dir=None)
        return
    bootstrap, data_dir = _start_broker(tmp_path_factory.mktemp("kafka-local"))
    # secured like production: every client of the session logs in (support/security.py)
    security.configure(data_dir / "security" / "clients.json")
    try:
        yield KafkaBroker(bootstrap=bootstrap, data_dir=data_dir)
    finally:
        # The script stops the broker by the pid in its data dir (TERM, then KILL).
        stopped = _kafka_local("stop", "--data-dir", data_dir, timeout=STOP_TIMEOUT_S)
        if stopped.returncode != 0:
            raise RuntimeError(f"scripts/kafka-local stop failed: {stopped.stderr}")


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """``host:port`` of the session's broker."""
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def kafka_local_data_dir(kafka_broker: KafkaBroker) -> Path | None:
    """Data dir of the broker this session started; ``None`` for an external broker."""
    return kafka_broker.data_dir


@pytest.fixture
def unique_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def topic_prefix(unique_id: str) -> str:
    """A prefix no other test uses, e.g. ``t-1a2b3c4d-``; put it in front of every topic."""
    return f"t-{unique_id}-"


@pytest.fixture
def consumer_group(unique_id: str) -> str:
    """A consumer group id no other test uses; shares its id with ``topic_prefix``."""
    return f"g-{unique_id}"


def create_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = 4,
    *,
    replication_factor: int = 1,
    timeout_ms: int = 30_000,
) -> list[str]:
    """Create ``names`` and return once every partition has a leader.

    Topics are created explicitly (not auto-created) so that the partition count a test
    relies on is the one it asked for.
    """
    from kafka import KafkaAdminClient

    topics = list(names)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="dossierflow-tests", **login())
    try:
        admin.create_topics(
            {
                name: {"num_partitions": partitions, "replication_factor": replication_factor}
                for name in topics
            },
            timeout_ms=timeout_ms,
        )
        admin.wait_for_topics(topics, timeout_ms=timeout_ms)
    finally:
        admin.close()
    return topics


@pytest.fixture(name="create_topics")
def create_topics_fixture() -> Callable[..., list[str]]:
    """``create_topics(bootstrap, names, partitions=4)`` for tests (conftest is no module)."""
    return create_topics


@pytest.fixture
def topics(kafka_bootstrap: str, topic_prefix: str, consumer_group: str) -> TopicNames:
    """The test's topics, created with the roles' ACLs on them, before anything is produced
    (``ensure_topics`` sets the events topic's LogAppendTime)."""
    security.grant(kafka_bootstrap, topic_prefix, consumer_group)
    ensure_topics(
        Settings(broker=kafka_bootstrap, topic_prefix=topic_prefix, app_id=consumer_group)
    )
    return TopicNames.with_prefix(topic_prefix)


@pytest.fixture(name="start_worker")
def start_worker_fixture(
    kafka_bootstrap: str, topic_prefix: str, consumer_group: str, tmp_path: Path
) -> StartWorker:
    """``start_worker(clock_at=..., log=..., DOSSIERFLOW_X="...")``: a ready worker in the
    test's topics, group and tmp_path (support/harness.py ``start_worker``)."""

    def start(*, clock_at: datetime | None = None, log: str = "worker.log", **extra: str) -> Worker:
        return start_worker(
            kafka_bootstrap,
            topic_prefix,
            consumer_group,
            tmp_path,
            clock_at=clock_at,
            log=log,
            **extra,
        )

    return start


@pytest.fixture(scope="module")
def module_fleet(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Workers one module's tests share, in topics and a group of their own (the per-test
    ``topic_prefix`` is too short-lived); all stopped (by pid) when the module ends."""
    unique = uuid.uuid4().hex[:8]
    fleet = Fleet(kafka_bootstrap, f"t-{unique}-", f"g-{unique}", tmp_path_factory.mktemp("fleet"))
    try:
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture
def fleet(
    kafka_bootstrap: str, topic_prefix: str, consumer_group: str, tmp_path: Path
) -> Iterator[Fleet]:
    """The test's own workers (``fleet.worker(...)``), in its topics and group; all stopped
    (by pid) when the test ends."""
    fleet = Fleet(kafka_bootstrap, topic_prefix, consumer_group, tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop_all()
