"""The routing state machine: lifecycles, illegal transitions, pauses, reschedules, dedupe.

Expected instants are worked out by hand in the comments, never by calling the
code under test. Office hours 07:30-11:30 and 13:30-17:30 (8 h a working day).
VN 2026 days off used here: Hùng Kings observed Mon 04-27; Thu 04-30 and Fri
05-01. March and June 2026 have no holiday.

Every driver round-trips the state through ``to_bytes``/``from_bytes`` between
events, as the router's table does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import events as ev
from workflows import effects as fx
from workflows.calendar import VN_TZ
from workflows.deadlines import Completion
from workflows.routing import RoutingContext, RoutingPolicy, apply
from workflows.state import DossierState, Status

from support.context import expect_procedure, routing_context
from support.time import vn

CTX = routing_context(range(2025, 2028))
CATALOG, CAL = CTX.catalog, CTX.calendar


class Driver:
    """One dossier: builds events with fresh ids, applies them, keeps the state."""

    def __init__(self, ctx: RoutingContext = CTX, dossier_id: str = "HS-2026-0001") -> None:
        self.ctx = ctx
        self.dossier_id = dossier_id
        self.state: DossierState | None = None
        self.sent: list[ev.InboundEvent] = []

    def event(self, cls: type[Any], at: datetime, agency: str, **fields: Any) -> ev.InboundEvent:
        event: ev.InboundEvent = cls(
            event_id=f"{self.dossier_id}/{len(self.sent) + 1}",
            dossier_id=self.dossier_id,
            occurred_at=at,
            agency=agency,
            **fields,
        )
        self.sent.append(event)
        return event

    def send(self, event: ev.InboundEvent) -> list[fx.Effect]:
        loaded = None if self.state is None else DossierState.from_bytes(self.state.to_bytes())
        self.state, effects = apply(loaded, event, self.ctx)
        return effects

    def do(self, cls: type[Any], at: datetime, agency: str, **fields: Any) -> list[fx.Effect]:
        return self.send(self.event(cls, at, agency, **fields))

    def reschedule(
        self, at: datetime, agency: str, new_due_at: datetime, reason: str = "xin lỗi"
    ) -> list[fx.Effect]:
        """The apology: the dossier's new appointment is ``new_due_at``."""
        return self.do(ev.DossierRescheduled, at, agency, new_due_at=new_due_at, reason=reason)

    @property
    def last_id(self) -> str:
        return self.sent[-1].event_id

    @property
    def st(self) -> DossierState:
        assert self.state is not None
        return self.state


def only(effects: list[fx.Effect], kind: type[Any]) -> Any:
    found = [e for e in effects if isinstance(e, kind)]
    assert len(found) == 1, f"expected one {kind.__name__} in {effects}"
    return found[0]


def routed(effects: list[fx.Effect]) -> tuple[object, ...]:
    """The Assign as (step, agency, from_agency, assigned_at, step due, dossier due, statutory).

    Tests compare ``[:4]``, where it goes and since when, and ``[4:]``, its three due instants.
    """
    a: fx.Assign = only(effects, fx.Assign)
    return (
        a.step,
        a.agency,
        a.from_agency,
        a.assigned_at,
        a.step_due_at,
        a.dossier_due_at,
        a.statutory_due_at,
    )


def domain(state: DossierState | None) -> DossierState | None:
    """The state without the dedupe memory, which a refused event still updates."""
    return None if state is None else state.model_copy(update={"applied": ()})


# --------------------------------------------------------------------------- lifecycles


