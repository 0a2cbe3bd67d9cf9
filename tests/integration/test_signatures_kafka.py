"""Signed events on real Kafka: what nobody vouches for is dead-lettered ``unauthenticated``
with its own bytes; a properly signed event is applied; a retired key holds for records
the broker appended before its ``retired_at`` and not after (the broker's LogAppendTime,
set on the events topic by ``ensure_topics``)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agents.tools.signing import Signer
from events import TopicNames, encode

from support.dossiers import receipt
from support.harness import StartWorker, read_json
from support.kafka_io import produce, read_to_end
from support.signing import VALID_FROM, entry, key_for, signer, write_registry
from support.time import vn

START = vn(2026, 6, 1, 8)  # Monday 08:00


def received(dossier: str) -> bytes:
    return encode(receipt(dossier, f"{dossier}-r", START))


def test_only_events_signed_by_a_valid_registered_key_are_applied(
    kafka_bootstrap: str, topics: TopicNames, tmp_path: Path, start_worker: StartWorker
) -> None:
    old, new = signer("rotating", "k1"), signer("rotating", "k2")

    # Published before the worker starts: it reads them all from the beginning.
    good = produce(kafka_bootstrap, topics.events, [("GOOD", received("GOOD"))])
    produce(kafka_bootstrap, topics.events, [("UNSIGNED", received("UNSIGNED"))], headers=[])
    tampered = received("TAMPERED")
    headers = signer().headers(b"TAMPERED", tampered)
    changed = tampered.replace(b"online", b"postal")  # one field's value changed after signing
    assert changed != tampered
    produce(kafka_bootstrap, topics.events, [("TAMPERED", changed)], headers=headers)
    # A valid signed receipt for dossier A replayed with its headers under dossier B's key.
    replayed = received("A")
    headers = signer().headers(b"A", replayed)
    produce(kafka_bootstrap, topics.events, [("REPLAYED", replayed)], headers=headers)
    wrong = Signer("test-publisher", "test-1", key_for("not the registered one"))
    produce(kafka_bootstrap, topics.events, [("WRONG-KEY", received("WRONG-KEY"))], signed_by=wrong)
    # Rotation: k1 is retired at an instant between these two old-key records.
    (before,) = produce(
        kafka_bootstrap, topics.events, [("OLD-BEFORE", received("OLD-BEFORE"))], signed_by=old
    )
    retired_at = datetime.now(UTC) + timedelta(seconds=1)
    time.sleep(1.5)
    produce(kafka_bootstrap, topics.events, [("OLD-AFTER", received("OLD-AFTER"))], signed_by=old)
    produce(kafka_bootstrap, topics.events, [("NEW-AFTER", received("NEW-AFTER"))], signed_by=new)
    appended = {r.offset: r.timestamp for r in read_to_end(kafka_bootstrap, topics.events)}
    assert [r.timestamp_type for r in read_to_end(kafka_bootstrap, topics.events)][:1] == [1]
    assert datetime.fromtimestamp(appended[before.offset] / 1000, UTC) < retired_at
    assert good[0].partition >= 0

    registry = write_registry(
        tmp_path / "publishers.yaml",
        [
            entry(),
            entry(
                "rotating",
                ["MOTCUA"],
                [("k1", VALID_FROM, retired_at), ("k2", VALID_FROM, None)],
            ),
        ],
    )
    worker = start_worker(clock_at=START, DOSSIERFLOW_PUBLISHERS_PATH=str(registry))
    try:
        letters = read_json(kafka_bootstrap, topics.dlq, count=5, timeout=60, quiet=2)
        refused = {letter["source_key"]: letter for letter in letters}
        assert set(refused) == {"UNSIGNED", "TAMPERED", "REPLAYED", "WRONG-KEY", "OLD-AFTER"}
        assert {letter["reason"] for letter in letters} == {"unauthenticated"}
        assert "unsigned" in refused["UNSIGNED"]["error"]
        for key in ("TAMPERED", "REPLAYED", "WRONG-KEY"):
            assert "bad signature" in refused[key]["error"], refused[key]
        assert f"retired at {retired_at.isoformat()}" in refused["OLD-AFTER"]["error"]
        # The dead letter keeps the bytes exactly as they arrived.
        assert base64.b64decode(refused["TAMPERED"]["original_b64"]) == changed
        for dossier in ("GOOD", "OLD-BEFORE", "NEW-AFTER"):
            assert worker.get(f"/dossiers/{dossier}")[0] == 200, dossier
        for dossier in ("UNSIGNED", "TAMPERED", "A", "REPLAYED", "WRONG-KEY", "OLD-AFTER"):
            assert worker.get(f"/dossiers/{dossier}")[0] == 404, dossier
    finally:
        worker.stop()
    assert "Crashed reason=" not in worker.log()
