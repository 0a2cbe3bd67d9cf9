"""Authorization on real Kafka, security on, the worker on the real clock: an agency acts
only on a step it holds, a publisher speaks only for its agencies, nothing is dated
before its receipt or after the broker's clock, and random agency codes make no series."""

from __future__ import annotations

import random
import string
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import events as ev
from events import TopicNames, encode

from support.dossiers import receipt
from support.harness import StartWorker, read_json, wait_for
from support.kafka_io import produce
from support.signing import VALID_FROM, entry, signer, write_registry

#: 2.001610: receive MOTCUA, review STC, issue STC, return MOTCUA.
DESK, DEPT = "MOTCUA", "STC"
RANDOM_AGENCIES = 200


def completed(dossier: str, agency: str, step: str, at: datetime) -> ev.StepCompleted:
    return ev.StepCompleted(
        event_id=f"{dossier}/{uuid.uuid4().hex[:8]}",
        dossier_id=dossier,
        occurred_at=at,
        agency=agency,
        step=step,
        outcome="ok",
    )


def test_only_the_holder_acts_and_nothing_is_back_or_future_dated(
    kafka_bootstrap: str, topics: TopicNames, tmp_path: Path, start_worker: StartWorker
) -> None:
    now = datetime.now(UTC)
    desk_only = signer("desk-only", "d1")
    rng = random.Random(12)
    randoms = ["".join(rng.choices(string.ascii_uppercase, k=40)) for _ in range(RANDOM_AGENCIES)]

    def record(event: ev.InboundEvent) -> tuple[str, bytes]:
        return event.dossier_id, encode(event)

    produce(
        kafka_bootstrap,
        topics.events,
        [
            # AUTH-1: routed by its holders; an attacker's completion of STC's step refused
            record(receipt("AUTH-1", "AUTH-1/r", now - timedelta(hours=2), agency=DESK)),
            record(completed("AUTH-1", DESK, "receive", now - timedelta(hours=1, minutes=50))),
            record(completed("AUTH-1", "ATTACKER", "review", now - timedelta(hours=1, minutes=40))),
            record(completed("AUTH-1", DEPT, "review", now - timedelta(hours=1))),
            # AUTH-3: a completion dated before the dossier's receipt
            record(receipt("AUTH-3", "AUTH-3/r", now - timedelta(hours=1), agency=DESK)),
            record(completed("AUTH-3", DESK, "receive", now - timedelta(hours=3))),
            # AUTH-4: a receipt dated a day after the broker's clock
            record(receipt("AUTH-4", "AUTH-4/r", now + timedelta(days=1), agency=DESK)),
            # random agency codes, each a receipt at a desk that is not the procedure's
            *(
                record(receipt(f"RND-{n}", f"RND-{n}/r", now - timedelta(hours=1), agency=code))
                for n, code in enumerate(randoms)
            ),
        ],
    )
    # AUTH-2: a publisher that may speak only for the desk, speaking for SXD
    produce(
        kafka_bootstrap,
        topics.events,
        [record(receipt("AUTH-2", "AUTH-2/r", now - timedelta(hours=1), agency="SXD"))],
        signed_by=desk_only,
    )

    registry = write_registry(
        tmp_path / "publishers.yaml",
        [entry(), entry("desk-only", [DESK], [("d1", VALID_FROM, None)])],
    )
    worker = start_worker(DOSSIERFLOW_PUBLISHERS_PATH=str(registry))
    try:
        expected = 4 + RANDOM_AGENCIES
        letters = read_json(kafka_bootstrap, topics.dlq, count=expected, timeout=90, quiet=3)
        assert len(letters) == expected, [(d["source_key"], d["reason"]) for d in letters]
        by_key: dict[str, list[dict[str, object]]] = {}
        for letter in letters:
            by_key.setdefault(str(letter["source_key"]), []).append(letter)
        (attacker,) = by_key["AUTH-1"]
        assert attacker["reason"] == "unauthorized"
        assert "step 'review' is held by STC; sent by ATTACKER" in str(attacker["error"])
        (foreign,) = by_key["AUTH-2"]
        assert foreign["reason"] == "unauthorized"
        assert "may not speak for agency SXD" in str(foreign["error"]), foreign
        (back,) = by_key["AUTH-3"]
        assert back["reason"] == "implausible_time", back
        assert "before the dossier's receipt" in str(back["error"])
        (future,) = by_key["AUTH-4"]
        assert future["reason"] == "implausible_time", future
        assert "later than the broker's timestamp" in str(future["error"])
        assert {letters[0]["reason"] for letters in (by_key[f"RND-{n}"] for n in range(5))} == {
            "unauthorized"
        }

        # the right agencies' events were applied: AUTH-1 is at STC's next step
        def at_issue() -> bool:
            code, body = worker.get("/dossiers/AUTH-1")
            return code == 200 and body["current_step"] == "issue"

        wait_for(at_issue, 60, "AUTH-1 at its issue step")
        _, body = worker.get("/dossiers/AUTH-1")
        assert [row["sent_by"] for row in body["sheet"]] == ["test-publisher"] * 3
        for dossier in ("AUTH-2", "AUTH-4", "RND-0"):
            assert worker.get(f"/dossiers/{dossier}")[0] == 404, dossier

        # no metric series for any of the random agency codes
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        assert not any(code in metrics for code in randoms)
        assert "ATTACKER" not in metrics and 'agency="SXD"' not in metrics
    finally:
        worker.stop()
    assert "Crashed reason=" not in worker.log()