def test_construction_licence_with_site_visit_branch() -> None:
    # Calendar days: a due date is the office close of the last day, moved to the next
    # working day when that day is off.
    expect_procedure(CATALOG, "1.013225")
    d = Driver()
    desk, ward = "CAMDUONG.TTPVHCC", "CAMDUONG"
    # Received Mon 03-02 09:00, inside office hours: the clock starts there.
    # Committed 10 days: 03-12 (Thu) 17:30. Statutory 15 days: 03-17 (Tue) 17:30.
    due, statutory = vn(2026, 3, 12, 17, 30), vn(2026, 3, 17, 17, 30)
    effects = d.do(
        ev.DossierReceived,
        vn(2026, 3, 2, 9),
        desk,
        procedure="1.013225",
        channel=ev.FilingChannel.ONLINE,
    )
    # receive, 1 day: 03-03 (Tue) 17:30; the desk received it itself, so no from_agency.
    assert routed(effects)[:4] == ("receive", desk, None, vn(2026, 3, 2, 9))
    assert routed(effects)[4:] == (vn(2026, 3, 3, 17, 30), due, statutory)
    assert only(effects, fx.ArmDeadlines) == fx.ArmDeadlines(
        d.dossier_id, 0, "receive", desk, vn(2026, 3, 2, 9), vn(2026, 3, 3, 17, 30), due, statutory
    )

    # Mon 15:00 -> review, 2 days from Mon 03-02: Wed 03-04 17:30.
    effects = d.do(ev.StepCompleted, vn(2026, 3, 2, 15), desk, step="receive")
    assert routed(effects)[:4] == ("review", ward, desk, vn(2026, 3, 2, 15))
    assert routed(effects)[4:] == (vn(2026, 3, 4, 17, 30), due, statutory)
    # Wed 10:00, review needs an inspection -> site_visit, 2 days: Fri 03-06 17:30.
    effects = d.do(
        ev.StepCompleted, vn(2026, 3, 4, 10), ward, step="review", outcome="needs_inspection"
    )
    assert routed(effects)[:2] == ("site_visit", ward)
    assert routed(effects)[4] == vn(2026, 3, 6, 17, 30)
    # Fri 16:00 -> appraisal_after_visit, 2 days: Sun 03-08, moved to Mon 03-09 17:30.
    effects = d.do(ev.StepCompleted, vn(2026, 3, 6, 16), ward, step="site_visit")
    assert routed(effects)[:2] == ("appraisal_after_visit", ward)
    assert routed(effects)[4] == vn(2026, 3, 9, 17, 30)
    # Tue 03-10 09:00 (a day late) -> sign, 2 days: Thu 03-12 17:30.
    effects = d.do(ev.StepCompleted, vn(2026, 3, 10, 9), ward, step="appraisal_after_visit")
    assert routed(effects)[:2] == ("sign", ward)
    assert routed(effects)[4] == vn(2026, 3, 12, 17, 30)
    # Thu 03-12 08:00 -> return at the desk, 1 day: Fri 03-13 17:30.
    effects = d.do(ev.StepCompleted, vn(2026, 3, 12, 8), ward, step="sign")
    assert routed(effects)[:4] == ("return", desk, ward, vn(2026, 3, 12, 8))
    assert routed(effects)[4:] == (vn(2026, 3, 13, 17, 30), due, statutory)

    # Result ready Fri 03-13 10:00, the day after the committed Thu 03-12: late.
    # Used: Mon 09:00-17:30 = 6.5 h, Tue-Fri 03-03..06 = 32 h, Mon-Thu 03-09..12 = 32 h,
    # Fri 07:30-10:00 = 2.5 h: 73 h = 9.125 days.
    # Statutory as working time: Mon 6.5 h + 03-03..06 32 h + 03-09..13 40 h + Mon 03-16
    # 8 h + Tue 03-17 8 h = 94.5 h = 11.8125 days; saved 11.8125 - 9.125 = 2.6875.
    effects = d.do(ev.ResultReady, vn(2026, 3, 13, 10), desk, outcome=ev.ResultOutcome.APPROVED)
    assert effects == [
        fx.DisarmDeadlines(d.dossier_id, "result ready"),
        fx.Completed(d.dossier_id, "1.013225", "construction", "late", 9.125, 2.6875),
    ]
    sheet = d.st.sheet
    assert [(r.step, r.agency, r.result) for r in sheet] == [
        ("receive", desk, Completion.EARLY),  # Mon, due Tue
        ("review", ward, Completion.ON_TIME),  # Wed, due Wed
        ("site_visit", ward, Completion.ON_TIME),  # Fri, due Fri
        ("appraisal_after_visit", ward, Completion.LATE),  # Tue, due Mon
        ("sign", ward, Completion.ON_TIME),  # Thu, due Thu
        ("return", desk, Completion.ON_TIME),  # Fri, due Fri
    ]
    # Mon 09:00-15:00 = 4 h; Mon 15:00 -> Wed 10:00 = 2.5 + 8 + 2.5 = 13 h;
    # Wed 10:00 -> Fri 16:00 = 5.5 + 8 + 6.5 = 20 h; Fri 16:00 -> Tue 09:00 = 1.5 + 8 + 1.5
    # = 11 h; Tue 09:00 -> Thu 08:00 = 6.5 + 8 + 0.5 = 15 h; Thu 08:00 -> Fri 10:00 =
    # 7.5 + 2.5 = 10 h. They add up to the 73 h used.
    assert [r.used_hours for r in sheet] == [4, 13, 20, 11, 15, 10]
    # receive: Mon 09:00 -> Tue 17:30 = 6.5 + 8 h; review: Mon 15:00 -> Wed 17:30 = 2.5 + 16.
    assert [r.allotted_hours for r in sheet[:2]] == [14.5, 18.5]
    assert d.st.status is Status.RESULT_READY
    assert d.st.current_step is None

    effects = d.do(ev.DossierReturned, vn(2026, 3, 13, 10, 30), desk)
    assert effects == [fx.Closed(d.dossier_id, "returned")]
    assert d.st.status.closed
    assert d.st.closed_at == vn(2026, 3, 13, 10, 30)


def test_same_day_procedure_received_after_the_cutoff() -> None:
    expect_procedure(CATALOG, "1.001193")
    d = Driver()
    desk, commune = "BAOTHANG.TTPVHCC", "BAOTHANG"
    # Fri 04-24 15:20 is after the 15:00 cut-off: counted from the next working day,
    # and Mon 04-27 is the Hùng Kings day off, so from Tue 04-28 07:30; due Tue 17:30.
    tue_close = vn(2026, 4, 28, 17, 30)
    effects = d.do(
        ev.DossierReceived,
        vn(2026, 4, 24, 15, 20),
        desk,
        procedure="1.001193",
        channel=ev.FilingChannel.IN_PERSON,
    )
    assert routed(effects)[:4] == ("receive", desk, None, vn(2026, 4, 24, 15, 20))
    assert routed(effects)[4:] == (tue_close, tue_close, tue_close)
    assert d.st.start_at == vn(2026, 4, 28, 7, 30)
    # Handed on the same Friday at 15:40: the step's clock still starts with the
    # dossier's, Tue 07:30, so register is due Tue 17:30 (not Fri 17:30).
    effects = d.do(ev.StepCompleted, vn(2026, 4, 24, 15, 40), desk, step="receive")
    assert routed(effects)[:4] == ("register", commune, desk, vn(2026, 4, 24, 15, 40))
    assert routed(effects)[4:] == (tue_close, tue_close, tue_close)
    arm: fx.ArmDeadlines = only(effects, fx.ArmDeadlines)
    assert arm.step_started_at == vn(2026, 4, 28, 7, 30)
    effects = d.do(ev.StepCompleted, vn(2026, 4, 28, 9), commune, step="register")
    assert routed(effects)[:2] == ("sign", commune)
    assert routed(effects)[4] == tue_close
    effects = d.do(ev.StepCompleted, vn(2026, 4, 28, 10), commune, step="sign")
    assert routed(effects)[:3] == ("return", desk, commune)
    assert routed(effects)[4] == tue_close

    # Ready Tue 10:30, on the due day: on time. Used Tue 07:30-10:30 = 3 h = 0.375 days.
    # A same-day procedure's statutory time is 0 days: finished by its due it saves
    # nothing (issue 14: it used to count the rest of the day, 0.625, as saved).
    effects = d.do(ev.ResultReady, vn(2026, 4, 28, 10, 30), desk, outcome=ev.ResultOutcome.APPROVED)
    assert only(effects, fx.Completed) == fx.Completed(
        d.dossier_id, "1.001193", "civil-status", "on_time", 0.375, 0.0
    )
    # receive ran Fri 15:20-15:40, before the clock started: 0 h used, done before its day.
    assert (d.st.sheet[0].used_hours, d.st.sheet[0].result) == (0, Completion.EARLY)
    # register Tue 07:30-09:00 = 1.5 h; sign 09:00-10:00 = 1 h; return 10:00-10:30.
    assert [r.used_hours for r in d.st.sheet[1:]] == [1.5, 1, 0.5]


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (vn(2026, 4, 23, 14, 59), vn(2026, 4, 23, 17, 30)),  # Thu before 15:00: same day
        (vn(2026, 4, 23, 15, 0), vn(2026, 4, 23, 17, 30)),  # Thu 15:00 sharp still counts
        (vn(2026, 4, 23, 15, 1), vn(2026, 4, 24, 17, 30)),  # Thu 15:01: Friday
        (vn(2026, 4, 24, 15, 20), vn(2026, 4, 28, 17, 30)),  # Fri late: Mon 27 off, Tue
        (vn(2026, 4, 25, 9, 0), vn(2026, 4, 28, 17, 30)),  # Saturday: Tuesday again
        (vn(2026, 4, 29, 16, 0), vn(2026, 5, 4, 17, 30)),  # Wed late: 30/4, 1/5 off, Mon
        (vn(2026, 4, 23, 12, 0), vn(2026, 4, 23, 17, 30)),  # lunch break: 13:30, same day
    ],
)
def test_same_day_cutoff_table(received: datetime, due: datetime) -> None:
    d = Driver()
    d.do(ev.DossierReceived, received, "BAOTHANG.TTPVHCC", procedure="1.001193", channel="online")
    assert (d.st.committed_due_at, d.st.statutory_due_at, d.st.sheet[0].due_at) == (due,) * 3


