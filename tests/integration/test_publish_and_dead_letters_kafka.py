"""Publishing and dead-lettering on a real broker: publish, route, dead-letter, carry on.

Agencies publish through ``dossierflow publish`` (file and stdin) and through
``Publisher``; a real ``dossierflow worker`` routes what arrives and dead-letters every
record it cannot or will not apply, with the source coordinates and the original bytes;
a worker whose own code fails on one dossier dead-letters that event and keeps going.

Two worker processes serve the module: the plain CLI worker, shared by the routing tests,
and the fault worker for its one test. Each has its own topic prefix, consumer group,
data dir and port; the tests sharing a worker use dossier ids no other test uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from agents.runtime.kafka_admin import changelog_topics
from agents.settings import Settings
from agents.tools.publisher import Publisher
from events import MAX_EVENT_BYTES, DeadLetter, ReasonKind, TopicNames, decode, parse_event

from support import security
from support.cli import cli_env, run_cli
from support.harness import (
    Worker,
    committed_total,
    free_port,
    read_topic,
    wait_for,
    worker_env,
)
from support.kafka_io import Sent, produce
from support.security import login
from support.signing import publisher_env, signer

HERE = Path(__file__).resolve().parent
PARTITIONS = 4  # Settings.partitions: what the worker's ensure_topics creates
#: How long to keep reading after the expected records, to catch ones that should not be there.
QUIET_S = 1.0
#: Worker-side waits (a batch, a commit interval of 2.8 s, a rebalance) stay well inside this.
WAIT_S = 30.0

ICT = timezone(timedelta(hours=7))
MONDAY_0900 = datetime(2026, 3, 2, 9, 0, tzinfo=ICT)  # an ordinary working Monday
CONSTRUCTION = "1.013225"  # receive -> review -(ok)-> appraisal / -(needs_inspection)-> site_visit
DESK = "CAMDUONG.TTPVHCC"  # the ward's one-stop desk: the receive step
WARD = "CAMDUONG"  # the ward People's Committee: review, site visit, appraisal

INVALID_ENCODING, INVALID_JSON = ReasonKind.INVALID_ENCODING, ReasonKind.INVALID_JSON
UNKNOWN_TYPE, SCHEMA_ERROR = ReasonKind.UNKNOWN_TYPE, ReasonKind.SCHEMA_ERROR
UNSUPPORTED_VERSION, TOO_LARGE = ReasonKind.UNSUPPORTED_VERSION, ReasonKind.TOO_LARGE


# --- events ------------------------------------------------------------------------------


def event(kind: str, dossier: str, minute: int, agency: str, **fields: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "dossier_id": dossier,
        "occurred_at": (MONDAY_0900 + timedelta(minutes=minute)).isoformat(),
        "agency": agency,
        **fields,
    }


def received(dossier: str, minute: int = 0, procedure: str = CONSTRUCTION) -> dict[str, Any]:
    return event(
        "dossier.received", dossier, minute, DESK, procedure=procedure, channel="in_person"
    )


def completed(
    dossier: str, step: str, minute: int, outcome: str = "ok", agency: str | None = None
) -> dict[str, Any]:
    agency = agency or (DESK if step == "receive" else WARD)
    return event("step.completed", dossier, minute, agency, step=step, outcome=outcome)


def rejected(dossier: str, minute: int) -> dict[str, Any]:
    return event("dossier.rejected", dossier, minute, DESK, reason="Hồ sơ không đủ thành phần")


def as_bytes(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def padded(obj: dict[str, Any], size: int) -> bytes:
    """``obj`` as JSON of exactly ``size`` bytes: whitespace before the closing brace."""
    raw = as_bytes(obj)
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def dossier_on_partition(partition: int, stem: str) -> str:
    """A dossier id the default partitioner puts on ``partition`` (kafka-python = Java client)."""
    for n in range(1000):
        candidate = f"{stem}-{n}"
        if (murmur2(candidate.encode()) & 0x7FFFFFFF) % PARTITIONS == partition:
            return candidate
    raise AssertionError(f"no id {stem}-N on partition {partition}")  # pragma: no cover


# --- Kafka -------------------------------------------------------------------------------


def end_total(bootstrap: str, topic: str) -> int:
    """Sum of the end offsets of ``topic``: how many records a caught-up group has acked."""
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap], **login())
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def records_for(bootstrap: str, topic: str, keys: Iterable[str], count: int) -> list[Any]:
    """The records of ``topic`` keyed by one of ``keys``: at least ``count``, then a quiet read."""
    wanted = {k.encode("utf-8") for k in keys}

    def mine(records: list[Any]) -> list[Any]:
        return [r for r in records if r.key in wanted]

    records = read_topic(
        bootstrap, topic, until=lambda rs: len(mine(rs)) >= count, quiet=QUIET_S, timeout=WAIT_S
    )
    return mine(records)


def dead_letters(bootstrap: str, topic: str, keys: Iterable[str], count: int) -> list[DeadLetter]:
    return [decode(DeadLetter, r.value) for r in records_for(bootstrap, topic, keys, count)]


def at(sent: Sent) -> tuple[int, int]:
    return sent.partition, sent.offset


def coordinates(letter: DeadLetter) -> tuple[int, int]:
    return letter.source_partition, letter.source_offset


# --- workers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """One running worker and the names it works with."""

    bootstrap: str
    group: str
    topics: TopicNames
    worker: Worker

    def state(self, dossier: str, check: Callable[[dict[str, Any]], bool], what: str) -> Any:
        """Wait until ``GET /dossiers/<dossier>`` answers 200 with a body ``check`` accepts."""
        last: list[tuple[int, Any]] = []

        def probe() -> bool:
            last[:] = [self.worker.get(f"/dossiers/{dossier}")]
            status, body = last[0]
            return status == 200 and check(body)

        try:
            wait_for(probe, WAIT_S, what, alive=self.worker.proc)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last answer {last}; log {self.worker.log_path}") from None
        return last[0][1]

    def wait_caught_up(self) -> None:
        """The group committed every record of the events topic: nothing is left unacked."""
        events = self.topics.events
        wait_for(
            lambda: (
                committed_total(self.bootstrap, self.group, events)
                == end_total(self.bootstrap, events)
            ),
            WAIT_S,
            f"group {self.group} to commit the end of {events}",
            alive=self.worker.proc,
            interval=0.5,
        )


def deploy(
    bootstrap: str,
    base: Path,
    argv: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Deployment]:
    unique = uuid.uuid4().hex[:8]
    prefix, group = f"t-{unique}-", f"g-{unique}"
    env = worker_env(bootstrap, prefix, group, base / "data", free_port())
    env.update(extra_env or {})
    worker = Worker(env, base / "worker.log")
    if argv is not None:
        worker.argv = argv
    try:
        worker.start()
        yield Deployment(bootstrap, group, TopicNames.with_prefix(prefix), worker)
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def router(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """``dossierflow worker``, as operators run it; it creates its own topics."""
    yield from deploy(kafka_bootstrap, tmp_path_factory.mktemp("router"))


FAULT_DOSSIER = "HS-FAULT-1"


@pytest.fixture
def faulty(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The production app with a hook that raises for ``FAULT_DOSSIER`` (fault_worker.py)."""
    yield from deploy(
        kafka_bootstrap,
        tmp_path_factory.mktemp("faulty"),
        argv=[sys.executable, str(HERE / "fault_worker.py")],
        extra_env={"FAULT_DOSSIER": FAULT_DOSSIER},
    )


