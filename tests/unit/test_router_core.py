"""The router's shell logic without Kafka: parking early events, their expiry, dedupe."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypedDict

from agents.runtime.records import Coordinates
from agents.runtime.router import ParkingPolicy, RawRecord, RouterCore, Tables
from events import DossierReceived, InboundEvent, StepCompleted, encode
from events.internal import DeadlineTick
from workflows.calendar import VN_TZ

from support.context import routing_context
from support.dossiers import receipt
from support.router import apply_writes

MON = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)  # Monday 08:00


def core(policy: ParkingPolicy | None = None) -> RouterCore:
    return RouterCore(
        routing_context(), Tables({}, {}, {}), policy or ParkingPolicy(), ticks_topic="ticks"
    )


class RunOutput(TypedDict):
    dlq: list[Any]
    anomalies: list[Any]
    assignments: list[Any]
    parked_until: dict[bytes, datetime]


def run(
    router: RouterCore, items: Sequence[InboundEvent | DeadlineTick], now: datetime
) -> RunOutput:
    records = []
    for offset, item in enumerate(items):
        if isinstance(item, DeadlineTick):
            raw = item.model_dump_json().encode()
            records.append(RawRecord(raw, Coordinates("ticks", 0, offset, b"k")))
        else:
            key = item.dossier_id.encode()
            records.append(RawRecord(encode(item), Coordinates("events", 0, offset, key)))
    result = router.run_batch(records, now)
    apply_writes(router.tables, result.writes)
    return {
        "dlq": [json.loads(o.value) for o in result.outgoing if o.topic == "dlq"],
        "anomalies": [json.loads(o.value) for o in result.outgoing if o.topic == "anomalies"],
        "assignments": [json.loads(o.value) for o in result.outgoing if o.topic == "assignments"],
        "parked_until": result.parked_until,
    }


def received(at: datetime) -> DossierReceived:
    return receipt("D1", "r", at)


def step_done(at: datetime) -> StepCompleted:
    return StepCompleted(
        event_id="s", dossier_id="D1", occurred_at=at, agency="MOTCUA", step="receive"
    )


def test_an_early_event_waits_and_is_applied_when_the_receipt_arrives() -> None:
    router = core()
    out = run(router, [step_done(MON + timedelta(hours=1))], MON)
    assert out["dlq"] == [] and out["assignments"] == []
    # parked at Mon 08:00; 16 working hours later: Wed 08:00
    assert out["parked_until"][b"D1"] == datetime(2026, 6, 3, 8, tzinfo=VN_TZ)
    out = run(router, [received(MON)], MON + timedelta(minutes=5))
    # receipt, then the parked step completion: assigned to receive, then to review
    assert [a["step"] for a in out["assignments"]] == ["receive", "review"]
    assert router.tables.parked == {}


def test_an_off_route_hand_off_is_applied_and_reported_as_an_anomaly_not_a_dead_letter() -> None:
    router = core()
    off = step_done(MON + timedelta(hours=1)).model_copy(update={"to_agency": "SXD"})
    out = run(router, [received(MON), off], MON + timedelta(hours=2))
    assert out["dlq"] == []  # the DLQ means "not applied": this one was
    assert [a["agency"] for a in out["assignments"]] == ["MOTCUA", "SXD"]
    (report,) = out["anomalies"]
    assert report["record"] == "anomaly" and report["kind"] == "off_route"
    assert (report["dossier_id"], report["event_id"]) == ("D1", "s")
    assert (report["source_topic"], report["source_offset"]) == ("events", 1)
    # A re-delivery is deduped by the state; were it reported again, the id would be the same.
    again = run(core(), [received(MON), off], MON + timedelta(hours=3))["anomalies"]
    assert [r["anomaly_id"] for r in again] == [report["anomaly_id"]]


def test_parked_events_expire_after_the_working_time_wait() -> None:
    router = core(ParkingPolicy(wait=timedelta(hours=8)))
    run(router, [step_done(MON)], MON)  # parked Monday 08:00, expires Tuesday 08:00
    early = run(
        router,
        [DeadlineTick(dossier_id="D1", detected_at=MON + timedelta(hours=20))],
        MON + timedelta(hours=20),
    )  # Tuesday 04:00: not yet
    assert early["dlq"] == []
    assert early["parked_until"][b"D1"] == datetime(2026, 6, 2, 8, tzinfo=VN_TZ)
    late = run(
        router,
        [DeadlineTick(dossier_id="D1", detected_at=MON + timedelta(days=1))],
        MON + timedelta(days=1),
    )
    (letter,) = late["dlq"]
    assert letter["reason"] == "parked_timeout"
    assert "8 working hours" in letter["error"]
    assert (letter["source_topic"], letter["source_offset"]) == ("events", 0)
    assert router.tables.parked == {}


def test_parking_is_bounded_per_dossier() -> None:
    router = core(ParkingPolicy(per_dossier=2))
    events = [
        StepCompleted(
            event_id=f"s{i}", dossier_id="D1", occurred_at=MON, agency="MOTCUA", step="receive"
        )
        for i in range(3)
    ]
    out = run(router, events, MON)
    (letter,) = out["dlq"]
    assert letter["reason"] == "parking_full" and letter["event_id"] == "s2"
    assert "2 events already wait for this dossier" in letter["error"]


def test_the_same_early_event_twice_is_parked_once() -> None:
    router = core()
    run(router, [step_done(MON), step_done(MON)], MON)
    assert router.tables.parked[b"D1"].count(b"\n") == 0  # one line