def test_working_days_procedure_paused_across_the_holidays() -> None:
    expect_procedure(CATALOG, "1.012906")
    d = Driver()
    # Received Wed 04-22 08:00. 10 days = 80 h: Wed 7.5, Thu 15.5, Fri 23.5, (Mon 27 off)
    # Tue 31.5, Wed 39.5, (Thu 30, Fri 1 off) Mon 05-04 47.5 .. Fri 05-08 79.5, and the
    # last 0.5 h on Mon 05-11: due Mon 05-11 08:00.
    due = vn(2026, 5, 11, 8)
    effects = d.do(
        ev.DossierReceived, vn(2026, 4, 22, 8), "MOTCUA", procedure="1.012906", channel="online"
    )
    # receive, 0.5 day = 4 h: 08:00-11:30 is 3.5 h, then 13:30 + 0.5 h = Wed 14:00.
    assert routed(effects)[:4] == ("receive", "MOTCUA", None, vn(2026, 4, 22, 8))
    assert routed(effects)[4:] == (vn(2026, 4, 22, 14), due, due)
    # Wed 11:00 -> review at SXD, 6 days = 48 h: Wed 4.5, Thu 12.5, Fri 20.5, Tue 28.5,
    # Wed 36.5, Mon 05-04 44.5, Tue 05-05 07:30 + 3.5 h = 11:00.
    effects = d.do(ev.StepCompleted, vn(2026, 4, 22, 11), "MOTCUA", step="receive")
    assert routed(effects)[:4] == ("review", "SXD", "MOTCUA", vn(2026, 4, 22, 11))
    assert routed(effects)[4:] == (vn(2026, 5, 5, 11), due, due)

    effects = d.do(ev.SupplementRequested, vn(2026, 4, 24, 10), "SXD", reason="thiếu bản vẽ")
    assert effects == [fx.DisarmDeadlines(d.dossier_id, "paused for supplement")]
    assert d.st.status is Status.PAUSED
    # Paused Fri 04-24 10:00 -> Mon 05-04 09:30: Fri 1.5 + 4 = 5.5 h, Mon 27 off, Tue 28
    # and Wed 29 16 h, Thu 30 and Fri 1 off, Mon 07:30-09:30 2 h: 23.5 h of working time
    # (twelve calendar days).
    effects = d.do(ev.SupplementReceived, vn(2026, 5, 4, 9, 30), "MOTCUA")
    # review due Tue 05-05 11:00 + 23.5 h: Tue 4.5, Wed 12.5, Thu 20.5, Fri 07:30 + 3 h.
    # dossier due Mon 05-11 08:00 + 23.5 h: Mon 7.5, Tue 15.5, Wed 23.5 = Wed 17:30.
    new_due = vn(2026, 5, 13, 17, 30)
    assert effects == [
        fx.ArmDeadlines(
            d.dossier_id,
            1,
            "review",
            "SXD",
            vn(2026, 4, 22, 11),
            vn(2026, 5, 8, 10, 30),
            new_due,
            new_due,
        )
    ]
    pause = d.st.pauses[0]
    assert (pause.requested_at, pause.received_at, pause.paused_hours) == (
        vn(2026, 4, 24, 10),
        vn(2026, 5, 4, 9, 30),
        23.5,
    )
    assert d.st.original_due_at == new_due  # no reschedule: the pause moves it too

    # Thu 05-07 15:00 -> sign, 3 days = 24 h: Thu 2.5, Fri 10.5, Mon 18.5, Tue 05-12
    # 4 h morning (22.5) + 1.5 h = 15:00.
    effects = d.do(ev.StepCompleted, vn(2026, 5, 7, 15), "SXD", step="review")
    assert routed(effects)[:4] == ("sign", "SXD", "SXD", vn(2026, 5, 7, 15))
    assert routed(effects)[4:] == (vn(2026, 5, 12, 15), new_due, new_due)
    # Mon 05-11 16:00 -> return, 4 h: Mon 1.5 h, Tue 07:30 + 2.5 h = 10:00.
    effects = d.do(ev.StepCompleted, vn(2026, 5, 11, 16), "SXD", step="sign")
    assert routed(effects)[:4] == ("return", "MOTCUA", "SXD", vn(2026, 5, 11, 16))
    assert routed(effects)[4] == vn(2026, 5, 12, 10)

    # Ready Tue 05-12 09:00, before the due day Wed 05-13: early. Worked Wed 04-22 08:00
    # -> Tue 05-12 09:00: 7.5 + 16 + 16 + 40 + 8 + 1.5 = 89 h, less 23.5 h paused =
    # 65.5 h = 8.1875 days; saved 10 - 8.1875 = 1.8125.
    effects = d.do(ev.ResultReady, vn(2026, 5, 12, 9), "MOTCUA", outcome=ev.ResultOutcome.APPROVED)
    assert only(effects, fx.Completed) == fx.Completed(
        d.dossier_id, "1.012906", "real-estate", "early", 8.1875, 1.8125
    )
    review = d.st.sheet[1]
    # Wed 04-22 11:00 -> Thu 05-07 15:00: 4.5 + 16 + 16 + 24 + 5.5 = 66 h, less 23.5 paused.
    assert (review.used_hours, review.due_at, review.result) == (
        42.5,
        vn(2026, 5, 8, 10, 30),
        Completion.EARLY,
    )
    assert d.do(ev.DossierReturned, vn(2026, 5, 12, 9, 30), "MOTCUA") == [
        fx.Closed(d.dossier_id, "returned")
    ]


