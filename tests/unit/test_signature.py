"""Signed events (events/signature.py) against a registry (workflows/publishers.py), and
the router's first check (agents/runtime/senders.py, RouterCore): no broker."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from agents.access.signing import verify
from agents.runtime.records import Coordinates
from agents.runtime.router import RawRecord, RouterCore, Tables
from agents.runtime.senders import LOG_APPEND_TIME, SenderCheck, broker_time
from agents.tools.signing import Signer
from events import encode
from events.signature import (
    KEY_HEADER,
    PUBLISHER_HEADER,
    SIGNATURE_HEADER,
    Unauthenticated,
    VerifiedSender,
    signed_bytes,
)
from workflows.publishers import PublisherRegistry, parse, render
from workflows.routing import Sender

from support.context import routing_context
from support.dossiers import receipt
from support.signing import entry, key_for, signer

ROTATION = datetime(2026, 7, 1, tzinfo=UTC)
BEFORE, AFTER = ROTATION - timedelta(seconds=1), ROTATION
NOW = datetime(2026, 6, 1, 1, tzinfo=UTC)


def registry() -> PublisherRegistry:
    """igate speaks for MOTCUA and STC; its key k1 retired at ROTATION, k2 took over."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    igate = entry(
        "igate", ["MOTCUA", "STC"], [("k1", start, ROTATION), ("k2", ROTATION - timedelta(1), None)]
    )
    # Through its text form: what a worker loads is what is tested.
    return parse(render([igate, entry()]))


def test_a_signed_record_verifies_as_its_publisher() -> None:
    headers = signer("igate", "k1").headers(b"D1", b"value")
    assert verify(registry(), headers, b"D1", b"value", NOW) == VerifiedSender(
        "igate", "k1", frozenset({"MOTCUA", "STC"})
    )


def test_a_publisher_for_any_agency_has_no_agency_bound() -> None:
    headers = signer().headers(b"D1", b"v")
    checked = verify(registry(), headers, b"D1", b"v", NOW)
    assert isinstance(checked, VerifiedSender) and checked.agencies is None


def reason(headers: list[tuple[str, bytes]], key: bytes, value: bytes, at: datetime | None) -> str:
    checked = verify(registry(), headers, key, value, at)
    assert isinstance(checked, Unauthenticated), checked
    return checked.reason


SIGNED = signer("igate", "k1").headers(b"D1", b'{"a": 1}')


@pytest.mark.parametrize(
    ("headers", "key", "value", "expected"),
    [
        # no headers at all
        ([], b"D1", b'{"a": 1}', "unsigned"),
        # one byte of the value changed
        (SIGNED, b"D1", b'{"a": 2}', "bad signature"),
        # the same value and signature replayed under another dossier
        (SIGNED, b"D2", b'{"a": 1}', "bad signature"),
        # signed with a private key that is not k1's, claiming k1
        (
            Signer("igate", "k1", key_for("stolen?")).headers(b"D1", b'{"a": 1}'),
            b"D1",
            b'{"a": 1}',
            "bad signature",
        ),
        # a publisher the registry does not know
        (signer("mallory", "k1").headers(b"D1", b"v"), b"D1", b"v", "unknown publisher 'mallory'"),
        # a key id the registry does not list
        (signer("igate", "k9").headers(b"D1", b"v"), b"D1", b"v", "unknown key 'k9'"),
        # the signature header alone
        (SIGNED[2:], b"D1", b'{"a": 1}', "missing header dossierflow-publisher"),
        # two signatures: a consumer would have to pick one
        ([*SIGNED, SIGNED[2]], b"D1", b'{"a": 1}', "appears more than once"),
        # a truncated signature
        ([*SIGNED[:2], (SIGNATURE_HEADER, SIGNED[2][1][:10])], b"D1", b'{"a": 1}', "10 bytes"),
    ],
)
def test_records_not_signed_by_a_registered_key_are_refused(
    headers: list[tuple[str, bytes]], key: bytes, value: bytes, expected: str
) -> None:
    assert expected in reason(headers, key, value, NOW)


def test_the_signature_binds_the_topic_the_ids_and_field_boundaries() -> None:
    base = signed_bytes("p", "k", b"D1", b"v")
    assert signed_bytes("p", "k", b"D1", b"v", topic="dossier-alerts") != base
    # bytes moved from the key into the value are not the same record
    assert signed_bytes("p", "k", b"D", b"1v") != base
    assert signed_bytes("p", "k", None, b"v") != signed_bytes("p", "k", b"", b"v")


