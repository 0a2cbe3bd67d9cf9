"""Alert levels from a dossier's state: watch points, ticks, dedupe, escalation.

Expected instants are worked out by hand in the comments, never by calling the
code under test. Office hours 07:30-11:30 and 13:30-17:30 (8 h a working day).
With the default policy a span S of working time is due soon at
``start + S - min(max(S / 4, 8 h), S / 2)``: three quarters used or one day
left, whichever comes first, but never before half of it is used.

January 2027: Fri 22, Mon 25, Mon 02-01 are the weekday anchors. VN 2027 days
off used here: Tết Thu 02-04 .. Wed 02-10 (02-06/07 are the weekend); work
resumes Thu 02-11.

Every state is round-tripped through ``to_bytes``/``from_bytes`` before an event
or a tick, as the router's table does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import events as ev
from events import alert_id
from events.internal import DeadlineTick
from workflows.alerts import (
    AlertPolicy,
    WatchPoint,
    alert_mark,
    apply_tick,
    due_points,
    next_watch_point,
    watch_points,
)
from workflows.calendar import VN_TZ
from workflows.effects import Rejected
from workflows.routing import apply
from workflows.state import DossierState, Status

from support.context import expect_procedure, routing_context
from support.time import vn

CTX = routing_context(range(2026, 2029))
CATALOG, CAL = CTX.catalog, CTX.calendar
POLICY = AlertPolicy()
US = timedelta(microseconds=1)

MOTCUA, STC, SVHTTDL = "MOTCUA", "STC", "SVHTTDL"  # provincial desk; finance; culture
WARD_DESK = "CAMDUONG.TTPVHCC"  # the Cam Đường ward's one-stop desk
COMMUNE_DESK = "BAOTHANG.TTPVHCC"  # the Bảo Thắng commune's one-stop desk


def test_sample_procedures_are_the_ones_worked_out_by_hand() -> None:
    expect_procedure(CATALOG, "2.001610")
    expect_procedure(CATALOG, "SAMPLE-XB-01")
    expect_procedure(CATALOG, "1.013225")
    expect_procedure(CATALOG, "1.001193")


class Dossier:
    """One dossier: events applied with the pure routing function, ticks with ``apply_tick``."""

    def __init__(
        self, procedure: str, desk: str, received: str, dossier_id: str = "HS-2027-0001"
    ) -> None:
        self.dossier_id = dossier_id
        self.state: DossierState | None = None
        self.sent = 0
        self.send(
            ev.DossierReceived, received, desk, procedure=procedure, channel=ev.FilingChannel.ONLINE
        )

    @property
    def st(self) -> DossierState:
        assert self.state is not None
        return self.state

    def event(self, cls: type[Any], when: str, agency: str, **fields: Any) -> ev.InboundEvent:
        self.sent += 1
        event: ev.InboundEvent = cls(
            event_id=f"{self.dossier_id}/{self.sent}",
            dossier_id=self.dossier_id,
            occurred_at=vn(when),
            agency=agency,
            **fields,
        )
        return event

    def send(self, cls: type[Any], when: str, agency: str, **fields: Any) -> Dossier:
        loaded = None if self.state is None else DossierState.from_bytes(self.state.to_bytes())
        self.state, effects = apply(loaded, self.event(cls, when, agency, **fields), CTX)
        refused = [e for e in effects if isinstance(e, Rejected)]
        assert not refused, refused
        return self

    def done(self, when: str, agency: str, step: str) -> Dossier:
        return self.send(ev.StepCompleted, when, agency, step=step)

    def reschedule(self, when: str, agency: str, new_due: str, reason: str) -> Dossier:
        """The agency's apology at ``when``: the dossier's new appointment is ``new_due``."""
        return self.send(ev.DossierRescheduled, when, agency, new_due_at=vn(new_due), reason=reason)

    def tick(self, when: str | datetime) -> list[ev.Alert]:
        detected = vn(when) if isinstance(when, str) else when
        loaded = DossierState.from_bytes(self.st.to_bytes())
        tick = DeadlineTick(dossier_id=self.dossier_id, detected_at=detected)
        self.state, alerts = apply_tick(loaded, tick, CATALOG, CAL, POLICY)
        return alerts


def describe(at: datetime, scope: str, level: str, step: str | None) -> str:
    local = at.astimezone(VN_TZ)
    text = local.strftime("%Y-%m-%d %H:%M")
    if local.second or local.microsecond:
        text += f":{local.second:02}.{local.microsecond:06}"
    return f"{text} {scope} {level} {step or '-'}"


def points(state: DossierState) -> list[str]:
    return sorted(
        describe(p.at, p.scope, p.level, p.step) for p in watch_points(state, CAL, POLICY)
    )


def raised(alerts: list[ev.Alert]) -> list[str]:
    """What a tick raised: scope, level, step and deadline version of each alert."""
    return sorted(f"{a.scope} {a.level} {a.step or '-'} v{a.deadline_version}" for a in alerts)


# --- the instants of each level ---------------------------------------------------------------

# Dossiers from the sample catalog, by name; their instants are in the next table.
DOSSIERS = {
    # 2.001610 received Fri 01-22 09:00 at the provincial desk; still at step receive.
    "3d-fri-0900": lambda: Dossier("2.001610", MOTCUA, "2027-01-22 09:00"),
    # 2.001610 received Fri 01-22 16:00: one and a half working hours before the weekend.
    "3d-fri-1600": lambda: Dossier("2.001610", MOTCUA, "2027-01-22 16:00"),
    # 2.001610 received Fri 01-22 09:00, receive done 10:00: at review (STC, 1.5 days).
    "3d-review": lambda: Dossier("2.001610", MOTCUA, "2027-01-22 09:00").done(
        "2027-01-22 10:00", MOTCUA, "receive"
    ),
    # SAMPLE-XB-01 received Fri 01-22 07:30, receive done 08:00: at review (SVHTTDL, 7 days).
    "11d-review": lambda: Dossier("SAMPLE-XB-01", MOTCUA, "2027-01-22 07:30").done(
        "2027-01-22 08:00", MOTCUA, "receive"
    ),
    # 2.001610 received Tue 02-02 09:00, two working days before Tết.
    "3d-before-tet": lambda: Dossier("2.001610", MOTCUA, "2027-02-02 09:00"),
    # 1.013225 (calendar days) received Mon 01-25 07:30 at the ward's desk.
    "10cd-tet": lambda: Dossier("1.013225", WARD_DESK, "2027-01-25 07:30"),
    # 1.001193 (same day, cut-off 15:00) received Mon 01-25 09:00, before the cut-off.
    "same-day": lambda: Dossier("1.001193", COMMUNE_DESK, "2027-01-25 09:00"),
}


@pytest.mark.parametrize(
    ("dossier", "expected"),
    [
        pytest.param(
            "3d-fri-0900",
            [
                # receive, 0.5 day = 4 h: 2.5 h to 11:30 + 1.5 h from 13:30 -> Fri 15:00;
                # half of 4 h (2 h, the floor) beats "8 h left" -> due soon Fri 11:00.
                "2027-01-22 11:00 step due_soon receive",
                "2027-01-22 15:00 step overdue receive",
                # dossier, 3 days = 24 h: Fri 6.5 + Mon 8 + Tue 8 + Wed 1.5 -> Wed 09:00;
                # max(24/4, 8) = 8 h left -> 16 h in: Fri 6.5 + Mon 8 + Tue 1.5 -> Tue 09:00.
                "2027-01-26 09:00 dossier due_soon -",
                "2027-01-27 09:00 dossier overdue -",
                # statutory time = committed time (3 days)
                "2027-01-27 09:00 dossier statutory_breach -",
            ],
            id="half-day step and 3-day dossier over a weekend",
        ),
        pytest.param(
            "3d-fri-1600",
            [
                # receive 4 h: Fri 16:00-17:30 1.5 h, Mon 2.5 h -> Mon 10:00; due soon after
                # 2 h: Fri 1.5 + Mon 0.5 -> Mon 08:00 (nothing on the weekend).
                "2027-01-25 08:00 step due_soon receive",
                "2027-01-25 10:00 step overdue receive",
                # dossier 24 h: Fri 1.5 + Mon 8 + Tue 8 + Wed 6.5 (4 to 11:30, 2.5 from
                # 13:30) -> Wed 16:00; 16 h in: Fri 1.5 + Mon 8 + Tue 6.5 -> Tue 16:00.
                "2027-01-26 16:00 dossier due_soon -",
                "2027-01-27 16:00 dossier overdue -",
                "2027-01-27 16:00 dossier statutory_breach -",
            ],
            id="received on Friday afternoon",
        ),
        pytest.param(
            "3d-review",
            [
                # review 1.5 days = 12 h from Fri 10:00: Fri 1.5 + 4 = 5.5 h, Mon 6.5 h
                # (4 to 11:30 + 2.5 from 13:30) -> Mon 16:00. min(max(3, 8), 6) = 6 h left:
                # 6 h in = Fri 5.5 + Mon 0.5 -> Mon 08:00, across the weekend.
                "2027-01-25 08:00 step due_soon review",
                "2027-01-25 16:00 step overdue review",
                "2027-01-26 09:00 dossier due_soon -",
                "2027-01-27 09:00 dossier overdue -",
                "2027-01-27 09:00 dossier statutory_breach -",
            ],
            id="1.5-day step over a weekend",
        ),
        pytest.param(
            "11d-review",
            [
                # review 7 days = 56 h from Fri 01-22 08:00: Fri 7.5, then Jan 25-29 and
                # Feb 1 (6 days, 55.5 h), + 0.5 h -> Tue 02-02 08:00. 14 h left (56/4):
                # 42 h in = Fri 7.5 + Jan 25-28 (32) + 2.5 h on Fri 01-29 -> 10:00.
                "2027-01-29 10:00 step due_soon review",
                "2027-02-02 08:00 step overdue review",
                # dossier 11 days = 88 h from Fri 01-22 07:30: working days Jan 22, 25-29,
                # Feb 1-3 (9 days, 72 h), Tết, Feb 11-12 -> Fri 02-12 17:30 (without Tết it
                # would be Fri 02-05, inside Tết). 22 h left (88/4): 66 h in = 8 days
                # (to Tue 02-02) + 2 h -> Wed 02-03 09:30.
                "2027-02-03 09:30 dossier due_soon -",
                "2027-02-12 17:30 dossier overdue -",
                # statutory 15 days = 120 h: + Feb 15-18 -> Thu 02-18 17:30.
                "2027-02-18 17:30 dossier statutory_breach -",
            ],
            id="7-day step and 11-day dossier over Tet",
        ),
        pytest.param(
            "3d-before-tet",
            [
                # receive 4 h from Tue 02-02 09:00 -> 15:00, due soon 11:00 (as above).
                "2027-02-02 11:00 step due_soon receive",
                "2027-02-02 15:00 step overdue receive",
                # dossier 24 h: Tue 6.5 + Wed 02-03 8 = 14.5 h before Tết; Thu 02-11 8 h
                # (22.5); Fri 02-12 1.5 h -> 09:00. 16 h in: 14.5 + 1.5 -> Thu 02-11 09:00.
                # Nothing falls inside Tết: the working time had not run out.
                "2027-02-11 09:00 dossier due_soon -",
                "2027-02-12 09:00 dossier overdue -",
                "2027-02-12 09:00 dossier statutory_breach -",
            ],
            id="3-day dossier with time left over Tet",
        ),
        pytest.param(
            "10cd-tet",
            [
                # receive, 1 calendar day: the close of Tue 01-26 (17:30). Span from Mon
                # 07:30: 16 h; min(max(4, 8), 8) = 8 h left -> Mon 17:30 (a period end).
                "2027-01-25 17:30 step due_soon receive",
                "2027-01-26 17:30 step overdue receive",
                # committed 10 calendar days: Thu 02-04, in Tết -> the close of Thu 02-11;
                # statutory 15: Tue 02-09, in Tết -> the same close. Span: Jan 25-29 and
                # Feb 1-3 (8 days) + Feb 11 = 72 h; 18 h left (72/4): 54 h in = 6 days
                # (to Mon 02-01) + 6 h on Tue 02-02 (4 to 11:30, 2 from 13:30) -> 15:30.
                "2027-02-02 15:30 dossier due_soon -",
                "2027-02-11 17:30 dossier overdue -",
                "2027-02-11 17:30 dossier statutory_breach -",
            ],
            id="calendar-day procedure over Tet",
        ),
        pytest.param(
            "same-day",
            [
                # Everything due at the close of Mon 01-25. Span from 09:00: 2.5 + 4 = 6.5 h;
                # min(max(1.625, 8), 3.25) = 3.25 h left: 3.25 h in = 2.5 to 11:30 + 0.75 ->
                # 14:15, for the step and the dossier alike.
                "2027-01-25 14:15 dossier due_soon -",
                "2027-01-25 14:15 step due_soon receive",
                "2027-01-25 17:30 dossier overdue -",
                "2027-01-25 17:30 dossier statutory_breach -",
                "2027-01-25 17:30 step overdue receive",
            ],
            id="same-day procedure",
        ),
    ],
)
def test_watch_points_of_each_level(dossier: str, expected: list[str]) -> None:
    state = DOSSIERS[dossier]().st
    assert points(state) == sorted(expected)
    first = next_watch_point(state, CAL, POLICY)
    assert first is not None
    assert describe(first.at, first.scope, first.level, first.step) == min(expected)


def test_step_due_soon_counts_from_the_counting_start_after_a_same_day_cutoff() -> None:
    # 1.001193 received Mon 01-25 16:00, after the 15:00 cut-off: the clock starts Tue 07:30
    # and the dossier and its first step are due at Tue's close (8 h). Half of the 8 h is
    # used at Tue 11:30: the dossier's due-soon instant, and the step's (the same span).
    state = Dossier("1.001193", COMMUNE_DESK, "2027-01-25 16:00").st
    assert points(state) == [
        "2027-01-26 11:30 dossier due_soon -",
        # (counted from the hand-over at Mon 16:00 the span would be 9.5 h: Tue 10:45)
        "2027-01-26 11:30 step due_soon receive",
        "2027-01-26 17:30 dossier overdue -",
        "2027-01-26 17:30 dossier statutory_breach -",
        "2027-01-26 17:30 step overdue receive",
    ]


def test_due_soon_after_a_pause_counts_only_working_time_used() -> None:
    d = DOSSIERS["11d-review"]()
    # Paused Mon 01-25 07:30 -> Mon 02-01 07:30: Jan 25-29, 40 working hours. The dossier's
    # due Fri 02-12 17:30 moves by 40 h (Feb 15-19) -> Fri 02-19 17:30. 88 h allotted, 22 h
    # left at 75 % used: Fri 02-19 17:30 - 22 h = Wed 02-17 09:30.
    d.send(ev.SupplementRequested, "2027-01-25 07:30", SVHTTDL, reason="Bổ sung bản thảo")
    d.send(ev.SupplementReceived, "2027-02-01 07:30", MOTCUA)
    due_soon = [p for p in points(d.st) if "dossier due_soon" in p]
    assert due_soon == ["2027-02-17 09:30 dossier due_soon -"]  # actual: Mon 02-15 17:30


# Dossier "3d-fri-0900": each level, one microsecond before and at its instant.
@pytest.mark.parametrize(
    ("instant", "scope", "level", "step"),
    [
        ("2027-01-22 11:00", "step", "due_soon", "receive"),  # 2 of the 4 h used
        ("2027-01-22 15:00", "step", "overdue", "receive"),  # 4 h used
        ("2027-01-26 09:00", "dossier", "due_soon", None),  # 8 of the 24 h left
        ("2027-01-27 09:00", "dossier", "overdue", None),  # 24 h used
        ("2027-01-27 09:00", "dossier", "statutory_breach", None),  # statutory = committed
    ],
)
def test_a_level_is_reached_at_its_instant_not_before(
    instant: str, scope: str, level: str, step: str | None
) -> None:
    state = DOSSIERS["3d-fri-0900"]().st
    wanted = describe(vn(instant), scope, level, step)

    def due_at(now: datetime) -> set[str]:
        return {
            describe(p.at, p.scope, p.level, p.step) for p in due_points(state, now, CAL, POLICY)
        }

    assert wanted not in due_at(vn(instant) - US)
    assert wanted in due_at(vn(instant))


def test_ticks_raise_each_level_once_with_the_alert_fields() -> None:
    d = DOSSIERS["11d-review"]()  # instants: see test_watch_points_of_each_level
    assert d.tick("2027-01-29 09:59") == []
    (soon,) = d.tick("2027-01-29 10:00")
    assert soon == ev.Alert(
        alert_id=alert_id(d.dossier_id, ev.AlertScope.STEP, "review", ev.AlertLevel.DUE_SOON, 0),
        dossier_id=d.dossier_id,
        procedure="SAMPLE-XB-01",
        procedure_name="Cấp giấy phép xuất bản tài liệu không kinh doanh",
        scope=ev.AlertScope.STEP,
        level=ev.AlertLevel.DUE_SOON,
        agency=SVHTTDL,
        step="review",
        due_at=vn("2027-02-02 08:00"),
        detected_at=vn("2027-01-29 10:00"),
        deadline_version=0,
        recipients=soon.recipients,  # checked in test_recipients_follow_the_escalation_rule
    )
    # Over Tết (Thu 02-04 .. Wed 02-10) only what was due before it: nothing is overdue
    # except the step, whose 7 days really ran out on Tue 02-02 08:00.
    assert raised(d.tick("2027-02-10 23:59")) == [
        "dossier due_soon - v0",
        "step overdue review v0",
    ]
    assert d.tick("2027-02-12 17:29") == []
    (late,) = d.tick("2027-02-12 17:30")
    assert (late.scope, late.level, late.due_at) == ("dossier", "overdue", vn("2027-02-12 17:30"))
    assert d.tick("2027-02-18 17:29") == []
    (breach,) = d.tick("2027-02-18 17:30")
    assert (breach.scope, breach.level, breach.step, breach.agency, breach.due_at) == (
        "dossier",
        "statutory_breach",
        None,
        SVHTTDL,
        vn("2027-02-18 17:30"),
    )
    assert d.tick("2027-12-31 12:00") == []  # everything raised; nothing repeats
    assert next_watch_point(d.st, CAL, POLICY) is None


def test_statutory_breach_fires_even_when_an_apology_moved_the_due_past_it() -> None:
    d = DOSSIERS["3d-review"]()  # committed = statutory = Wed 01-27 09:00; no tick yet
    d.reschedule("2027-01-26 10:00", STC, "2027-01-29 17:30", "Chờ ý kiến cơ quan phối hợp")
    assert d.st.deadline_version == 1
    # The review step kept its deadlines (due soon Mon 08:00, due Mon 16:00).
    assert raised(d.tick("2027-01-27 08:59")) == [
        "step due_soon review v1",
        "step overdue review v1",
    ]
    # Wed 09:00: the statutory time ran out; the committed due moved, so no overdue.
    (breach,) = d.tick("2027-01-27 09:00")
    assert (breach.level, breach.due_at, breach.deadline_version) == (
        "statutory_breach",
        vn("2027-01-27 09:00"),
        1,
    )
    assert [r.role for r in breach.recipients] == ["province_leader"]
    # New span Fri 01-22 09:00 -> Fri 01-29 17:30: 6.5 + 5 x 8 = 46.5 h, 11.625 h left:
    # 34.875 h in = Fri 6.5 + Mon-Wed 24 + Thu 4 (to 11:30) + 0.375 (22.5 min) -> 13:52:30.
    assert d.tick("2027-01-28 13:52:29") == []
    assert raised(d.tick("2027-01-28 13:52:30")) == ["dossier due_soon - v1"]
    assert d.tick("2027-01-29 17:29") == []
    assert raised(d.tick("2027-01-29 17:30")) == ["dossier overdue - v1"]


@pytest.mark.parametrize(
    "close",
    [
        # result ready: the clock stops, the dossier waits at the desk
        pytest.param(
            lambda d: d.send(ev.ResultReady, "2027-01-22 11:00", MOTCUA, outcome="approved"),
            id="result_ready",
        ),
        # returned to the applicant: closed
        pytest.param(
            lambda d: d.send(ev.ResultReady, "2027-01-22 11:00", MOTCUA, outcome="refused").send(
                ev.DossierReturned, "2027-01-22 11:05", MOTCUA
            ),
            id="returned",
        ),
        # withdrawn by the applicant: closed
        pytest.param(
            lambda d: d.send(ev.DossierWithdrawn, "2027-01-22 11:00", MOTCUA, reason="Rút hồ sơ"),
            id="withdrawn",
        ),
        # refused at intake: closed
        pytest.param(
            lambda d: d.send(
                ev.DossierRejected, "2027-01-22 11:00", MOTCUA, reason="Sai thẩm quyền"
            ),
            id="rejected",
        ),
        # paused for a supplement that never comes: the clock is stopped
        pytest.param(
            lambda d: d.send(
                ev.SupplementRequested, "2027-01-22 10:30", MOTCUA, reason="Thiếu bản sao"
            ),
            id="paused",
        ),
    ],
)
def test_paused_result_ready_and_closed_dossiers_have_no_watch_points(close: Any) -> None:
    d = Dossier("2.001610", MOTCUA, "2027-01-22 09:00")  # step due soon 11:00: not alerted yet
    close(d)
    assert d.st.status is not Status.OPEN
    assert list(watch_points(d.st, CAL, POLICY)) == []
    assert next_watch_point(d.st, CAL, POLICY) is None
    before = d.st
    assert d.tick("2027-12-31 12:00") == []  # a year later: still nothing
    assert d.st == before


def test_a_supplement_re_arms_every_level_against_the_moved_deadlines() -> None:
    d = DOSSIERS["3d-review"]()
    assert raised(d.tick("2027-01-25 08:00")) == ["step due_soon review v0"]
    # Paused Mon 01-25 10:00 -> Wed 01-27 10:00: 16 working hours. Every deadline moves by
    # 16 h: review Mon 16:00 -> Wed 16:00; the dossier Wed 01-27 09:00 -> Fri 01-29 09:00.
    d.send(ev.SupplementRequested, "2027-01-25 10:00", STC, reason="Bổ sung điều lệ")
    assert d.tick("2027-01-27 09:59") == []  # overdue by the old due, but paused
    d.send(ev.SupplementReceived, "2027-01-27 10:00", MOTCUA)
    assert d.st.deadline_version == 1
    due = sorted(p for p in points(d.st) if "overdue" in p or "statutory" in p)
    assert due == [
        "2027-01-27 16:00 step overdue review",
        "2027-01-29 09:00 dossier overdue -",
        "2027-01-29 09:00 dossier statutory_breach -",
    ]
    assert "step overdue review v1" not in raised(d.tick("2027-01-27 15:59"))
    assert raised(d.tick("2027-01-27 16:00")) == ["step overdue review v1"]


def test_a_reschedule_re_arms_every_level_with_new_ids() -> None:
    # 2.001610 received Fri 01-22 07:30, receive done 08:00. Dossier 24 h: Fri, Mon, Tue ->
    # Tue 01-26 17:30 (statutory the same), due soon Mon 17:30; review 12 h from Fri 08:00:
    # Fri 7.5 + Mon 4.5 -> Mon 14:00, due soon after 6 h: Fri 3.5 + 2.5 -> Fri 16:00.
    d = Dossier("2.001610", MOTCUA, "2027-01-22 07:30").done("2027-01-22 08:00", MOTCUA, "receive")
    first = d.tick("2027-01-26 17:30")
    assert raised(first) == [
        "dossier due_soon - v0",
        "dossier overdue - v0",
        "dossier statutory_breach - v0",
        "step due_soon review v0",
        "step overdue review v0",
    ]
    assert d.tick("2027-01-27 07:59") == []
    # The apology on Wed 01-27 08:00 sets Fri 01-29 17:30: 6 days = 48 h from the start,
    # 12 h left -> 36 h in: Fri, Mon, Tue, Wed + 4 h on Thu -> Thu 01-28 11:30.
    d.reschedule("2027-01-27 08:00", MOTCUA, "2027-01-29 17:30", "Xin lỗi, hẹn lại")
    assert d.st.deadline_version == 1
    assert points(d.st) == [
        "2027-01-22 16:00 step due_soon review",
        "2027-01-25 14:00 step overdue review",
        "2027-01-26 17:30 dossier statutory_breach -",
        "2027-01-28 11:30 dossier due_soon -",
        "2027-01-29 17:30 dossier overdue -",
    ]
    # The levels whose (unmoved) instants passed are raised again under the new version.
    again = d.tick("2027-01-27 08:00")
    assert raised(again) == [
        "dossier statutory_breach - v1",
        "step due_soon review v1",
        "step overdue review v1",
    ]
    assert not {a.alert_id for a in again} & {a.alert_id for a in first}
    assert {a.alert_id for a in again} == {
        alert_id(d.dossier_id, ev.AlertScope.DOSSIER, None, ev.AlertLevel.STATUTORY_BREACH, 1),
        alert_id(d.dossier_id, ev.AlertScope.STEP, "review", ev.AlertLevel.DUE_SOON, 1),
        alert_id(d.dossier_id, ev.AlertScope.STEP, "review", ev.AlertLevel.OVERDUE, 1),
    }
    assert raised(d.tick("2027-01-28 11:30")) == ["dossier due_soon - v1"]
    (late,) = d.tick("2027-01-29 17:30")
    assert (late.level, late.deadline_version, late.due_at) == (
        "overdue",
        1,
        vn("2027-01-29 17:30"),
    )
    assert late.alert_id != alert_id(
        d.dossier_id, ev.AlertScope.DOSSIER, None, ev.AlertLevel.OVERDUE, 0
    )


def test_a_tick_applied_twice_raises_once() -> None:
    d = DOSSIERS["3d-fri-0900"]()
    tick = DeadlineTick(dossier_id=d.dossier_id, detected_at=vn("2027-01-22 15:00"))
    state, alerts = apply_tick(d.st, tick, CATALOG, CAL, POLICY)
    assert raised(alerts) == ["step due_soon receive v0", "step overdue receive v0"]
    stored = DossierState.from_bytes(state.to_bytes())
    # Re-delivered, or raised by a second worker around a rebalance: nothing new.
    again, repeated = apply_tick(stored, tick, CATALOG, CAL, POLICY)
    assert repeated == []
    assert again == stored
    # A later tick raises only the levels reached since.
    _, later = apply_tick(
        stored,
        DeadlineTick(dossier_id=d.dossier_id, detected_at=vn("2027-01-26 09:00")),
        CATALOG,
        CAL,
        POLICY,
    )
    assert raised(later) == ["dossier due_soon - v0"]


def test_a_stale_tick_raises_only_what_is_due_for_the_current_state() -> None:
    d = DOSSIERS["3d-fri-0900"]()
    # The watcher saw the receive step due soon at Fri 11:00 and sent a tick; before the
    # router applied it, the desk finished receive at 10:30 and the dossier moved to review
    # (12 h from 10:30: Fri 1 + 4, Mon 7 h -> 16:30; due soon after 6 h -> Mon 08:30).
    d.done("2027-01-22 10:30", MOTCUA, "receive")
    assert d.tick("2027-01-22 11:00") == []
    assert d.tick("2027-01-22 15:00") == []  # the old step's overdue instant: nothing either
    # Late ticks raise the current step's levels, never the finished step's.
    assert raised(d.tick("2027-01-25 16:30")) == [
        "step due_soon review v0",
        "step overdue review v0",
    ]
    assert all("receive" not in p for p in points(d.st))


# --- who is told -------------------------------------------------------------------------------

LE_THU_HA = "Lê Thu Hà (Phó Chủ tịch UBND tỉnh phụ trách CCHC)"  # UBND-TINH province_leader
PHAM_QUANG_VINH = "Phạm Quang Vinh (Giám đốc Trung tâm)"  # TTPVHCC centre_director
DO_THI_LAN = "Đỗ Thị Lan (Phó Giám đốc Trung tâm)"  # TTPVHCC department_head
TA_MINH_DUC = "Tạ Minh Đức (Giám đốc Sở Văn hóa, Thể thao và Du lịch)"  # SVHTTDL head
NGUYEN_THI_YEN = "Nguyễn Thị Yến (Chủ tịch UBND phường Cam Đường)"  # CAMDUONG head


@pytest.mark.parametrize(
    ("dossier", "scope", "level", "agency", "role", "names"),
    [
        # A department's step: its own officer, then its own head.
        ("11d-review", "step", "due_soon", SVHTTDL, "department_officer", ["Phòng Quản lý báo chí, xuất bản"]),
        ("11d-review", "step", "overdue", SVHTTDL, "department_head", [TA_MINH_DUC]),
        # The dossier, held by the department: its head when due soon...
        ("11d-review", "dossier", "due_soon", SVHTTDL, "department_head", [TA_MINH_DUC]),
        # ...the service centre's director when overdue (SVHTTDL escalates to TTPVHCC)...
        ("11d-review", "dossier", "overdue", SVHTTDL, "centre_director", [PHAM_QUANG_VINH]),
        # ...the province leader on a statutory breach (TTPVHCC has none; then UBND-TINH).
        ("11d-review", "dossier", "statutory_breach", SVHTTDL, "province_leader", [LE_THU_HA]),
        # The provincial desk's step: its team leader; it has no head, TTPVHCC's deputy is.
        ("3d-fri-0900", "step", "due_soon", MOTCUA, "department_officer", ["Tổ trưởng Bộ phận Một cửa"]),
        ("3d-fri-0900", "step", "overdue", MOTCUA, "department_head", [DO_THI_LAN]),
        ("3d-fri-0900", "dossier", "due_soon", MOTCUA, "department_head", [DO_THI_LAN]),
        ("3d-fri-0900", "dossier", "overdue", MOTCUA, "centre_director", [PHAM_QUANG_VINH]),
        # A ward's desk: its own desk, the ward chair (parent) as head, its own director.
        ("10cd-tet", "step", "due_soon", WARD_DESK, "department_officer", ["Bộ phận Một cửa phường Cam Đường"]),
        ("10cd-tet", "step", "overdue", WARD_DESK, "department_head", [NGUYEN_THI_YEN]),
        ("10cd-tet", "dossier", "due_soon", WARD_DESK, "department_head", [NGUYEN_THI_YEN]),
        ("10cd-tet", "dossier", "overdue", WARD_DESK, "centre_director", ["Vương Văn Tài (Giám đốc Trung tâm, Phó Chủ tịch UBND phường)"]),
        # ward desk -> ward -> UBND-TINH (parents) for the province leader
        ("10cd-tet", "dossier", "statutory_breach", WARD_DESK, "province_leader", [LE_THU_HA]),
    ],
)  # fmt: skip
def test_recipients_follow_the_escalation_rule(
    dossier: str, scope: str, level: str, agency: str, role: str, names: list[str]
) -> None:
    d = DOSSIERS[dossier]()
    alerts = {(a.scope.value, a.level.value): a for a in d.tick("2027-12-31 12:00")}
    assert len(alerts) == 5, "a year later every level of the current state is raised"
    alert = alerts[(scope, level)]
    assert alert.agency == agency
    assert [r.role for r in alert.recipients] == [role] * len(names)
    assert [r.name for r in alert.recipients] == names


# --- properties -----------------------------------------------------------------------------

# SAMPLE-XB-01 is the 11-day procedure; 2.001610 the 3-day one; 1.013225 counts calendar days
# and has a branch.
PROCEDURES = {"2.001610": MOTCUA, "SAMPLE-XB-01": MOTCUA, "1.013225": WARD_DESK}
OPS = ("tick", "tick", "tick", "tick", "done", "pause", "resume", "reschedule", "result")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    procedure=st.sampled_from(sorted(PROCEDURES)),
    # received between Mon 2027-01-18 00:00 and late February: weekends, Tết, nights
    received=st.integers(0, 40 * 24 * 60),
    ops=st.lists(
        st.tuples(st.sampled_from(OPS), st.integers(1, 3 * 24 * 60), st.integers(1, 120)),
        max_size=30,
    ),
)
def test_each_level_alerts_at_most_once_and_never_before_its_instant(
    procedure: str, received: int, ops: list[tuple[str, int, int]]
) -> None:
    now = vn("2027-01-18 00:00") + timedelta(minutes=received)
    d = Dossier(procedure, PROCEDURES[procedure], now.strftime("%Y-%m-%d %H:%M"))
    seen: set[tuple[str, str, str | None, int]] = set()
    ids: set[str] = set()

    def tick(at: datetime) -> None:
        before = d.st
        pending = {p.mark: p for p in watch_points(before, CAL, POLICY)}
        alerts = d.tick(at)
        for a in alerts:
            key = (a.scope.value, a.level.value, a.step, a.deadline_version)
            assert key not in seen, f"{key} alerted twice"
            assert a.alert_id not in ids
            seen.add(key)
            ids.add(a.alert_id)
            point: WatchPoint = pending[alert_mark(a.scope, a.level, a.step, a.deadline_version)]
            assert point.at <= a.detected_at == at
            if a.level is not ev.AlertLevel.DUE_SOON:
                assert a.due_at <= a.detected_at, "overdue before the due instant"
        # The same tick delivered again raises nothing.
        assert d.tick(at) == []

    for op, minutes, hours in ops:
        now += timedelta(minutes=minutes)
        when = now.strftime("%Y-%m-%d %H:%M:%S")
        st_ = d.st
        agency = st_.current_agency or PROCEDURES[procedure]
        event: ev.InboundEvent | None = None
        if op == "tick":
            tick(vn(when))
        elif op == "done" and st_.current_step is not None:
            event = d.event(ev.StepCompleted, when, agency, step=st_.current_step)
        elif op == "pause":
            event = d.event(ev.SupplementRequested, when, agency, reason="Bổ sung")
        elif op == "resume":
            event = d.event(ev.SupplementReceived, when, agency)
        elif op == "reschedule":
            new_due = max(st_.committed_due_at, vn(when)) + timedelta(hours=hours)
            event = d.event(
                ev.DossierRescheduled, when, agency, new_due_at=new_due, reason="Hẹn lại"
            )
        elif op == "result":
            event = d.event(ev.ResultReady, when, agency, outcome="approved")
        if event is not None:  # refused events (e.g. a second reschedule) change nothing
            d.state, _ = apply(DossierState.from_bytes(st_.to_bytes()), event, CTX)
    # Nothing is missed either: a tick far later raises every level still pending.
    tick(now + timedelta(days=400))
    assert next_watch_point(d.st, CAL, POLICY) is None