def received_3day(d: Driver) -> None:
    """A 2.001610 dossier (3 working days) received Mon 06-01 08:00.

    24 h: Mon 7.5, Tue 15.5, Wed 23.5, Thu 07:30 + 0.5 h: due Thu 06-04 08:00.
    receive, 4 h: Mon 08:00-11:30 3.5 h, 13:30 + 0.5 h = Mon 14:00.
    """
    expect_procedure(CATALOG, "2.001610")
    d.do(ev.DossierReceived, vn(2026, 6, 1, 8), "MOTCUA", procedure="2.001610", channel="online")


# --------------------------------------------------------------------------- reschedule


@pytest.mark.parametrize(
    ("counts_late", "completion"),
    [
        (True, "late"),  # judged against the first appointment Thu 06-04: Fri is late
        (False, "early"),  # judged against the new Mon 06-08: Fri is before it
    ],
)
def test_reschedule_rearms_once(counts_late: bool, completion: str) -> None:
    ctx = RoutingContext(CATALOG, CAL, RoutingPolicy(rescheduled_counts_late=counts_late))
    d = Driver(ctx)
    received_3day(d)
    # The apology on Thu 06-04 10:00, already past the 08:00 due: new date Mon 06-08 17:30.
    effects = d.reschedule(vn(2026, 6, 4, 10), "STC", vn(2026, 6, 8, 17, 30))
    assert effects == [
        fx.ArmDeadlines(
            d.dossier_id,
            1,  # bumped: alerts for the new due instant get new ids
            "receive",
            "MOTCUA",
            vn(2026, 6, 1, 8),
            vn(2026, 6, 1, 14),
            vn(2026, 6, 8, 17, 30),
            vn(2026, 6, 4, 8),  # the statutory due does not move
        )
    ]
    assert d.st.original_due_at == vn(2026, 6, 4, 8)
    before = d.st
    effects = d.reschedule(vn(2026, 6, 5, 9), "STC", vn(2026, 6, 12, 17, 30), "xin lỗi lần hai")
    assert len(effects) == 1
    assert only(effects, fx.Rejected).kind is ev.ReasonKind.ILLEGAL_TRANSITION
    assert "already rescheduled" in only(effects, fx.Rejected).message
    assert domain(d.st) == domain(before)

    effects = d.do(ev.ResultReady, vn(2026, 6, 5, 10), "MOTCUA", outcome=ev.ResultOutcome.APPROVED)
    assert only(effects, fx.Completed).completion == completion


def test_reschedule_during_a_pause_moves_only_by_the_rest_of_the_pause() -> None:
    d = Driver()
    received_3day(d)
    d.do(ev.SupplementRequested, vn(2026, 6, 2, 8), "MOTCUA", reason="thiếu giấy tờ")
    # Paused, nothing armed: the new appointment waits for the supplement.
    assert d.reschedule(vn(2026, 6, 3, 9), "STC", vn(2026, 6, 9, 17, 30)) == []
    effects = d.do(ev.SupplementReceived, vn(2026, 6, 4, 7, 30), "MOTCUA")
    # Pause Tue 08:00 -> Thu 07:30: Tue 7.5 + Wed 8 = 15.5 h. The original and statutory
    # due Thu 06-04 08:00 + 15.5 h: Thu 7.5, Fri 15.5 -> Fri 06-05 17:30.
    # The new appointment, given Wed 09:00, moves only by Wed 09:00 -> Thu 07:30 =
    # 2.5 + 4 = 6.5 h: Tue 06-09 17:30 + 6.5 h = Wed 06-10 07:30 + 4 h + 2.5 h = 16:00.
    arm: fx.ArmDeadlines = only(effects, fx.ArmDeadlines)
    assert (arm.deadline_version, arm.dossier_due_at, arm.statutory_due_at) == (
        2,
        vn(2026, 6, 10, 16),
        vn(2026, 6, 5, 17, 30),
    )
    assert d.st.original_due_at == vn(2026, 6, 5, 17, 30)


# --------------------------------------------------------------------------- pauses


@pytest.mark.parametrize(
    ("counts_late", "completion"),
    [
        (True, "late"),  # Decision 766: a second supplement request makes it late
        (False, "early"),  # otherwise finished Tue, well before the due day
    ],
)
def test_second_supplement_request(counts_late: bool, completion: str) -> None:
    ctx = RoutingContext(CATALOG, CAL, RoutingPolicy(second_supplement_counts_late=counts_late))
    d = Driver(ctx)
    received_3day(d)
    for day in (1, 2):  # Mon 13:30 -> 14:30 and Tue 13:30 -> 14:30: 1 h each
        d.do(ev.SupplementRequested, vn(2026, 6, day, 13, 30), "MOTCUA", reason="thiếu")
        d.do(ev.SupplementReceived, vn(2026, 6, day, 14, 30), "MOTCUA")
    assert [p.paused_hours for p in d.st.pauses] == [1, 1]
    # Both pauses move the due: Thu 06-04 08:00 + 2 h = Thu 10:00.
    assert d.st.committed_due_at == vn(2026, 6, 4, 10)
    effects = d.do(ev.ResultReady, vn(2026, 6, 2, 16), "MOTCUA", outcome=ev.ResultOutcome.REFUSED)
    # Used Mon 08:00 -> Tue 16:00 = 7.5 + (4 + 2.5) = 14 h, less 2 h paused = 12 h =
    # 1.5 days; saved 3 - 1.5 = 1.5 either way.
    assert only(effects, fx.Completed) == fx.Completed(
        d.dossier_id, "2.001610", "business-registration", completion, 1.5, 1.5
    )
    assert d.st.outcome is not None and d.st.outcome.decision == "refused"


def test_result_ready_while_paused_ends_the_pause() -> None:
    d = Driver()
    received_3day(d)
    d.do(ev.SupplementRequested, vn(2026, 6, 1, 9), "MOTCUA", reason="thiếu")
    # The applicant never came back; refused Tue 06-02 09:00. Pause Mon 09:00 -> Tue 09:00
    # = 2.5 + 4 + 1.5 = 8 h; used Mon 08:00 -> Tue 09:00 = 9.5 + 1.5 - 8 = 1 h = 0.125 days.
    effects = d.do(ev.ResultReady, vn(2026, 6, 2, 9), "MOTCUA", outcome=ev.ResultOutcome.REFUSED)
    assert effects == [
        fx.DisarmDeadlines(d.dossier_id, "result ready"),
        fx.Completed(d.dossier_id, "2.001610", "business-registration", "early", 0.125, 2.875),
    ]
    assert d.st.pauses[0].received_at == vn(2026, 6, 2, 9)
    assert d.st.pauses[0].paused_hours == 8
    # The receive step: Mon 08:00 -> Tue 09:00, 1 h worked; due Mon 14:00 + 8 h = Tue 14:00.
    assert (d.st.sheet[0].used_hours, d.st.sheet[0].due_at) == (1, vn(2026, 6, 2, 14))


