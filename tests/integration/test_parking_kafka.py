"""Early events on real Kafka: parked, then applied on receipt or expired from the clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from agents.tools.publisher import Publisher
from events import StepCompleted, TopicNames
from workflows.calendar import VN_TZ

from support.dossiers import receipt
from support.fleet import post_clock
from support.harness import (
    StartWorker,
    read_json,
    wait_for,
)
from support.security import login
from support.signing import signer

START = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)  # Monday


def test_early_events_are_applied_on_receipt_or_expire_by_the_clock(
    kafka_bootstrap: str, topic_prefix: str, start_worker: StartWorker
) -> None:
    names = TopicNames.with_prefix(topic_prefix)
    worker = start_worker(clock_at=START, DOSSIERFLOW_PARKED_WAIT_HOURS="8")
    try:

        def step(dossier: str) -> StepCompleted:
            return StepCompleted(
                event_id=f"{dossier}-s",
                dossier_id=dossier,
                occurred_at=START + timedelta(hours=1),
                agency="MOTCUA",
                step="receive",
            )

        with Publisher(
            [kafka_bootstrap], names.events, signer=signer(), **login("publisher")
        ) as publisher:
            publisher.publish(step("EARLY-1"))  # its receipt comes later
            publisher.publish(step("EARLY-2"))  # its receipt never comes
            publisher.flush()
            wait_for(lambda: worker.get("/clock")[1]["watched"] == 2, 60, "both parked")
            publisher.publish(receipt("EARLY-1", "EARLY-1-r", START))
            publisher.flush()
        wait_for(lambda: worker.get("/dossiers/EARLY-1")[0] == 200, 60, "EARLY-1 received")
        wait_for(
            lambda: worker.get("/dossiers/EARLY-1")[1]["current_step"] == "review",
            30,
            "the parked step applied after the receipt",
        )
        assert worker.get("/dossiers/EARLY-2")[0] == 404
        assert read_json(kafka_bootstrap, names.dlq, timeout=3) == []

        # Parked Monday 08:00 (the worker's clock); 8 working hours = 08:00-11:30 (3.5 h),
        # 13:30-17:30 (4 h), Tuesday 07:30-08:00 (0.5 h): expires Tuesday 08:00.
        post_clock(worker, {"to": "2026-06-02T07:59:00+07:00"})  # EARLY-1's alerts only
        assert read_json(kafka_bootstrap, names.dlq, timeout=3, quiet=2) == []
        post_clock(worker, {"to": "2026-06-02T08:00:00+07:00"})
        (letter,) = read_json(kafka_bootstrap, names.dlq, count=1, timeout=30, quiet=2)
        assert letter["reason"] == "parked_timeout"
        assert letter["dossier_id"] == "EARLY-2" and letter["event_id"] == "EARLY-2-s"
        assert letter["source_topic"] == names.events
    finally:
        worker.stop()
    assert "Crashed reason=" not in worker.log()
