"""No record can stop the router: oversize and mis-keyed records, parking floods, orphans.

Each test runs the production ``RouterCore`` over raw records with dict tables, and
writes the batch's table changes back the way the shell does.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import events as ev
from agents.runtime.parking import ParkedTotals, ParkingPolicy, lines_of
from agents.runtime.records import Coordinates
from agents.runtime.router import BatchResult, RawRecord, RouterCore, Tables
from agents.runtime.telemetry import record_batch
from events import decode, encode
from events.internal import DeadlineTick
from monitoring.metrics import create_metrics
from workflows.calendar import VN_TZ

from support.context import routing_context
from support.router import apply_writes

MON = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)  # Monday 08:00
CTX = routing_context(range(2026, 2027))


def router(policy: ParkingPolicy | None = None, parked: Any = None) -> RouterCore:
    tables = Tables({}, {}, parked if parked is not None else {})
    return RouterCore(CTX, tables, policy, ticks_topic="ticks")


def record(raw: bytes, offset: int, key: bytes | None, partition: int = 2) -> RawRecord:
    return RawRecord(raw, Coordinates("events", partition, offset, key))


def event_record(event: ev.InboundEvent, offset: int) -> RawRecord:
    return record(encode(event), offset, event.dossier_id.encode())


def tick(dossier_id: str, at: datetime) -> RawRecord:
    raw = DeadlineTick(dossier_id=dossier_id, detected_at=at).model_dump_json().encode()
    return RawRecord(raw, Coordinates("ticks", 2, 0, dossier_id.encode()))


def run(core: RouterCore, records: Sequence[RawRecord], now: datetime = MON) -> BatchResult:
    result = core.run_batch(records, now)
    apply_writes(core.tables, result.writes)
    return result


def letters(result: BatchResult) -> list[ev.DeadLetter]:
    return [decode(ev.DeadLetter, out.value) for out in result.outgoing if out.topic == "dlq"]


def steps(result: BatchResult) -> list[tuple[str, str]]:
    return [
        (json.loads(out.value)["dossier_id"], json.loads(out.value)["step"])
        for out in result.outgoing
        if out.topic == "assignments"
    ]


def received(dossier: str, event_id: str = "r") -> ev.DossierReceived:
    return ev.DossierReceived(
        event_id=f"{dossier}-{event_id}",
        dossier_id=dossier,
        occurred_at=MON,
        agency="MOTCUA",
        procedure="2.001610",
        channel="online",
    )


def done(dossier: str, step: str = "receive", event_id: str = "s") -> ev.StepCompleted:
    return ev.StepCompleted(
        event_id=f"{dossier}-{event_id}",
        dossier_id=dossier,
        occurred_at=MON + timedelta(hours=1),
        agency="MOTCUA",
        step=step,
    )


def supplement(dossier: str, n: int, reason: str) -> ev.SupplementRequested:
    return ev.SupplementRequested(
        event_id=f"{dossier}-p{n}",
        dossier_id=dossier,
        occurred_at=MON + timedelta(minutes=n),
        agency="MOTCUA",
        reason=reason,
    )


# --- oversize records ----------------------------------------------------------------


def test_oversize_records_are_dead_lettered_by_coordinates_and_the_batch_goes_on() -> None:
    core = router()
    huge = b"x" * 1_000_002
    big = b'{"schema_version": 1, "pad": "' + b"y" * 800_000 + b'"}'
    result = run(
        core,
        [
            event_record(received("A"), 0),
            record(huge, 1, b"A"),
            record(big, 2, b"A"),
            event_record(done("A"), 3),
            event_record(received("B"), 4),
        ],
    )
    first, second = letters(result)
    for letter, raw, offset in ((first, huge, 1), (second, big, 2)):
        assert letter.reason == "too_large"
        assert letter.error == f"$: payload is {len(raw)} bytes; the limit is 65536"
        assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
            "events",
            2,
            offset,
        )
        assert letter.original_truncated and letter.original == raw[: ev.EXCERPT_BYTES]
        assert (letter.original_size, letter.original_sha256) == (
            len(raw),
            hashlib.sha256(raw).hexdigest(),
        )
    assert all(len(out.value) <= ev.DEAD_LETTER_MAX_BYTES for out in result.outgoing)
    # the records after them were applied
    assert steps(result) == [("A", "receive"), ("A", "review"), ("B", "receive")]


def test_the_record_size_limit_is_the_routers_setting() -> None:
    core = RouterCore(CTX, Tables({}, {}, {}), ticks_topic="ticks", max_event_bytes=200)
    raw = encode(received("A"))
    assert len(raw) > 200
    (letter,) = letters(run(core, [record(raw, 0, b"A")]))
    assert letter.reason == "too_large" and letter.original == raw  # small: kept whole


# --- mis-keyed records ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        (b"", "empty"),  # the fault-injection suite's case: its state went to partition 0
        (None, "missing"),  # no key at all
        (b"B", "'B'"),  # another dossier's id
        (b"a", "'a'"),  # ids are compared exactly: case matters
        (b"A ", "'A '"),  # and so does whitespace
    ],
)
def test_a_record_keyed_other_than_its_dossier_id_is_refused(key: bytes | None, shown: str) -> None:
    core = router()
    raw = encode(received("A"))
    result = run(core, [record(raw, 7, key)])
    (letter,) = letters(result)
    assert letter.reason == "key_mismatch"
    assert letter.error == (
        f"dossier.received: the record's key is {shown}, not its dossier_id 'A'; "
        "publish every event with key = dossier_id (UTF-8)"
    )
    assert letter.original == raw and letter.source_offset == 7
    assert (letter.event_id, letter.dossier_id) == ("A-r", "A")
    # nothing was applied, stored or watched
    assert result.writes == {} and result.touched == {} and result.applied == 0


def test_a_well_keyed_record_after_a_mis_keyed_one_is_applied() -> None:
    core = router()
    result = run(core, [record(encode(received("A")), 0, b""), event_record(received("A"), 1)])
    assert [d.reason for d in letters(result)] == ["key_mismatch"]
    assert steps(result) == [("A", "receive")] and b"A" in core.tables.open


# --- parking: exact bytes of orphans -------------------------------------------------


def unusual_bytes(event: ev.InboundEvent) -> bytes:
    """The same event as an agency might really send it: other key order, spaces, a
    newline and a tab inside, non-ASCII escaped: valid JSON, not what ``encode`` writes."""
    obj = json.loads(encode(event))
    text = json.dumps(dict(reversed(list(obj.items()))), indent="\t", ensure_ascii=True)
    assert text.encode() != encode(event)
    return text.encode()


def test_an_expired_orphan_is_dead_lettered_with_its_exact_bytes_and_coordinates() -> None:
    core = router(ParkingPolicy(wait=timedelta(hours=8)))
    raw = unusual_bytes(done("A"))
    run(core, [record(raw, 17, b"A", partition=3)])
    result = run(core, [tick("A", MON + timedelta(days=1))], MON + timedelta(days=1))
    (letter,) = letters(result)
    assert letter.reason == "parked_timeout"
    assert letter.original == raw
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "events",
        3,
        17,
    )
    assert (letter.source_key, letter.event_id, letter.dossier_id) == ("A", "A-s", "A")
    assert core.tables.parked == {}


def test_a_parked_event_refused_after_the_receipt_carries_its_exact_bytes() -> None:
    core = router()
    raw = unusual_bytes(done("A", step="issue"))  # not the current step once received
    run(core, [record(raw, 5, b"A")])
    result = run(core, [event_record(received("A"), 6)])
    (letter,) = letters(result)
    assert letter.reason == "illegal_transition"
    assert (letter.original, letter.source_offset, letter.source_partition) == (raw, 5, 2)


def test_old_tab_separated_entries_are_still_released_expired_and_deduped() -> None:
    # Written by the previous version: "topic TAB partition TAB offset TAB epoch TAB json".
    event = done("A")
    old = b"events\t1\t9\t%d\t" % MON.timestamp() + encode(event)
    core = router(ParkingPolicy(wait=timedelta(hours=8)), parked={b"A": old})
    assert letters(run(core, [event_record(event, 10)])) == []  # the same event: parked once
    assert core.tables.parked == {b"A": old}
    expired = run(core, [tick("A", MON + timedelta(days=1))], MON + timedelta(days=1))
    (letter,) = letters(expired)
    assert letter.reason == "parked_timeout"
    assert (letter.original, letter.source_partition, letter.source_offset) == (
        encode(event),
        1,
        9,
    )
    core.tables.parked[b"A"] = old
    released = run(core, [event_record(received("A"), 11)])
    assert steps(released) == [("A", "receive"), ("A", "review")]


def test_a_damaged_parked_entry_is_dead_lettered_not_lost() -> None:
    core = router(ParkingPolicy(wait=timedelta(hours=8)), parked={b"A": b"#2\tnot an entry"})
    result = run(core, [tick("A", MON)], MON)
    (letter,) = letters(result)
    assert letter.reason == "processing_error"
    assert letter.original == b"#2\tnot an entry" and letter.source_topic == "parked"
    assert core.tables.parked == {}


# --- parking: bounds in bytes, totals, the gauges -------------------------------------

REASON = "\U0001f4c4" * 2000  # the flood's 8 KB reasons: 2,000 four-byte characters


def test_parking_is_bounded_in_bytes_per_dossier() -> None:
    core = router(ParkingPolicy(per_dossier_bytes=40 * 1024))
    result = run(core, [event_record(supplement("A", n, REASON), n) for n in range(6)])
    # one stored entry takes ~11 KB (8 KB of reason in base64): three fit in 40 KiB
    assert len(lines_of(core.tables.parked[b"A"])) == 3
    refused = letters(result)
    assert [d.reason for d in refused] == ["parking_full"] * 3
    assert refused[0].error.startswith(
        "dossier.supplement_requested: no dossier.received yet and parking is full: "
        "its parked events would take "
    )
    assert refused[0].error.endswith(" bytes; the limit is 40960 per dossier")
    assert refused[0].original == encode(supplement("A", 3, REASON))


def test_parking_is_bounded_in_bytes_in_total() -> None:
    # The flood of issue 19, scaled down: fake ids x events with 8 KB reasons.
    core = router(ParkingPolicy(total_bytes=256 * 1024))
    records = [
        event_record(supplement(f"FAKE-{d}", n, REASON), d * 32 + n)
        for d in range(10)
        for n in range(8)
    ]
    result = run(core, records)
    totals = ParkedTotals.of(core.tables.parked)
    assert totals.size <= 256 * 1024 < totals.size + 11_500
    refused = letters(result)
    assert len(refused) == 80 - sum(len(lines_of(b)) for b in core.tables.parked.values())
    assert refused[0].reason == "parking_full"
    assert "bytes in this worker; the limit is 262144" in refused[0].error
    # the running total is what the table holds, and the batch reports it
    assert (result.parked.dossiers, result.parked.size) == (totals.dossiers, totals.size)


def test_parking_is_bounded_in_dossiers() -> None:
    core = router(ParkingPolicy(total=2))
    result = run(core, [event_record(done(f"D{i}"), i) for i in range(3)])
    (letter,) = letters(result)
    assert letter.reason == "parking_full" and letter.dossier_id == "D2"
    assert letter.error.endswith("parking is full: 2 dossiers already have parked events")


def test_the_running_totals_follow_parking_release_and_expiry() -> None:
    core = router(ParkingPolicy(wait=timedelta(hours=8)))
    run(core, [event_record(done("A"), 0), event_record(done("B"), 1)])
    assert core.run_batch([], MON).parked == ParkedTotals.of(core.tables.parked)
    released = run(core, [event_record(received("A"), 2)])
    assert released.parked == ParkedTotals.of(core.tables.parked)
    assert released.parked.dossiers == 1
    expired = run(core, [tick("B", MON + timedelta(days=1))], MON + timedelta(days=1))
    assert expired.parked == ParkedTotals(0, 0)


class RecoveringTable(dict[bytes, bytes]):
    """A dict that, like a faust table, calls back after a rebalance's recovery."""

    def __init__(self) -> None:
        super().__init__()
        self.callbacks: list[Any] = []

    def on_recover(self, fun: Any) -> Any:
        self.callbacks.append(fun)
        return fun

    async def recover(self) -> None:
        for fun in self.callbacks:
            await fun()