def test_withdrawn_mid_step_records_time_used_but_no_result() -> None:
    d = Driver()
    received_3day(d)
    effects = d.do(ev.DossierWithdrawn, vn(2026, 6, 1, 10), "MOTCUA", reason="rút hồ sơ")
    assert effects == [
        fx.DisarmDeadlines(d.dossier_id, "withdrawn"),
        fx.Closed(d.dossier_id, "withdrawn"),
    ]
    row = d.st.sheet[0]
    assert (row.finished_at, row.used_hours, row.result) == (vn(2026, 6, 1, 10), 2, None)
    assert d.st.status is Status.WITHDRAWN


def test_after_the_last_step_the_dossier_waits_at_the_returning_agency() -> None:
    d = Driver()
    received_3day(d)
    for at, agency, step in [
        (vn(2026, 6, 1, 9), "MOTCUA", "receive"),
        (vn(2026, 6, 1, 15), "STC", "review"),
        (vn(2026, 6, 2, 8), "STC", "issue"),
    ]:
        d.do(ev.StepCompleted, at, agency, step=step)
    effects = d.do(ev.StepCompleted, vn(2026, 6, 2, 9), "MOTCUA", step="return")
    # No step left: no Assign; the dossier deadline stays armed at the desk.
    assert effects == [
        fx.ArmDeadlines(
            d.dossier_id, 0, None, "MOTCUA", None, None, vn(2026, 6, 4, 8), vn(2026, 6, 4, 8)
        )
    ]
    assert (d.st.status, d.st.current_step, d.st.current_agency) == (
        Status.OPEN,
        None,
        "MOTCUA",
    )
    effects = d.do(ev.StepCompleted, vn(2026, 6, 2, 9, 5), "MOTCUA", step="return")
    assert only(effects, fx.Rejected).kind is ev.ReasonKind.ILLEGAL_TRANSITION


# --------------------------------------------------------------------------- hand-offs


def test_off_route_hand_off_is_tracked_where_the_dossier_is() -> None:
    d = Driver()
    d.do(ev.DossierReceived, vn(2026, 6, 1, 8), "MOTCUA", procedure="1.012906", channel="online")
    # The desk sends review to the finance department instead of construction.
    effects = d.do(ev.StepCompleted, vn(2026, 6, 1, 9), "MOTCUA", step="receive", to_agency="STC")
    a: fx.Assign = only(effects, fx.Assign)
    assert (a.step, a.agency, a.off_route) == ("review", "STC", True)
    anomaly: fx.Anomaly = only(effects, fx.Anomaly)
    assert (anomaly.kind, anomaly.event_id) == (ev.ReasonKind.OFF_ROUTE, d.last_id)
    assert (d.st.current_step, d.st.current_agency, d.st.anomalies) == ("review", "STC", 1)

    # STC passes it on to SXD, whose step it is: back on the route, same step and clock.
    review_due = d.st.sheet[-1].due_at
    effects = d.do(ev.DossierHandedOff, vn(2026, 6, 1, 10), "STC", step="review", to_agency="SXD")
    a = only(effects, fx.Assign)
    assert (a.step, a.agency, a.from_agency, a.off_route, a.assigned_at, a.step_due_at) == (
        "review",
        "SXD",
        "STC",
        False,
        vn(2026, 6, 1, 10),
        review_due,
    )
    assert d.st.sheet[-1].started_at == vn(2026, 6, 1, 9)  # the step began at STC
    assert not [e for e in effects if isinstance(e, fx.Anomaly)]
    assert len(d.st.sheet) == 2  # one row per step: the hand-over rewrote it

    # SXD confirms what the route did: nothing changes, nothing is emitted.
    before = d.st
    assert (
        d.do(ev.DossierHandedOff, vn(2026, 6, 1, 10, 5), "SXD", step="review", to_agency="SXD")
        == []
    )
    assert d.st.last_event_at == vn(2026, 6, 1, 10, 5)
    assert domain(d.st.model_copy(update={"last_event_at": before.last_event_at})) == domain(before)

    # SXD skips sign and hands straight to the desk's return step: off the route.
    effects = d.do(ev.DossierHandedOff, vn(2026, 6, 2, 9), "SXD", step="return", to_agency="MOTCUA")
    assert only(effects, fx.Assign).step == "return"
    assert only(effects, fx.Anomaly).kind is ev.ReasonKind.OFF_ROUTE
    assert (d.st.current_step, d.st.current_agency, d.st.anomalies) == ("return", "MOTCUA", 2)
    assert d.st.sheet[1].finished_at == vn(2026, 6, 2, 9)  # review ended at the hand-off

    # And back to review, a step it has been at: the deadline version moves so the
    # second visit's alerts are not taken for the first's.
    effects = d.do(
        ev.DossierHandedOff, vn(2026, 6, 2, 10), "MOTCUA", step="review", to_agency="SXD"
    )
    assert only(effects, fx.ArmDeadlines).deadline_version == 1


def test_on_route_hand_off_to_the_next_step() -> None:
    d = Driver()
    d.do(ev.DossierReceived, vn(2026, 6, 1, 8), "MOTCUA", procedure="1.013225", channel="online")
    d.do(ev.StepCompleted, vn(2026, 6, 1, 9), "MOTCUA", step="receive", to_agency="CAMDUONG")
    # review branches to appraisal or site_visit: a hand-off to either is on the route.
    effects = d.do(
        ev.DossierHandedOff,
        vn(2026, 6, 2, 9),
        "CAMDUONG",
        step="site_visit",
        to_agency="CAMDUONG",
    )
    assert not [e for e in effects if isinstance(e, fx.Anomaly)]
    assert only(effects, fx.Assign).step == "site_visit"
    assert d.st.sheet[-2].result is Completion.EARLY  # review due Wed 06-03, done Tue


# --------------------------------------------------------------------------- illegal


def _received(d: Driver) -> None:
    d.do(ev.DossierReceived, vn(2026, 6, 1, 8), "MOTCUA", procedure="1.012906", channel="online")


def _paused(d: Driver) -> None:
    _received(d)
    d.do(ev.SupplementRequested, vn(2026, 6, 1, 9), "MOTCUA", reason="thiếu")


