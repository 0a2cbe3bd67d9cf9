"""``dossierflow dlq`` and ``publish --wait``: each dead letter once, filtered, one printable
line (and its original, escaped); each published event refused, applied or pending."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from kafka.errors import GroupAuthorizationFailedError

from agents.settings import Settings
from agents.tools import dlq_view
from agents.tools.dlq_view import (
    Fate,
    outcomes,
    parse_dead_letters,
    render,
    render_original,
    select,
    summary,
)
from agents.tools.publisher import Placed, PublishReport
from events import DeadLetter, ReasonKind, encode
from events.outbound import EXCERPT_BYTES, WHOLE_ORIGINAL_MAX
from workflows.calendar import VN_TZ

AT = datetime(2026, 3, 2, 9, 5, tzinfo=VN_TZ)
EVENTS = "dossier-events"


def event_bytes(dossier: str, agency: str) -> bytes:
    return json.dumps(
        {"event_id": f"e-{dossier}", "dossier_id": dossier, "agency": agency}
    ).encode()


def letter(
    dossier: str | None,
    offset: int,
    reason: ReasonKind = ReasonKind.UNKNOWN_PROCEDURE,
    *,
    raw: bytes | None = None,
    key: str | None = None,
    minutes: int = 0,
) -> DeadLetter:
    return DeadLetter.of(
        raw if raw is not None else event_bytes(dossier or "?", "MOTCUA"),
        reason=reason,
        error="procedure '9.999999' is not in the catalog",
        source_topic=EVENTS,
        source_partition=2,
        source_offset=offset,
        source_key=(key or dossier or "").encode(),
        dead_lettered_at=AT + timedelta(minutes=minutes),
        event_id=None if dossier is None else f"e-{dossier}",
        dossier_id=dossier,
    )


def test_each_dead_letter_once_in_time_order_other_records_skipped() -> None:
    late, early = letter("HS-2", 8, minutes=3), letter("HS-1", 7)
    # re-delivered and dead-lettered again: the same source coordinates, shown once
    again = letter("HS-2", 8, minutes=4)
    assert parse_dead_letters([encode(late), b"not json", None, encode(early), encode(again)]) == [
        early,
        late,
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"reason": "unauthorized"}, ["HS-2"]),
        ({"dossier": "HS-1"}, ["HS-1"]),
        # nothing parsed: the record's key is the dossier (publishers key by it)
        ({"dossier": "HS-RAW"}, ["HS-RAW"]),
        # the agency is the one in the refused event itself
        ({"agency": "CAMDUONG"}, ["HS-2"]),
        ({"agency": "MOTCUA", "reason": "unknown_procedure"}, ["HS-1"]),
        ({}, ["HS-1", "HS-2", "HS-RAW"]),
    ],
)
def test_select_by_reason_dossier_and_agency(filters: dict[str, str], expected: list[str]) -> None:
    letters = [
        letter("HS-1", 1),
        letter("HS-2", 2, ReasonKind.UNAUTHORIZED, raw=event_bytes("HS-2", "CAMDUONG")),
        letter(None, 3, ReasonKind.INVALID_JSON, raw=b"{", key="HS-RAW"),
    ]
    assert [d.source_key for d in select(letters, **filters)] == expected


def test_one_line_with_where_it_was_read_and_nothing_unprintable() -> None:
    assert render(letter("HS-1", 7)) == (
        "2026-03-02 09:05  unknown_procedure  HS-1  e-HS-1  "
        "procedure '9.999999' is not in the catalog  (dossier-events 2@7)"
    )
    hostile = letter("HS-1", 7).model_copy(update={"error": "a\nb\x1b[2Kc"})
    assert render(hostile).endswith("a\\nb\\x1b[2Kc  (dossier-events 2@7)")
    assert render(letter(None, 9, raw=b"{", key="HS-K")).startswith(
        "2026-03-02 09:05  unknown_procedure  HS-K  -  "
    )


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b'{"a": "\xc3\xa1"}', '    original (11 bytes): {"a": "á"}'),
        # not UTF-8, and a terminal escape: both shown as escapes, never sent as they are
        (b"\xff\x1b[2J", "    original (5 bytes): \\xff\\x1b[2J"),
        (b"\xe2\x80\xae", "    original (3 bytes): \\u202e"),  # a bidi override
        (b"", "    original (0 bytes): "),
        (b"x", "    original (1 byte): x"),
    ],
)
def test_the_original_decoded_and_escaped(raw: bytes, shown: str) -> None:
    assert render_original(letter(None, 1, raw=raw)) == shown


def test_a_truncated_original_says_so() -> None:
    big = b"{" + b" " * WHOLE_ORIGINAL_MAX + b"}"
    line = render_original(letter(None, 1, raw=big))
    assert line.startswith(f"    original (first {EXCERPT_BYTES} of {len(big)} bytes): {{ ")


def placed(dossier: str, partition: int, offset: int) -> Placed:
    return Placed(f"e-{dossier}", dossier, "dossier.received", partition, offset)


def test_outcome_refused_applied_or_pending() -> None:
    sent = [placed("HS-1", 2, 7), placed("HS-2", 2, 8), placed("HS-3", 1, 5), placed("HS-4", 3, 0)]
    refused = letter("HS-2", 8, ReasonKind.UNAUTHORIZED)
    elsewhere = refused.model_copy(update={"source_topic": "other-events", "source_offset": 7})
    # partition 2 committed up to 9 (past 7 and 8); partition 1 only to 5: offset 5 is next
    found = outcomes(sent, [refused, elsewhere], {2: 9, 1: 5}, EVENTS)
    assert [(o.letter is not None, o.applied) for o in found] == [
        (False, True),  # committed past, no dead letter: applied
        (True, True),  # committed past, and dead-lettered: refused
        (False, False),  # not committed past yet
        (False, False),  # no commit on its partition at all
    ]
    lines = [o.render(30) for o in found]
    assert lines == [
        "applied  HS-1  e-HS-1  dossier.received",
        "refused  HS-2  e-HS-2  dossier.received  unauthorized: "
        "procedure '9.999999' is not in the catalog",
        "pending  HS-3  e-HS-3  dossier.received  (not processed within 30 s)",
        "pending  HS-4  e-HS-4  dossier.received  (not processed within 30 s)",
    ]
    assert summary(found, 30, "dossierflow") == (
        "router (group dossierflow): 1 applied, 1 refused, "
        "2 not processed within 30 s (is a worker running?)"
    )
    assert summary(found[:2], 30, "g") == "router (group g): 1 applied, 1 refused"


def test_a_refusal_counts_before_the_commit_reaches_it() -> None:
    (found,) = outcomes([placed("HS-2", 2, 8)], [letter("HS-2", 8)], {}, EVENTS)
    assert found == Fate(placed("HS-2", 2, 8), letter("HS-2", 8), applied=False)
    assert found.render(5).startswith("refused  HS-2  ")


HINT = "(is a worker running?)"


class FakeWatch:
    def __init__(self, letters: list[DeadLetter], committed: dict[int, int]) -> None:
        self.letters, self.committed, self.closed = letters, committed, False

    def wait(self, sent: list[Placed], wait_s: float) -> list[Fate]:
        return outcomes(sent, self.letters, self.committed, "dossier-events")

    def close(self) -> None:
        self.closed = True


def settings() -> Settings:
    return Settings(kafka_security_protocol="PLAINTEXT", app_id="df")


@pytest.mark.parametrize(
    ("committed", "code", "last"),
    [
        # one refused: exit 1
        ({2: 9}, 1, "router (group df): 1 applied, 1 refused"),
        # the router has not got there (no commit): pending, and still exit 1
        ({}, 1, f"router (group df): 0 applied, 1 refused, 1 not processed within 5 s {HINT}"),
    ],
)
def test_publish_and_wait_prints_each_outcome(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    committed: dict[int, int],
    code: int,
    last: str,
) -> None:
    watch = FakeWatch([letter("HS-2", 8)], committed)
    monkeypatch.setattr(dlq_view, "watch_from", lambda _: watch)
    sent = (placed("HS-1", 2, 7), placed("HS-2", 2, 8))
    report = PublishReport(published=2, placed=sent)
    assert dlq_view.publish_and_wait(settings(), lambda: report, 5) == code
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "published 2 of 2 events to dossier-events"
    assert lines[2].startswith("refused  HS-2  e-HS-2  dossier.received  unknown_procedure: ")
    assert (lines[-1], watch.closed) == (last, True)


def test_publish_and_wait_all_applied_is_exit_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dlq_view, "watch_from", lambda _: FakeWatch([], {2: 8}))
    report = PublishReport(published=1, placed=(placed("HS-1", 2, 7),))
    assert dlq_view.publish_and_wait(settings(), lambda: report, 5) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "applied  HS-1  e-HS-1  dossier.received",
        "router (group df): 1 applied, 0 refused",
    ]


def test_publish_wait_without_the_grant_publishes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(_: Settings) -> FakeWatch:
        raise GroupAuthorizationFailedError()

    def publish() -> PublishReport:
        raise AssertionError("published although --wait cannot work")

    monkeypatch.setattr(dlq_view, "watch_from", refused)
    assert dlq_view.publish_and_wait(settings(), publish, 5) == 2
    assert capsys.readouterr().err.splitlines() == [
        "dossierflow publish: --wait needs the reader login to see how far group 'df' has got "
        "on 'dossier-events' (GROUP_AUTHORIZATION_FAILED): run `dossierflow acls` again; "
        "nothing was published"
    ]