@pytest.mark.parametrize(
    ("key_id", "at", "expected"),
    [
        ("k1", BEFORE, None),  # appended a second before the rotation: the old key holds
        ("k1", AFTER, "key 'k1' of 'igate' retired at 2026-07-01T00:00:00+00:00"),
        ("k1", None, "no broker timestamp"),  # a retired key needs the broker's time
        ("k2", AFTER, None),  # the new key after the rotation
        ("k2", datetime(2026, 3, 1, tzinfo=UTC), "valid from"),  # before its valid_from
    ],
)
def test_key_rotation_is_judged_by_the_broker_timestamp(
    key_id: str, at: datetime | None, expected: str | None
) -> None:
    headers = signer("igate", key_id).headers(b"D1", b"v")
    checked = verify(registry(), headers, b"D1", b"v", at)
    if expected is None:
        assert isinstance(checked, VerifiedSender)
    else:
        assert isinstance(checked, Unauthenticated) and expected in checked.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("publishers: 3\n", "publishers.yaml:1: publishers: must be a list"),
        ("nothing: []\n", "unknown field 'nothing'"),
        ("publishers: [\n", "not valid YAML"),
        (
            "publishers:\n  - id: p\n    agencies: [A]\n    keys:\n      - id: k\n"
            "        public_key: AAAA\n        valid_from: 2026-01-01T00:00:00Z\n",
            "publishers.yaml:6: publishers[0].keys[0].public_key: must be the base64",
        ),
        (
            "publishers:\n  - id: p\n    agencies: []\n    keys: []\n",
            "publishers.yaml:3: publishers[0].agencies: must be a non-empty list",
        ),
        (
            "publishers:\n  - id: p\n    agencies: [A]\n    keys:\n      - id: k\n"
            f"        public_key: {'A' * 43}=\n        valid_from: 2026-01-01\n",
            "publishers.yaml:7: publishers[0].keys[0].valid_from: 2026-01-01 has no UTC offset",
        ),
        (
            "publishers:\n  - id: p\n    agencies: [A]\n    keys:\n      - id: k\n"
            f"        public_key: {'A' * 43}=\n        valid_from: 2026-02-01T00:00:00Z\n"
            "        retired_at: 2026-01-01T00:00:00Z\n",
            "publishers.yaml:8: publishers[0].keys[0].retired_at: must be after valid_from",
        ),
    ],
)
def test_registry_problems_name_file_line_and_field(text: str, expected: str) -> None:
    from workflows.publishers import PublisherRegistryError

    with pytest.raises(PublisherRegistryError) as caught:
        parse(text, "publishers.yaml")
    assert expected in str(caught.value)


def test_a_duplicate_publisher_is_refused_with_its_line() -> None:
    from workflows.publishers import PublisherRegistryError

    text = render([entry(), entry()])
    with pytest.raises(PublisherRegistryError, match="duplicate publisher 'test-publisher'"):
        parse(text)


def test_only_a_log_append_timestamp_is_the_brokers() -> None:
    assert broker_time(1.5e9, LOG_APPEND_TIME) == datetime.fromtimestamp(1.5e9, UTC)
    assert broker_time(1.5e9, 0) is None  # CreateTime: the producer's claim
    assert broker_time(None, LOG_APPEND_TIME) is None


# --- the router: verification before anything else ------------------------------------


def core(require: bool = True) -> RouterCore:
    return RouterCore(
        routing_context(),
        Tables({}, {}, {}),
        ticks_topic="ticks",
        senders=SenderCheck(registry(), require_signatures=require),
    )


def raw_record(value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> RawRecord:
    at = NOW
    return RawRecord(value, Coordinates("events", 0, 7, key), tuple(headers), at)


def test_the_router_dead_letters_an_unsigned_record_before_decoding_it() -> None:
    result = core().run_batch([raw_record(b"not even json", b"D1", [])], NOW)
    (letter,) = [json.loads(o.value) for o in result.outgoing]
    assert letter["reason"] == "unauthenticated" and "unsigned" in letter["error"]
    assert letter["source_offset"] == 7 and result.dead_lettered == 1


def test_a_signed_malformed_record_meets_the_usual_checks() -> None:
    value = b"not even json"
    result = core().run_batch([raw_record(value, b"D1", signer().headers(b"D1", value))], NOW)
    (letter,) = [json.loads(o.value) for o in result.outgoing]
    assert letter["reason"] == "invalid_json"


def test_the_verified_sender_reaches_apply() -> None:
    seen: list[Sender] = []

    def authorize(state: object, event: object, sender: Sender) -> None:
        seen.append(sender)

    router = core()
    router.ctx = dataclasses.replace(router.ctx, authorize=authorize)
    value = encode(receipt("D1", "r", datetime(2026, 6, 1, 8, tzinfo=UTC)))
    headers = signer("igate", "k1").headers(b"D1", value)
    router.run_batch([raw_record(value, b"D1", headers)], NOW)
    assert seen == [Sender("igate", frozenset({"MOTCUA", "STC"}), NOW)]


def test_without_required_signatures_an_unsigned_event_is_anyones_but_a_bad_one_is_not() -> None:
    value = encode(receipt("D1", "r", datetime(2026, 6, 1, 8, tzinfo=UTC)))
    bad = [(PUBLISHER_HEADER, b"igate"), (KEY_HEADER, b"k2"), (SIGNATURE_HEADER, b"x" * 64)]
    result = core(require=False).run_batch(
        [raw_record(value, b"D1", []), raw_record(value, b"D2", bad)], NOW
    )
    reasons = [json.loads(o.value)["reason"] for o in result.outgoing if o.topic == "dlq"]
    assert reasons == ["unauthenticated"] and result.applied == 1
