"""Same-day procedures save nothing and keep their day through a short pause (issue 14.5);
an apology does not make a late dossier on time (issue 14.6)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from workflows.calendar import WorkingCalendar
from workflows.deadlines import Completion, TimeAllowance, TimeUnit, counting_start
from workflows.pauses import days_saved, due_with_pauses
from workflows.routing import RoutingPolicy

from support.context import expect_procedure, routing_context
from support.dossiers import MOTCUA, Script
from support.fold import fold_state
from support.time import vn

CAL = WorkingCalendar()
SAME_DAY = TimeAllowance(Decimal(0), TimeUnit.WORKING_DAYS)
BIRTH, DESK = "1.001193", "BAOTHANG.TTPVHCC"  # same day, 15:00 cut-off


@pytest.mark.parametrize(
    ("received", "pauses", "ready", "due", "completion", "used", "saved"),
    [
        # Wed 25/11 15:01, after the cut-off, counted from Thu 07:30; ready Wed 16:05,
        # before its day: early, nothing used, nothing saved (was 1.0 saved)
        ("2026-11-25 15:01", [], "2026-11-25 16:05", "2026-11-26 17:30", "early", 0, 0),
        # Thu 08:00, ready 10:30: 2.5 h used, on time, nothing saved (was 0.625)
        ("2026-11-26 08:00", [], "2026-11-26 10:30", "2026-11-26 17:30", "on_time", 0.3125, 0),
        # ready Fri 09:00 without a pause: late by Fri 07:30-09:00 = 1.5 h, -0.1875 (as before)
        ("2026-11-26 08:00", [], "2026-11-27 09:00", "2026-11-26 17:30", "late", 1.125, -0.1875),
        # a one-hour pause Thu 16:00-17:00 keeps Thursday's close: Fri 09:00 is late,
        # used 9 h - 1 h (was due Fri 08:30 and on time, the whole Friday)
        (
            "2026-11-26 08:00",
            [("2026-11-26 16:00", "2026-11-26 17:00")],
            "2026-11-27 09:00",
            "2026-11-26 17:30",
            "late",
            1.0,
            -0.1875,
        ),
        # the supplement came back Fri 08:00: due Friday's close, Fri 16:00 on time,
        # used 14 h - 2 h paused, nothing saved (was due Fri 09:30, on time by day too)
        (
            "2026-11-26 08:00",
            [("2026-11-26 16:00", "2026-11-27 08:00")],
            "2026-11-27 16:00",
            "2026-11-27 17:30",
            "on_time",
            1.5,
            0,
        ),
    ],
)
def test_same_day_dossiers_through_the_router(
    received: str,
    pauses: list[tuple[str, str]],
    ready: str,
    due: str,
    completion: str,
    used: float,
    saved: float,
) -> None:
    expect_procedure(routing_context().catalog, BIRTH)
    s = Script("SAME-DAY")
    events = [s.received(received, DESK, BIRTH)]
    for begin, end in pauses:
        events += [s.supplement(begin, DESK), s.supplied(end, DESK)]
    events.append(s.result(ready, DESK))
    state = fold_state(events, routing_context())
    assert state.outcome is not None
    assert (state.outcome.completion.value, state.outcome.used_days) == (completion, used)
    assert state.outcome.saved_days == saved
    assert (state.committed_due_at, state.statutory_due_at) == (vn(due), vn(due))


@pytest.mark.parametrize(
    ("paused_from", "paused_to", "due"),
    [
        ("2026-11-26 09:00", "2026-11-26 10:00", "2026-11-26 17:30"),  # within the day: today
        ("2026-11-26 16:00", "2026-11-26 17:29", "2026-11-26 17:30"),  # back before the close
        ("2026-11-26 16:00", "2026-11-26 17:30", "2026-11-27 17:30"),  # at the close: Fri
        ("2026-11-26 16:00", "2026-11-27 08:00", "2026-11-27 17:30"),  # back Friday: Friday
        ("2026-11-26 16:00", "2026-11-28 10:00", "2026-11-30 17:30"),  # back Saturday: Monday
        ("2026-11-26 17:30", "2026-11-27 09:00", "2026-11-26 17:30"),  # asked at the due: none
    ],
)
def test_a_same_day_due_moves_to_the_day_the_count_resumes(
    paused_from: str, paused_to: str, due: str
) -> None:
    start = vn("2026-11-26 08:00")  # Thu: due Thu 17:30 unpaused
    pauses = [(vn(paused_from), vn(paused_to))]
    assert due_with_pauses(CAL, start, SAME_DAY, pauses) == vn(due)


def test_a_same_day_dossier_never_saves_days() -> None:
    start = counting_start(CAL, vn("2026-11-25 15:01"), time(15, 0))
    for ready in ("2026-11-25 16:05", "2026-11-26 07:30", "2026-11-26 17:30", "2026-11-26 20:00"):
        assert days_saved(CAL, start, vn(ready), SAME_DAY, [])[1] == 0, ready
    assert days_saved(CAL, start, vn("2026-11-27 08:30"), SAME_DAY, []) == (
        Decimal("1.125"),  # Thu 8 h + Fri 1 h
        Decimal("-0.125"),  # an hour past Thursday's close
    )


def test_an_apology_does_not_make_a_late_dossier_on_time() -> None:
    # 2.001610, 3 working days from Mon 30/11 09:00: due Thu 3/12 09:00. The apology on
    # Wed moves the appointment to Mon 7/12; ready Fri 4/12 meets it, and is still late
    # against the first appointment, the default yardstick.
    assert RoutingPolicy().rescheduled_counts_late is True
    expect_procedure(routing_context().catalog, "2.001610")
    s = Script("APOLOGY")
    events = [
        s.received("2026-11-30 09:00", MOTCUA, "2.001610"),
        s.rescheduled("2026-12-02 10:00", MOTCUA, "2026-12-07 17:30"),
        s.result("2026-12-04 10:00", MOTCUA),
    ]
    state = fold_state(events, routing_context())
    assert state.original_due_at == vn("2026-12-03 09:00")
    assert state.committed_due_at == vn("2026-12-07 17:30")
    assert state.outcome is not None and state.outcome.completion is Completion.LATE