def test_the_totals_are_counted_again_after_a_rebalance() -> None:
    import asyncio

    table = RecoveringTable()
    core = router(parked=table)
    run(core, [event_record(done("A"), 0)])
    # A rebalance brings another partition's parked dossier (restored from its changelog).
    table[b"Z"] = b"x" * 1000
    assert core.run_batch([], MON).parked.dossiers == 1  # not known yet: still the old total
    asyncio.run(table.recover())
    after = core.run_batch([], MON).parked
    assert after == ParkedTotals.of(table) and after.dossiers == 2


def test_a_batch_that_fails_forgets_the_totals_it_moved() -> None:
    core = router()
    core.tables.open[b"X"] = b"not a state"  # a tick for it fails the whole batch
    with pytest.raises(ValueError):
        core.run_batch([event_record(done("A"), 0), tick("X", MON)], MON)
    # the shell writes nothing of a failed batch: the totals are those of the table
    assert core.run_batch([], MON).parked == ParkedTotals(0, 0)


def test_the_gauges_show_the_parked_totals() -> None:
    metrics = create_metrics(CollectorRegistry())
    core = router()
    records = [event_record(done("A"), 0), event_record(done("B"), 1)]
    record_batch(metrics, run(core, records), records, "ticks")
    size = sum(len(blob) for blob in core.tables.parked.values())
    registry = metrics.registry
    assert registry.get_sample_value("dossierflow_parked_dossiers") == 2
    assert registry.get_sample_value("dossierflow_parked_bytes") == size


def test_a_parked_entry_keeps_any_bytes_apart_from_the_line_structure() -> None:
    core = router()
    raw = unusual_bytes(done("A"))  # newlines and tabs inside
    assert b"\n" in raw and b"\t" in raw
    run(core, [record(raw, 0, b"A")])
    (line,) = lines_of(core.tables.parked[b"A"])
    assert base64.b64decode(line.split(b"\t")[-1]) == raw


def test_a_dossier_whose_parking_is_full_stays_watched_for_its_expiry() -> None:
    # Found on the broker: a batch of only refused early events left the dossier
    # without an expiry, the shell unscheduled it, and its parked events never expired.
    core = router(ParkingPolicy(per_dossier=1, wait=timedelta(hours=8)))
    first = run(core, [event_record(done("A", event_id="1"), 0)])
    later = run(core, [event_record(done("A", event_id="2"), 1)])  # refused: full
    again = run(core, [event_record(done("A", event_id="1"), 0)])  # a re-delivery
    assert [d.reason for d in letters(later)] == ["parking_full"]
    expiry = first.parked_until[b"A"]
    assert later.parked_until == {b"A": expiry} and again.parked_until == {b"A": expiry}