def _ready(d: Driver) -> None:
    _received(d)
    d.do(ev.ResultReady, vn(2026, 6, 1, 10), "MOTCUA", outcome=ev.ResultOutcome.APPROVED)


def _returned(d: Driver) -> None:
    _ready(d)
    d.do(ev.DossierReturned, vn(2026, 6, 1, 11), "MOTCUA")


def _withdrawn(d: Driver) -> None:
    _received(d)
    d.do(ev.DossierWithdrawn, vn(2026, 6, 1, 9), "MOTCUA", reason="rút")


def _rescheduled(d: Driver) -> None:
    _received(d)
    d.reschedule(vn(2026, 6, 1, 9), "MOTCUA", vn(2026, 6, 20, 17, 30))


def _at_end(d: Driver) -> None:
    _received(d)
    for step, agency in [("receive", "MOTCUA"), ("review", "SXD"), ("sign", "SXD")]:
        d.do(ev.StepCompleted, vn(2026, 6, 1, 9), agency, step=step)
    d.do(ev.StepCompleted, vn(2026, 6, 1, 9), "MOTCUA", step="return")


def _nothing(d: Driver) -> None:
    pass


LATER = vn(2026, 6, 2, 9)

ILLEGAL: list[tuple[Callable[[Driver], None], type[Any], dict[str, Any], ev.ReasonKind]] = [
    # anything after returned: the dossier is closed
    (_returned, ev.StepCompleted, {"step": "review"}, ev.ReasonKind.DOSSIER_CLOSED),
    (_returned, ev.DossierReturned, {}, ev.ReasonKind.DOSSIER_CLOSED),
    (_returned, ev.ResultReady, {"outcome": "approved"}, ev.ReasonKind.DOSSIER_CLOSED),
    (_returned, ev.SupplementRequested, {"reason": "x"}, ev.ReasonKind.DOSSIER_CLOSED),
    (_returned, ev.DossierWithdrawn, {"reason": "x"}, ev.ReasonKind.DOSSIER_CLOSED),
    # withdrawn is closed too
    (_withdrawn, ev.DossierRejected, {"reason": "x"}, ev.ReasonKind.DOSSIER_CLOSED),
    # result_ready twice
    (_ready, ev.ResultReady, {"outcome": "refused"}, ev.ReasonKind.ILLEGAL_TRANSITION),
    # after result_ready the route is over: no step, no pause, no hand-off, no apology
    (_ready, ev.StepCompleted, {"step": "receive"}, ev.ReasonKind.ILLEGAL_TRANSITION),
    (_ready, ev.SupplementRequested, {"reason": "x"}, ev.ReasonKind.ILLEGAL_TRANSITION),
    (
        _ready,
        ev.DossierHandedOff,
        {"step": "return", "to_agency": "MOTCUA"},
        ev.ReasonKind.ILLEGAL_TRANSITION,
    ),
    (
        _ready,
        ev.DossierRescheduled,
        {"new_due_at": vn(2026, 7, 1), "reason": "x"},
        ev.ReasonKind.ILLEGAL_TRANSITION,
    ),
    # a procedure the catalog does not know
    (
        _nothing,
        ev.DossierReceived,
        {"procedure": "9.999999", "channel": "online"},
        ev.ReasonKind.UNKNOWN_PROCEDURE,
    ),
    # a step the procedure does not have
    (_received, ev.StepCompleted, {"step": "inspection"}, ev.ReasonKind.UNKNOWN_STEP),
    (
        _received,
        ev.DossierHandedOff,
        {"step": "inspection", "to_agency": "SXD"},
        ev.ReasonKind.UNKNOWN_STEP,
    ),
    # a real step, but not the current one (the dossier is at receive)
    (_received, ev.StepCompleted, {"step": "sign"}, ev.ReasonKind.ILLEGAL_TRANSITION),
    # an outcome the step's route does not define
    (
        _received,
        ev.StepCompleted,
        {"step": "receive", "outcome": "needs_inspection"},
        ev.ReasonKind.ILLEGAL_TRANSITION,
    ),
    # the route is finished: completing the last step again
    (_at_end, ev.StepCompleted, {"step": "return"}, ev.ReasonKind.ILLEGAL_TRANSITION),
    # supplement received without a request
    (_received, ev.SupplementReceived, {}, ev.ReasonKind.ILLEGAL_TRANSITION),
    # a second request while the first is still open
    (_paused, ev.SupplementRequested, {"reason": "x"}, ev.ReasonKind.ILLEGAL_TRANSITION),
    # the dossier is with the applicant: no agency can complete a step
    (_paused, ev.StepCompleted, {"step": "receive"}, ev.ReasonKind.ILLEGAL_TRANSITION),
    # a second reschedule
    (
        _rescheduled,
        ev.DossierRescheduled,
        {"new_due_at": vn(2026, 7, 1), "reason": "x"},
        ev.ReasonKind.ILLEGAL_TRANSITION,
    ),
    # an apology that moves the appointment earlier (due Mon 06-15 08:00)
    (
        _received,
        ev.DossierRescheduled,
        {"new_due_at": vn(2026, 6, 10, 17, 30), "reason": "x"},
        ev.ReasonKind.ILLEGAL_TRANSITION,
    ),
    # received twice
    (
        _received,
        ev.DossierReceived,
        {"procedure": "1.012906", "channel": "online"},
        ev.ReasonKind.ILLEGAL_TRANSITION,
    ),
    # returned before the result is ready
    (_received, ev.DossierReturned, {}, ev.ReasonKind.ILLEGAL_TRANSITION),
    # anything before dossier.received (the router parks these; apply refuses them)
    (_nothing, ev.StepCompleted, {"step": "receive"}, ev.ReasonKind.UNKNOWN_DOSSIER),
]


@pytest.mark.parametrize(("setup", "cls", "fields", "kind"), ILLEGAL)
def test_illegal_transitions_are_rejected_and_change_nothing(
    setup: Callable[[Driver], None], cls: type[Any], fields: dict[str, Any], kind: ev.ReasonKind
) -> None:
    d = Driver()
    setup(d)
    before = d.state
    effects = d.do(cls, LATER, "SXD", **fields)
    assert len(effects) == 1
    rejected = effects[0]
    assert isinstance(rejected, fx.Rejected)
    assert (rejected.kind, rejected.event_id, rejected.dossier_id) == (
        kind,
        d.last_id,
        d.dossier_id,
    )
    assert rejected.message.startswith(cls.model_fields["type"].default + ": ")
    assert domain(d.state) == domain(before)
    if before is not None:
        assert d.st.last_event_at == before.last_event_at
        # Re-delivered, the refused event is not refused (nor dead-lettered) twice.
        assert d.send(d.sent[-1]) == []


