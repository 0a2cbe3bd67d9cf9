"""A dead letter always fits the broker: ``DeadLetter.of`` bounds it by construction.

Issue 19: a 1,000,002-byte record's dead letter wrapped it whole in base64
(1,333,748 bytes), the producer refused it and the worker died at every restart.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.runtime.records import Coordinates, dead_letter
from events import (
    DEAD_LETTER_MAX_BYTES,
    EXCERPT_BYTES,
    WHOLE_ORIGINAL_MAX,
    DeadLetter,
    ReasonKind,
    decode,
    encode,
)
from workflows.calendar import VN_TZ

NOW = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)
#: aiokafka's and kafka-python's default max_request_size; the broker's message.max.bytes
PRODUCER_MAX = 1_048_576


def letter(raw: bytes, *, error: str = "boom", key: bytes | None = b"D1") -> DeadLetter:
    return DeadLetter.of(
        raw,
        reason=ReasonKind.TOO_LARGE,
        error=error,
        source_topic="dossier-events",
        source_partition=3,
        source_offset=41,
        source_key=key,
        dead_lettered_at=NOW,
    )


def test_a_small_original_is_kept_whole_with_its_size_and_digest() -> None:
    raw = b'{"schema_version": 1}\n\xff'
    back = decode(DeadLetter, encode(letter(raw)))
    assert back.original == raw and not back.original_truncated
    assert back.original_size == len(raw)
    assert back.original_sha256 == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize(
    "size",
    [
        WHOLE_ORIGINAL_MAX,  # the largest kept whole
        WHOLE_ORIGINAL_MAX + 1,  # the smallest cut to an excerpt
        800_000,  # the 800 KB record of issue 19
        1_000_002,  # the raw 1,000,002-byte record of issue 19
        16 * 1024 * 1024,  # far past anything a broker would deliver
    ],
)
def test_a_large_original_keeps_an_excerpt_and_the_letter_fits(size: int) -> None:
    raw = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    encoded = encode(letter(raw))
    assert len(encoded) <= DEAD_LETTER_MAX_BYTES < PRODUCER_MAX
    back = decode(DeadLetter, encoded)
    assert back.original_size == size
    assert back.original_sha256 == hashlib.sha256(raw).hexdigest()
    if size <= WHOLE_ORIGINAL_MAX:
        assert back.original == raw and not back.original_truncated
    else:
        assert back.original == raw[:EXCERPT_BYTES] and back.original_truncated


def test_the_worst_case_letter_fits() -> None:
    # Every string at its longest, of the characters JSON spells longest (\u001f: 6 bytes).
    worst = "\x1f" * 1_000_000
    built = DeadLetter.of(
        b"\x00" * WHOLE_ORIGINAL_MAX,
        reason=ReasonKind.PROCESSING_ERROR,
        error=worst,
        source_topic=worst,
        source_partition=2**31 - 1,
        source_offset=2**63 - 1,
        source_key=worst.encode(),
        dead_lettered_at=NOW,
        event_id=worst,
        dossier_id=worst,
    )
    size = len(encode(built))
    print(f"\nworst-case dead letter: {size} bytes")
    assert size <= DEAD_LETTER_MAX_BYTES
    assert built.error.endswith("(1000000 chars)")


def test_an_old_dead_letter_without_the_new_fields_still_decodes() -> None:
    old = (
        b'{"schema_version":1,"record":"dead_letter","reason":"invalid_json","error":"x",'
        b'"original_b64":"e30=","source_topic":"t","source_partition":0,"source_offset":7,'
        b'"source_key":"D1","event_id":null,"dossier_id":null,'
        b'"dead_lettered_at":"2026-06-01T08:00:00+07:00"}'
    )
    back = decode(DeadLetter, old)
    assert back.original == b"{}" and not back.original_truncated
    assert back.original_size is None and back.original_sha256 is None


def test_the_dlq_record_key_is_bounded_too() -> None:
    source = Coordinates("dossier-events", 0, 9, b"k" * 900_000)
    out = dead_letter(b"{}", source, ReasonKind.INVALID_JSON, "x", NOW)
    assert out.key is None and len(out.value) < 8 * 1024
    small = dead_letter(b"{}", Coordinates("e", 0, 9, b"D1"), ReasonKind.INVALID_JSON, "x", NOW)
    assert small.key == b"D1"


@settings(max_examples=50, deadline=None)
@given(
    raw=st.binary(max_size=3 * EXCERPT_BYTES),
    error=st.text(max_size=6000),
    key=st.one_of(st.none(), st.binary(max_size=2000)),
)
def test_any_letter_round_trips_within_its_bounds(
    raw: bytes, error: str, key: bytes | None
) -> None:
    built = letter(raw, error=error, key=key)
    back = decode(DeadLetter, encode(built))
    assert back.original == raw  # under WHOLE_ORIGINAL_MAX: kept whole
    assert len(back.error) <= 4000
    assert back.source_key is None or len(back.source_key) <= 256
