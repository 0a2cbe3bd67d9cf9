"""Wire contract v1: every inbound type parses, every bad input says what and where."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import events as ev
from events import alert_id, decode, encode, parse_event, parse_event_obj

from support.outbound import make_alert, make_assignment

BASE: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "2b1f6c1e-0000-4000-8000-000000000001",
    "dossier_id": "000.00.20.H33-260427-0001",
    "occurred_at": "2026-04-27T08:15:00+07:00",
    "agency": "MOT-CUA",
}

EXTRA: dict[str, dict[str, Any]] = {
    "dossier.received": {"procedure": "1.009994", "channel": "online", "applicant": "citizen"},
    "step.completed": {"step": "appraisal", "outcome": "ok"},
    "step.started": {"step": "appraisal"},
    "dossier.handed_off": {"to_agency": "SXD", "step": "appraisal", "from_agency": "MOT-CUA"},
    "dossier.supplement_requested": {"reason": "thiếu bản vẽ"},
    "dossier.supplement_received": {},
    "dossier.rescheduled": {"new_due_at": "2026-05-12T17:30:00+07:00", "reason": "xin lỗi"},
    "dossier.result_ready": {"outcome": "approved"},
    "dossier.returned": {},
    "dossier.withdrawn": {"reason": "rút hồ sơ"},
    "dossier.rejected": {"reason": "không đủ điều kiện"},
}


def event(kind: str, **over: Any) -> dict[str, Any]:
    return {**BASE, "type": kind, **EXTRA[kind], **over}


def raw(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def test_every_registered_type_has_a_sample() -> None:
    assert set(EXTRA) == set(ev.EVENT_TYPES)


@pytest.mark.parametrize("kind", sorted(EXTRA))
def test_each_type_parses_to_its_model(kind: str) -> None:
    parsed = parse_event(raw(event(kind)))
    assert type(parsed) is ev.EVENT_TYPES[kind]
    assert parsed.dossier_id == BASE["dossier_id"]
    assert parsed.occurred_at == datetime(2026, 4, 27, 1, 15, tzinfo=UTC)


def test_step_completed_outcome_defaults_to_ok() -> None:
    obj = event("step.completed")
    del obj["outcome"]
    parsed = parse_event(raw(obj))
    assert isinstance(parsed, ev.StepCompleted)
    assert parsed.outcome == "ok"


def test_models_are_frozen() -> None:
    parsed = parse_event(raw(event("dossier.received")))
    with pytest.raises(ValueError):
        parsed.dossier_id = "other"  # type: ignore[misc]


def _err(data: bytes) -> ev.ContractError:
    with pytest.raises(ev.ContractError) as info:
        parse_event(data)
    return info.value


@pytest.mark.parametrize(
    ("data", "kind", "field", "fragment"),
    [
        # a type nobody registered
        (
            raw(event("dossier.received", type="dossier.lost")),
            ev.ReasonKind.UNKNOWN_TYPE,
            "type",
            "unknown type 'dossier.lost'",
        ),
        # no type at all
        (
            raw({k: v for k, v in event("dossier.returned").items() if k != "type"}),
            ev.ReasonKind.UNKNOWN_TYPE,
            "type",
            "missing",
        ),
        # a received event without its procedure
        (
            raw({k: v for k, v in event("dossier.received").items() if k != "procedure"}),
            ev.ReasonKind.SCHEMA_ERROR,
            "procedure",
            "Field required",
        ),
        # wall-clock time without an offset is ambiguous across agencies
        (
            raw(event("dossier.returned", occurred_at="2026-04-27T08:15:00")),
            ev.ReasonKind.SCHEMA_ERROR,
            "occurred_at",
            "naive",
        ),
        # a future schema this engine cannot read
        (
            raw(event("dossier.returned", schema_version=2)),
            ev.ReasonKind.UNSUPPORTED_VERSION,
            "schema_version",
            "2",
        ),
        # true is not 1
        (
            raw(event("dossier.returned", schema_version=True)),
            ev.ReasonKind.UNSUPPORTED_VERSION,
            "schema_version",
            "True",
        ),
        # 65 characters: one too many for a dossier id
        (
            raw(event("dossier.returned", dossier_id="D" * 65)),
            ev.ReasonKind.SCHEMA_ERROR,
            "dossier_id",
            "at most 64",
        ),
        # an empty dossier id
        (
            raw(event("dossier.returned", dossier_id="")),
            ev.ReasonKind.SCHEMA_ERROR,
            "dossier_id",
            "at least 1",
        ),
        # a number where a string belongs is not coerced
        (raw(event("dossier.returned", agency=12)), ev.ReasonKind.SCHEMA_ERROR, "agency", "string"),
        # a field the contract does not know
        (
            raw(event("dossier.returned", colour="red")),
            ev.ReasonKind.SCHEMA_ERROR,
            "colour",
            "unknown field",
        ),
        # a channel outside the enum
        (
            raw(event("dossier.received", channel="fax")),
            ev.ReasonKind.SCHEMA_ERROR,
            "channel",
            "online",
        ),
        # the rescheduled due date must be aware too
        (
            raw(event("dossier.rescheduled", new_due_at="2026-05-12T17:30:00")),
            ev.ReasonKind.SCHEMA_ERROR,
            "new_due_at",
            "naive",
        ),
        # Latin-1 bytes, not UTF-8
        ("Hồ sơ".encode("utf-16"), ev.ReasonKind.INVALID_ENCODING, "$", "offset 0"),
        # truncated JSON
        (b'{"schema_version": 1, "type": ', ev.ReasonKind.INVALID_JSON, "$", "line 1"),
        # a JSON array is not an event
        (b"[1, 2]", ev.ReasonKind.SCHEMA_ERROR, "$", "JSON object"),
    ],
)
def test_invalid_input_names_the_field(
    data: bytes, kind: ev.ReasonKind, field: str, fragment: str
) -> None:
    error = _err(data)
    assert error.kind is kind
    assert any(p.field == field and fragment in p.message for p in error.problems), error.problems


def test_payload_over_64_kib_is_refused_before_parsing() -> None:
    obj = event("dossier.withdrawn", reason="x" * 1000)
    padded = raw(obj) + b" " * (ev.MAX_EVENT_BYTES - len(raw(obj)) + 1)
    error = _err(padded)
    assert error.kind is ev.ReasonKind.TOO_LARGE
    assert str(ev.MAX_EVENT_BYTES) in str(error)
    # exactly at the limit is still accepted
    assert parse_event(padded[: ev.MAX_EVENT_BYTES]).type == "dossier.withdrawn"


def test_every_problem_is_reported_not_just_the_first() -> None:
    error = _err(raw(event("dossier.received", channel="fax", occurred_at="2026-04-27T08:00")))
    assert {p.field for p in error.problems} == {"channel", "occurred_at"}


def test_topic_prefix_applies_to_every_topic() -> None:
    names = ev.TopicNames.with_prefix("t-1-")
    assert names.events == "t-1-dossier-events"
    assert all(n.startswith("t-1-dossier-") for n in names.all())
    assert len(set(names.all())) == len(names.all()) == 8  # distinct, and every one


def test_alert_id_is_deterministic_and_distinguishes_every_part() -> None:
    base = ("D1", ev.AlertScope.STEP, "appraisal", ev.AlertLevel.OVERDUE, 0)
    assert alert_id(*base) == alert_id(*base)
    variants = [
        ("D2", ev.AlertScope.STEP, "appraisal", ev.AlertLevel.OVERDUE, 0),
        ("D1", ev.AlertScope.DOSSIER, "appraisal", ev.AlertLevel.OVERDUE, 0),
        ("D1", ev.AlertScope.STEP, "intake", ev.AlertLevel.OVERDUE, 0),
        ("D1", ev.AlertScope.STEP, "appraisal", ev.AlertLevel.DUE_SOON, 0),
        ("D1", ev.AlertScope.STEP, "appraisal", ev.AlertLevel.OVERDUE, 1),
    ]
    assert len({alert_id(*v) for v in [base, *variants]}) == 6


# --- round trips -----------------------------------------------------------------------

#: Printable text: ids and codes refuse control and format characters (test_printable.py).
printable_chars = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"))
codes = st.text(printable_chars | st.just(" "), min_size=1, max_size=64)
aware = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-5))]),
)


@given(
    event_id=codes,
    dossier_id=codes,
    at=aware,
    agency=codes,
    procedure=codes,
    channel=st.sampled_from(["online", "in_person", "postal"]),
    applicant=st.sampled_from([None, "citizen", "business"]),
    actor=st.none() | codes,
)
def test_received_round_trips_through_bytes(
    event_id: str,
    dossier_id: str,
    at: datetime,
    agency: str,
    procedure: str,
    channel: str,
    applicant: str | None,
    actor: str | None,
) -> None:
    model = ev.DossierReceived.model_validate(
        {
            "event_id": event_id,
            "dossier_id": dossier_id,
            "occurred_at": at,
            "agency": agency,
            "procedure": procedure,
            "channel": channel,
            "applicant": applicant,
            "actor": actor,
        }
    )
    assert parse_event(encode(model)) == model


@given(step=codes, outcome=codes, to_agency=st.none() | codes, at=aware)
def test_step_completed_round_trips(
    step: str, outcome: str, to_agency: str | None, at: datetime
) -> None:
    model = ev.StepCompleted(
        event_id="e",
        dossier_id="d",
        occurred_at=at,
        agency="a",
        step=step,
        outcome=outcome,
        to_agency=to_agency,
    )
    assert parse_event(encode(model)) == model


@given(
    at=aware,
    due=aware,
    step=st.none() | codes,
    n=st.integers(0, 10),
    level=st.sampled_from(list(ev.AlertLevel)),
    scope=st.sampled_from(list(ev.AlertScope)),
)
def test_outbound_records_round_trip(
    at: datetime,
    due: datetime,
    step: str | None,
    n: int,
    level: ev.AlertLevel,
    scope: ev.AlertScope,
) -> None:
    alert = make_alert(
        dossier="d",
        procedure="1.009994",
        name=None,
        scope=scope,
        level=level,
        step=step,
        due=due,
        detected=at,
        deadline_version=n,
        recipients=(ev.Recipient(name="A", role="department_head", email="a@x.example"),),
    )
    assert decode(ev.Alert, encode(alert)) == alert
    assignment = make_assignment(
        assignment_id="x",
        dossier="d",
        procedure="p",
        step="s",
        agency="a",
        assigned_at=at,
        step_due_at=due,
        cause="e",
    )
    assert decode(ev.Assignment, encode(assignment)) == assignment


@given(original=st.binary(max_size=300), offset=st.integers(0, 2**62))
def test_dead_letter_keeps_the_original_bytes(original: bytes, offset: int) -> None:
    letter = ev.DeadLetter(
        reason=ev.ReasonKind.INVALID_JSON,
        error="$: invalid JSON",
        original_b64=ev.DeadLetter.wrap(original),
        source_topic="dossier-events",
        source_partition=3,
        source_offset=offset,
        dead_lettered_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    back = decode(ev.DeadLetter, encode(letter))
    assert back.original == original
    assert back.source_offset == offset


# --- the fast path accepts nothing the precise path refuses ---------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.sampled_from(
        [
            "",
            "ok",
            "online",
            "2026-04-27T08:15:00+07:00",
            "2026-04-27T08:15:00",
            "approved",
            "1.009994",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=2) | st.dictionaries(st.text(max_size=3), children, max_size=2)
    ),
    max_leaves=4,
)


@given(
    kind=st.sampled_from(sorted(EXTRA)),
    field=st.text(min_size=1, max_size=14)
    | st.sampled_from(
        [
            "schema_version",
            "event_id",
            "dossier_id",
            "occurred_at",
            "agency",
            "actor",
            "channel",
            "outcome",
            "step",
            "new_due_at",
            "procedure",
        ]
    ),
    value=json_values,
    drop=st.booleans(),
)
def test_fast_and_precise_paths_agree(kind: str, field: str, value: Any, drop: bool) -> None:
    obj = event(kind)
    if drop:
        obj.pop(field, None)
    else:
        obj[field] = value
    data = raw(obj)
    try:
        precise = parse_event_obj(json.loads(data))
    except ev.ContractError:
        precise = None
    try:
        fast = parse_event(data)
    except ev.ContractError:
        fast = None
    assert fast == precise