def test_procedure_version_not_yet_in_force() -> None:
    # The sample catalog's versions take effect on 2025-07-01.
    d = Driver()
    effects = d.do(
        ev.DossierReceived, vn(2025, 6, 30, 9), "MOTCUA", procedure="1.012906", channel="online"
    )
    assert only(effects, fx.Rejected).kind is ev.ReasonKind.UNKNOWN_PROCEDURE
    assert "no version in force on 2025-06-30" in only(effects, fx.Rejected).message
    assert d.state is None


@pytest.mark.parametrize(
    "at",
    [
        vn(2150, 1, 5, 9),  # after the working calendar's last year (2100)
        vn(1960, 1, 5, 9),  # before its first (1976)
    ],
)
def test_instants_outside_the_calendar_are_rejected(at: datetime) -> None:
    d = Driver()
    effects = d.do(ev.DossierReceived, at, "MOTCUA", procedure="1.012906", channel="online")
    assert only(effects, fx.Rejected).kind is ev.ReasonKind.SCHEMA_ERROR
    _received(d)
    before = d.st
    effects = d.do(ev.SupplementRequested, at, "MOTCUA", reason="x")
    assert only(effects, fx.Rejected).kind is ev.ReasonKind.SCHEMA_ERROR
    assert domain(d.st) == domain(before)
    effects = d.do(ev.DossierRescheduled, LATER, "MOTCUA", new_due_at=vn(2150, 1, 1), reason="x")
    assert only(effects, fx.Rejected).kind is ev.ReasonKind.SCHEMA_ERROR


def test_state_of_another_dossier_is_a_caller_bug() -> None:
    d = Driver()
    _received(d)
    other = Driver(dossier_id="HS-OTHER").event(ev.StepCompleted, LATER, "MOTCUA", step="receive")
    with pytest.raises(ValueError, match="HS-OTHER"):
        apply(d.st, other, CTX)


# --------------------------------------------------------------------------- dedupe


def test_repeated_event_id_is_a_no_op() -> None:
    d = Driver()
    _received(d)
    event = d.event(ev.StepCompleted, LATER, "MOTCUA", step="receive")
    first = d.send(event)
    assert only(first, fx.Assign).step == "review"
    state = d.st
    again, effects = apply(state, event, CTX)
    assert again is state
    assert effects == []
    # The same id with other content is the same event as far as dedupe goes.
    impostor = event.model_copy(update={"step": "review"})
    assert apply(state, impostor, CTX) == (state, [])


def test_a_refused_event_is_not_applied_when_redelivered_later() -> None:
    d = Driver()
    _paused(d)
    early = d.event(ev.StepCompleted, LATER, "MOTCUA", step="receive")
    assert only(d.send(early), fx.Rejected).kind is ev.ReasonKind.ILLEGAL_TRANSITION
    d.do(ev.SupplementReceived, LATER, "MOTCUA")
    # Now it would be legal, but it is the same record delivered again: nothing happens.
    assert d.send(early) == []
    assert d.st.current_step == "receive"


def test_dedupe_memory_is_bounded() -> None:
    ctx = RoutingContext(CATALOG, CAL, RoutingPolicy(remembered_events=3))
    d = Driver(ctx)
    _received(d)
    confirm = [
        d.event(ev.DossierHandedOff, LATER, "MOTCUA", step="receive", to_agency="MOTCUA")
        for _ in range(4)
    ]
    for event in confirm:
        d.send(event)
    assert len(d.st.applied) == 3
    # The oldest ids are forgotten: the received event would be refused afresh.
    assert only(d.send(d.sent[0]), fx.Rejected).kind is ev.ReasonKind.ILLEGAL_TRANSITION


# --------------------------------------------------------------------------- properties

DOSSIERS = ("D1", "D2", "D3")
PROCEDURES = ("1.013225", "1.001193", "1.012906", "1.010733", "SAMPLE-BTXH-01", "9.999999")
STEP_IDS = sorted(
    {s.id for code in PROCEDURES if (p := CATALOG.procedure(code)) for s in p.steps} | {"nope"}
)
OUTCOMES = ("ok", "needs_inspection", "needs_site_survey", "bogus")
AGENCIES = ("MOTCUA", "SXD", "SNNMT", "UBND-TINH", "CAMDUONG", "BAOTHANG.TTPVHCC", "XX")
#: For a dossier already received: (cumulative percentage, event type).
LATER_EVENTS: tuple[tuple[int, type[Any]], ...] = (
    (50, ev.StepCompleted),
    (60, ev.DossierHandedOff),
    (68, ev.SupplementRequested),
    (76, ev.SupplementReceived),
    (82, ev.DossierRescheduled),
    (90, ev.ResultReady),
    (94, ev.DossierReturned),
    (96, ev.DossierWithdrawn),
    (98, ev.DossierRejected),
    (100, ev.DossierReceived),
)


def draw_event(
    data: st.DataObject, states: dict[str, DossierState | None], at: datetime, n: int
) -> ev.InboundEvent:
    """A valid event, made plausible more often than not by peeking at the dossier's state."""
    dossier = data.draw(st.sampled_from(DOSSIERS))
    state = states.get(dossier)
    roll = data.draw(st.integers(min_value=0, max_value=99))
    if state is None:
        cls: type[Any] = ev.DossierReceived if roll < 80 else LATER_EVENTS[roll % 9][1]
    else:
        cls = next(kind for limit, kind in LATER_EVENTS if roll < limit)
    current = state.current_step if state is not None else None
    likely = current is not None and data.draw(st.integers(min_value=0, max_value=9)) < 8
    fields: dict[str, Any] = {}
    if cls is ev.DossierReceived:
        fields = {
            "procedure": data.draw(st.sampled_from(PROCEDURES)),
            "channel": data.draw(st.sampled_from(list(ev.FilingChannel))),
        }
    elif cls is ev.StepCompleted:
        step = current if likely else data.draw(st.sampled_from(STEP_IDS))
        outcomes: list[str] = list(OUTCOMES)
        proc = CATALOG.procedure(state.procedure) if state is not None else None
        if likely and proc is not None and current is not None:
            outcomes = list(proc.step(current).outcomes())
        fields = {
            "step": step,
            "outcome": data.draw(st.sampled_from(outcomes)),
            "to_agency": data.draw(st.none() | st.none() | st.sampled_from(AGENCIES)),
        }
    elif cls is ev.DossierHandedOff:
        fields = {
            "step": data.draw(st.sampled_from(STEP_IDS)),
            "to_agency": data.draw(st.sampled_from(AGENCIES)),
            "from_agency": data.draw(st.none() | st.sampled_from(AGENCIES)),
        }
    elif cls in (ev.SupplementRequested, ev.DossierWithdrawn, ev.DossierRejected):
        fields = {"reason": "lý do"}
    elif cls is ev.DossierRescheduled:
        shift = data.draw(st.integers(min_value=-48, max_value=40 * 24))
        fields = {"new_due_at": at + timedelta(hours=shift), "reason": "xin lỗi"}
    elif cls is ev.ResultReady:
        fields = {"outcome": data.draw(st.sampled_from(list(ev.ResultOutcome)))}
    event: ev.InboundEvent = cls(
        event_id=f"e{n}",
        dossier_id=dossier,
        occurred_at=at,
        agency=data.draw(st.sampled_from(AGENCIES)),
        **fields,
    )
    return event