# --- 1. publishing -----------------------------------------------------------------------


def publish_input() -> tuple[list[bytes], list[dict[str, Any]], list[str]]:
    """Lines to publish, the valid events among them, and the exact complaints expected."""
    ok_received = received("HS-P1")
    ok_completed = completed("HS-P1", "receive", 10)
    ok_other = received("HS-P3", 15)
    naive = completed("HS-P1", "receive", 5) | {"occurred_at": "2026-03-02T09:05:00"}
    no_channel = {k: v for k, v in received("HS-P2").items() if k != "channel"} | {"colour": "red"}
    version_2 = received("HS-P4") | {"schema_version": 2}
    lines = [
        as_bytes(ok_received),  # 1
        b"",  # 2: blank, skipped but still counted
        b"not json",  # 3
        as_bytes(naive),  # 4
        as_bytes(ok_completed),  # 5
        as_bytes(no_channel),  # 6: two problems, one line each
        as_bytes(ok_other),  # 7
        as_bytes(version_2),  # 8
    ]
    complaints = [
        "line 3: $: invalid JSON: Expecting value at column 1",
        "line 4: occurred_at: datetime must carry a UTC offset (e.g. +07:00); "
        "naive datetimes are invalid",
        "line 6: channel: Field required",
        "line 6: colour: unknown field",
        "line 8: schema_version: 2; this engine reads version 1",
    ]
    return [line + b"\n" for line in lines], [ok_received, ok_completed, ok_other], complaints


