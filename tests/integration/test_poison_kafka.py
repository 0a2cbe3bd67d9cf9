"""No record can stop a worker (issue 19, items 4, 5, 6 and 8), on a real broker.

Between the events of good dossiers: a raw 1,000,002-byte record and an 800 KB one
(each used to kill every worker that took their partition: their dead letter outgrew
the producer's 1 MB), an event keyed with an empty key (its state would have gone to
another changelog partition), and a flood of early events with 8 KB reasons for
dossiers that never come. The worker must dead-letter each bad record, by its
coordinates and with its bytes, route every good dossier to its final state, and
start again afterwards: on both stores, since the changelog a restart reads is
what a mis-keyed state or an oversize one would have broken.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta

from events import (
    DEAD_LETTER_MAX_BYTES,
    EXCERPT_BYTES,
    InboundEvent,
    ReasonKind,
    SupplementRequested,
    encode,
)
from workflows.calendar import VN_TZ

from support.dossiers import construction_licence, publishing_licence, receipt
from support.fleet import Fleet, post_clock, status, stores
from support.fold import Fold
from support.harness import manual_clock, wait_for
from support.kafka_io import Sent, dead_letters, produce, read_to_end, wait_consumed

#: The worker's manual clock: parked events are stamped with it, and expire by it.
START = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)  # a Monday
PRODUCER_MAX = 1_048_576  # aiokafka's default max_request_size (the DLQ producer's)
FLOOD_DOSSIERS, FLOOD_EACH = 6, 32
REASON = "\U0001f4c4" * 2000  # 2,000 four-byte characters: the longest reason, 8 KB


def flood(n: int) -> list[InboundEvent]:
    """Early events for ``n`` dossiers whose receipt never comes, 8 KB reasons each."""
    return [
        SupplementRequested(
            event_id=f"FLOOD-{d}/{i}",
            dossier_id=f"FLOOD-{d}",
            occurred_at=START + timedelta(minutes=i),
            agency="MOTCUA",
            reason=REASON,
        )
        for d in range(n)
        for i in range(FLOOD_EACH)
    ]


def padded(event: InboundEvent, size: int) -> bytes:
    """``event`` with whitespace after its JSON: valid, but ``size`` bytes long."""
    raw = encode(event)
    return raw + b" " * (size - len(raw))


@stores(in_ci="memory://")
def test_poison_records_are_dead_lettered_and_the_good_dossiers_finish(
    fleet: Fleet, store: str
) -> None:
    names = fleet.names
    worker = fleet.worker(
        "poison",
        DOSSIERFLOW_STORE=store,
        **manual_clock(START),
        DOSSIERFLOW_PARKED_WAIT_HOURS="8",
    )
    fleet.start(worker)

    good = {
        "POISON-XB": publishing_licence("POISON-XB"),
        "POISON-CX": construction_licence("POISON-CX"),
    }
    half = {d: len(evs) // 2 for d, evs in good.items()}
    # A receipt keyed with an empty key: refused, never a dossier.
    miskeyed = receipt("POISON-MISKEYED", "MISKEYED/r", START)
    # Each poison record is keyed by a good dossier, so it sits on that dossier's
    # partition between its events: the records after it must still be routed.
    plan: list[tuple[str, bytes | None, ReasonKind | None]] = []
    for dossier, events in good.items():
        plan += [(dossier, encode(e), None) for e in events[: half[dossier]]]
    plan += [
        ("POISON-XB", b"\xff" + b"x" * 1_000_001, ReasonKind.TOO_LARGE),
        ("POISON-CX", padded(good["POISON-CX"][half["POISON-CX"]], 800_000), ReasonKind.TOO_LARGE),
        ("", encode(miskeyed), ReasonKind.KEY_MISMATCH),
    ]
    plan += [(e.dossier_id, encode(e), None) for e in flood(FLOOD_DOSSIERS)]
    for dossier, events in good.items():
        plan += [(dossier, encode(e), None) for e in events[half[dossier] :]]
    sent = produce(fleet.bootstrap, names.events, [(key, value) for key, value, _ in plan])
    by_place: dict[tuple[int, int], Sent] = {(s.partition, s.offset): s for s in sent}
    poison = {
        (s.partition, s.offset): why for s, (_, _, why) in zip(sent, plan, strict=True) if why
    }

    wait_consumed(fleet.bootstrap, fleet.group, names.events, timeout=120)
    fold = Fold(e for events in good.values() for e in events)
    for dossier in good:
        assert status(worker, dossier) == fold.public(dossier), dossier
        assert fold.public(dossier)["status"] == "returned"
    assert worker.get("/dossiers/POISON-MISKEYED")[0] == 404

    # The flood: per dossier, what fits 128 KiB of parking waits, the rest is refused at
    # once; what waited is dead-lettered when the clock passes its 8 working hours.
    post_clock(worker, {"to": (START + timedelta(days=1)).isoformat()})
    total = len(poison) + FLOOD_DOSSIERS * FLOOD_EACH
    wait_for(
        lambda: len(read_to_end(fleet.bootstrap, names.dlq)) >= total,
        60,
        f"{total} dead letters",
    )
    records = read_to_end(fleet.bootstrap, names.dlq)
    assert all(len(r.value) <= DEAD_LETTER_MAX_BYTES < PRODUCER_MAX for r in records)
    letters = {
        (d.source_partition, d.source_offset): d for d in dead_letters(fleet.bootstrap, names)
    }
    assert len(letters) == len(records) == total  # one each, none twice

    for place, why in poison.items():
        letter, original = letters[place], by_place[place]
        assert letter.reason == why and letter.source_topic == names.events
        assert letter.source_key == original.key.decode()
        assert original.value is not None
        assert letter.original_size == len(original.value)
        assert letter.original_sha256 == hashlib.sha256(original.value).hexdigest()
        if why is ReasonKind.TOO_LARGE:
            assert letter.original_truncated
            assert letter.original == original.value[:EXCERPT_BYTES]
            assert letter.error.startswith(f"$: payload is {len(original.value)} bytes")
        else:
            assert letter.original == original.value
            assert letter.error.startswith("dossier.received: the record's key is empty")

    floods = [d for place, d in letters.items() if place not in poison]
    reasons = {r: sum(d.reason == r for d in floods) for r in ("parking_full", "parked_timeout")}
    # ~11 KB stored per event (base64 of 8 KB): 11 wait within 128 KiB, 21 are refused.
    assert reasons == {
        "parking_full": FLOOD_DOSSIERS * 21,
        "parked_timeout": FLOOD_DOSSIERS * 11,
    }
    for letter in floods:
        sent_record = by_place[(letter.source_partition, letter.source_offset)]
        assert letter.original == sent_record.value  # the exact bytes, not re-encoded
        assert base64.b64decode(letter.original_b64) == sent_record.value
        assert letter.dossier_id is not None and letter.dossier_id.startswith("FLOOD-")

    # A restart reads the changelogs back and gets past every record: nothing new.
    worker.stop()
    worker.start()
    for dossier in good:
        assert status(worker, dossier) == fold.public(dossier), dossier
    assert worker.get("/dossiers/POISON-MISKEYED")[0] == 404
    assert len(read_to_end(fleet.bootstrap, names.dlq)) == total
    fleet.assert_no_agent_crash()
    assert "exiting unacked" not in worker.log()