def run(
    events: list[ev.InboundEvent], ctx: RoutingContext = CTX, *, twice: bool = False
) -> tuple[dict[str, DossierState | None], list[fx.Effect]]:
    """Apply ``events`` (each delivered twice in a row when ``twice``), bytes in between."""
    states: dict[str, DossierState | None] = {}
    effects: list[fx.Effect] = []
    for event in events:
        for delivery in range(2 if twice else 1):
            state = states.get(event.dossier_id)
            if state is not None:
                state = DossierState.from_bytes(state.to_bytes())
            new, out = apply(state, event, ctx)
            if delivery == 1 and state is not None:
                assert out == [], f"re-delivered {event.type} emitted {out}"
            if delivery == 0:
                effects.extend(out)
            states[event.dossier_id] = new
    return states, effects


def dues(state: DossierState) -> tuple[datetime, ...]:
    return (state.committed_due_at, state.statutory_due_at, state.original_due_at)


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    data=st.data(),
    policy=st.builds(
        RoutingPolicy,
        second_supplement_counts_late=st.booleans(),
        rescheduled_counts_late=st.booleans(),
    ),
)
def test_any_sequence_of_valid_events(data: st.DataObject, policy: RoutingPolicy) -> None:
    """Never raises; refusals change nothing; pauses never shorten a deadline; replay is a no-op."""
    ctx = RoutingContext(CATALOG, CAL, policy)
    states: dict[str, DossierState | None] = {}
    events: list[ev.InboundEvent] = []
    at = vn(2026, 1, 5, 7)
    for n in range(data.draw(st.integers(min_value=1, max_value=60))):
        at += data.draw(
            st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)), label="gap"
        )
        if events and data.draw(st.integers(0, 9)) == 0:
            event = data.draw(st.sampled_from(events))  # an old record delivered again
        else:
            event = draw_event(data, states, at, n)
        events.append(event)
        before = states.get(event.dossier_id)
        new, effects = apply(before, event, ctx)
        states[event.dossier_id] = new
        assert all(isinstance(e, fx.Effect) for e in effects)
        refused = [e for e in effects if isinstance(e, fx.Rejected)]
        if refused:
            assert len(effects) == 1
            assert domain(new) == domain(before)
        if new is not None:
            assert DossierState.from_bytes(new.to_bytes()) == new
            if before is not None:
                # Only pauses (by their working time) and one later appointment move dues,
                # and never earlier; a step's due moves only while it is the same step.
                assert all(b <= a for b, a in zip(dues(before), dues(new), strict=True))
                if before.sheet and len(new.sheet) >= len(before.sheet):
                    index = len(before.sheet) - 1
                    assert new.sheet[index].due_at >= before.sheet[index].due_at
            if isinstance(event, ev.SupplementReceived) and not refused:
                assert before is not None
                assert all(b <= a for b, a in zip(dues(before), dues(new), strict=True))

    once_states, once_effects = run(events, ctx)
    twice_states, twice_effects = run(events, ctx, twice=True)
    assert twice_states == once_states == states
    assert twice_effects == once_effects


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(
        min_value=datetime(1976, 1, 1), max_value=datetime(2100, 12, 31, 23, 59, 59, 999999)
    ),
    offset_minutes=st.sampled_from([0, 7 * 60, -5 * 60, 5 * 60 + 45]),
)
def test_state_bytes_round_trip_exactly(when: datetime, offset_minutes: int) -> None:
    instant = when.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    d = Driver()
    _received(d)
    state = d.st.model_copy(
        update={"last_event_at": instant, "closed_at": instant, "received_at": instant}
    )
    raw = state.to_bytes()
    loaded = DossierState.from_bytes(raw)
    assert loaded == state
    assert loaded.to_bytes() == raw
    assert loaded.last_event_at.microsecond == instant.astimezone(VN_TZ).microsecond


def test_public_view_is_long_names_and_local_iso() -> None:
    d = Driver()
    _received(d)
    view = d.st.public()
    # Mon 06-01 08:00 + 80 h: Mon 7.5, Tue-Fri 39.5, Mon-Fri 06-08..12 79.5, Mon 06-15 08:00.
    assert view["committed_due_at"] == "2026-06-15T08:00:00+07:00"
    assert view["status"] == "open"
    sheet = view["sheet"]
    assert isinstance(sheet, list) and sheet[0]["started_at"] == "2026-06-01T08:00:00+07:00"


def test_effects_are_plain_values() -> None:
    closed = fx.Closed("D1", "returned")
    assert closed == fx.Closed("D1", "returned")
    assert replace(closed, status="withdrawn") != closed
    with pytest.raises(AttributeError):
        closed.status = "x"  # type: ignore[misc]


def test_saved_days_can_be_negative() -> None:
    d = Driver()
    received_3day(d)
    # Ready Mon 06-08 17:30: Mon 7.5 + Tue-Fri 32 + Mon 8 = 47.5 h = 5.9375 days used,
    # 3 - 5.9375 = -2.9375 saved, late (due Thu 06-04).
    effects = d.do(ev.ResultReady, vn(2026, 6, 8, 17, 30), "MOTCUA", outcome="approved")
    completed: fx.Completed = only(effects, fx.Completed)
    assert (completed.completion, completed.used_days, completed.saved_days) == (
        "late",
        5.9375,
        -2.9375,
    )
    assert Decimal(str(completed.saved_days)) == Decimal("-2.9375")