def cli(
    bootstrap: str, prefix: str, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    security.grant(bootstrap, prefix, "dossierflow")  # the CLI's principals, on these topics
    return run_cli(
        *args,
        env=cli_env(bootstrap, prefix, **publisher_env()),
        stdin=stdin.decode("utf-8") if stdin is not None else None,
    )


@pytest.mark.parametrize("via", ["file", "stdin", "api"])
def test_publish_reports_invalid_lines_and_publishes_only_valid_ones(
    via: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = TopicNames.with_prefix(topic_prefix)
    made = cli(kafka_bootstrap, topic_prefix, "topics")
    assert made.returncode == 0, made.stderr
    # the engine's topics and its tables' changelogs (one per table: the count is not the
    # prefix's, so the suite's settings give it)
    changelogs = len(changelog_topics(Settings()))
    assert changelogs >= 5, changelogs  # open, closed, parked, sketches, delivered
    assert made.stdout.startswith(f"created {len(topics.all()) + changelogs} topics: ")
    assert all(name in made.stdout for name in topics.all())

    lines, valid, complaints = publish_input()
    summary = (
        f"published 3 of 7 events to {topics.events}; 4 invalid lines not published (see above)"
    )
    if via == "api":
        with Publisher(
            [kafka_bootstrap], topics.events, signer=signer(), **login("publisher")
        ) as publisher:
            report = publisher.publish_lines(lines)
        assert not report.ok
        assert report.published == len(valid)
        assert [line for error in report.errors for line in error.render()] == complaints
        assert report.summary(topics.events) == summary
    else:
        if via == "file":
            path = tmp_path / "events.jsonl"
            path.write_bytes(b"".join(lines))
            done = cli(kafka_bootstrap, topic_prefix, "publish", str(path))
        else:
            done = cli(kafka_bootstrap, topic_prefix, "publish", "-", stdin=b"".join(lines))
        assert done.returncode == 1, done.stderr
        assert done.stderr.splitlines() == complaints
        assert done.stdout.splitlines() == [summary]

    records = read_topic(kafka_bootstrap, topics.events, count=len(valid), quiet=QUIET_S)
    published = {parse_event(r.value).event_id: (r.key, parse_event(r.value)) for r in records}
    assert len(records) == len(published) == len(valid)
    assert published == {
        e["event_id"]: (e["dossier_id"].encode(), parse_event(as_bytes(e))) for e in valid
    }
    # One dossier's events share a partition and keep the order they were published in.
    p1 = sorted((r for r in records if r.key == b"HS-P1"), key=lambda r: r.offset)
    assert len({r.partition for r in p1}) == 1
    assert [parse_event(r.value).type for r in p1] == ["dossier.received", "step.completed"]


def test_publish_accepts_an_event_exactly_at_the_size_limit(
    kafka_bootstrap: str,
    topic_prefix: str,
    create_topics: Callable[..., list[str]],
    tmp_path: Path,
) -> None:
    (topic,) = create_topics(kafka_bootstrap, [TopicNames.with_prefix(topic_prefix).events])
    line = padded(received("HS-P64"), MAX_EVENT_BYTES)
    assert parse_event(line).dossier_id == "HS-P64"  # the contract takes it as it is
    path = tmp_path / "big.jsonl"
    path.write_bytes(line + b"\n")

    done = cli(kafka_bootstrap, topic_prefix, "publish", str(path))

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [f"published 1 of 1 events to {topic}"]


# --- 2. malformed records ----------------------------------------------------------------


def test_malformed_records_are_dead_lettered_where_they_were_and_routing_goes_on(
    router: Deployment,
) -> None:
    dossier, other = "HS-R1", "HS-R2"
    topics = router.topics
    non_utf8 = b'{"schema_version": 1, "dossier_id": "HS-R1", "note": "\xff"}'
    unknown_type = event("dossier.teleported", dossier, 3, WARD)
    naive = completed(dossier, "review", 4) | {"occurred_at": "2026-03-02T09:04:00"}
    version_2 = completed(dossier, "review", 5) | {"schema_version": 2}
    # Valid but for its size: whitespace takes it over the limit, so only the size is wrong.
    too_large = padded(completed(dossier, "review", 6), 70 * 1024)
    # Exactly at the limit is allowed: the last event of the dossier, padded to 64 KiB.
    at_limit = padded(completed(dossier, "review", 7, outcome="needs_inspection"), MAX_EVENT_BYTES)
    bad_byte = non_utf8.index(b"\xff")
    # (key, value, dead-letter reason and a piece of its error, or None: must be applied)
    plan: list[tuple[str, bytes | None, tuple[ReasonKind, str] | None]] = [
        (dossier, as_bytes(received(dossier)), None),
        (dossier, non_utf8, (INVALID_ENCODING, f"$: not UTF-8: byte 0xff at offset {bad_byte}")),
        (dossier, as_bytes(completed(dossier, "receive", 2)), None),
        (
            dossier,
            b'{"schema_version": 1, "type": "dossier.received",',
            (INVALID_JSON, "$: invalid JSON: "),
        ),
        (dossier, None, (INVALID_JSON, "$: invalid JSON: ")),  # a tombstone is not an event either
        (
            dossier,
            as_bytes(unknown_type),
            (UNKNOWN_TYPE, "type: unknown type 'dossier.teleported'"),
        ),
        (dossier, as_bytes(naive), (SCHEMA_ERROR, "occurred_at: ")),
        (dossier, as_bytes(version_2), (UNSUPPORTED_VERSION, "schema_version: 2;")),
        (dossier, too_large, (TOO_LARGE, f"$: payload is {70 * 1024} bytes")),
        (dossier, at_limit, None),
        (other, as_bytes(received(other, 8)), None),
    ]
    sent = produce(router.bootstrap, topics.events, [(key, value) for key, value, _ in plan])
    assert len({s.partition for s in sent[:-1]}) == 1  # one key: one partition, in order
    expected = {at(s): (why, s.value) for s, (_, _, why) in zip(sent, plan, strict=True) if why}

    letters = dead_letters(router.bootstrap, topics.dlq, [dossier, other], len(expected))
    assert sorted(coordinates(d) for d in letters) == sorted(expected)
    for letter in letters:
        (reason, error), original = expected[coordinates(letter)]
        assert (letter.reason, letter.original) == (reason, original or b"")
        assert letter.error.startswith(error), letter.error
        assert (letter.source_topic, letter.source_key) == (topics.events, dossier)
        assert (letter.event_id, letter.dossier_id) == (None, None)  # nothing could be parsed

    # The valid events around the bad ones were applied, in order, the last one at 64 KiB.
    state = router.state(
        dossier, lambda s: s["current_step"] == "site_visit", f"{dossier} at site_visit"
    )
    assert (state["status"], state["current_agency"]) == ("open", WARD)
    assert [row["step"] for row in state["sheet"]] == ["receive", "review", "site_visit"]
    router.state(other, lambda s: s["current_step"] == "receive", f"{other} received")
    assignments = records_for(router.bootstrap, topics.assignments, [dossier, other], 4)
    assert sorted(
        (r.key.decode(), json.loads(r.value)["step"], json.loads(r.value)["agency"])
        for r in assignments
    ) == [
        (dossier, "receive", DESK),
        (dossier, "review", WARD),
        (dossier, "site_visit", WARD),
        (other, "receive", DESK),
    ]
    router.wait_caught_up()


# --- 3. our own code fails ---------------------------------------------------------------


def test_processing_error_is_dead_lettered_and_the_worker_carries_on(faulty: Deployment) -> None:
    topics = faulty.topics
    boom_partition = (murmur2(FAULT_DOSSIER.encode()) & 0x7FFFFFFF) % PARTITIONS
    before = "HS-F1"
    # Routed right behind the failing event, on its partition: it must not be held back.
    behind = dossier_on_partition(boom_partition, "HS-F2")
    sent = produce(
        faulty.bootstrap,
        topics.events,
        [
            (before, as_bytes(received(before))),
            (FAULT_DOSSIER, as_bytes(received(FAULT_DOSSIER, 1))),
            (behind, as_bytes(received(behind, 2))),
            (before, as_bytes(completed(before, "receive", 3))),
        ],
    )
    boom = sent[1]
    assert (boom.partition, sent[2].partition) == (boom_partition, boom_partition)

    letters = dead_letters(faulty.bootstrap, topics.dlq, [FAULT_DOSSIER], 1)
    assert len(letters) == 1, f"dead letters for {FAULT_DOSSIER}: {letters}"
    letter = letters[0]
    assert letter.reason is ReasonKind.PROCESSING_ERROR
    assert letter.error.startswith(f"RuntimeError: injected fault for dossier {FAULT_DOSSIER} at ")
    assert "fault_worker.py" in letter.error  # the traceback summary points at the culprit
    assert (coordinates(letter), letter.original) == (at(boom), boom.value)
    assert (letter.source_topic, letter.source_key) == (topics.events, FAULT_DOSSIER)

    faulty.state(before, lambda s: s["current_step"] == "review", f"{before} at review")
    faulty.state(behind, lambda s: s["current_step"] == "receive", f"{behind} received")
    # The failed event left no trace but its dead letter: no state, no assignment.
    assert faulty.worker.get(f"/dossiers/{FAULT_DOSSIER}")[0] == 404
    assignments = records_for(faulty.bootstrap, topics.assignments, [FAULT_DOSSIER, behind], 1)
    assert [r.key.decode() for r in assignments] == [behind]
    faulty.wait_caught_up()

    # Still alive, still healthy, still routing what comes next.
    assert faulty.worker.proc is not None and faulty.worker.proc.poll() is None
    assert faulty.worker.health() is True
    later = "HS-F3"
    produce(faulty.bootstrap, topics.events, [(later, as_bytes(received(later, 30)))])
    faulty.state(later, lambda s: s["current_step"] == "receive", f"{later} received")


# --- 4. the workflow refuses -------------------------------------------------------------


def test_workflow_refusals_are_dead_lettered_and_neighbours_proceed(router: Deployment) -> None:
    topics = router.topics
    unknown, closed, illegal, fine = "HS-W-UNKNOWN", "HS-W-CLOSED", "HS-W-ILLEGAL", "HS-W-OK"
    keys = [unknown, closed, illegal, fine]
    first = [
        (unknown, received(unknown, procedure="9.999999")),
        (closed, received(closed)),
        (illegal, received(illegal, 1)),
        (fine, received(fine, 2)),
        (closed, rejected(closed, 5)),
    ]
    sent_first = produce(router.bootstrap, topics.events, [(k, as_bytes(e)) for k, e in first])
    # Closed in an earlier batch: the late event must find it in the closed table.
    router.state(closed, lambda s: s["status"] == "rejected", f"{closed} rejected")
    router.state(illegal, lambda s: s["current_step"] == "receive", f"{illegal} received")

    second = [
        (closed, completed(closed, "receive", 10)),
        # a real step, but not the current one, sent by the agency holding the current one
        # (from anyone else it is refused `unauthorized` before the step is looked at)
        (illegal, completed(illegal, "appraisal", 11, agency=DESK)),
        (illegal, completed(illegal, "receive", 12)),
        (fine, completed(fine, "receive", 13)),
    ]
    sent_second = produce(router.bootstrap, topics.events, [(k, as_bytes(e)) for k, e in second])
    refused = {
        at(sent_first[0]): (ReasonKind.UNKNOWN_PROCEDURE, first[0][1]),
        at(sent_second[0]): (ReasonKind.DOSSIER_CLOSED, second[0][1]),
        at(sent_second[1]): (ReasonKind.ILLEGAL_TRANSITION, second[1][1]),
    }
    sent_by_at = {at(s): s for s in (*sent_first, *sent_second)}

    letters = dead_letters(router.bootstrap, topics.dlq, keys, len(refused))
    assert sorted(coordinates(d) for d in letters) == sorted(refused)
    for letter in letters:
        reason, refused_event = refused[coordinates(letter)]
        assert letter.reason is reason
        assert (letter.event_id, letter.dossier_id) == (
            refused_event["event_id"],
            refused_event["dossier_id"],
        )
        assert letter.original == sent_by_at[coordinates(letter)].value
        assert letter.source_topic == topics.events
    errors = {d.reason: d.error for d in letters}
    assert "9.999999" in errors[ReasonKind.UNKNOWN_PROCEDURE]
    assert "'appraisal'" in errors[ReasonKind.ILLEGAL_TRANSITION]

    # The neighbours, and the refused dossiers' own valid events, went on.
    for dossier in (illegal, fine):
        state = router.state(
            dossier, lambda s: s["current_step"] == "review", f"{dossier} at review"
        )
        assert state["current_agency"] == WARD
    state = router.state(closed, lambda s: s["status"] == "rejected", f"{closed} still rejected")
    assert [row["step"] for row in state["sheet"]] == ["receive"]
    assert router.worker.get(f"/dossiers/{unknown}")[0] == 404
    router.wait_caught_up()
