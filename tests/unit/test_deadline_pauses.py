"""Supplement pauses against the clock's start and in calendar days (issue 14.1, 14.2).

Expected values are worked out by hand; each row's comment shows the arithmetic and,
where it changed, what the old rule said. Tết 2026 is off from Sat 14/2 to Sun 22/2;
2/9 (and 1/9 with it) is National Day.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.calendar import WORKING_DAY, WorkingCalendar
from workflows.deadlines import (
    Completion,
    TimeAllowance,
    TimeUnit,
    allowance_working_days,
    classify,
    counting_start,
    extend_for_pause,
    given_back_days,
)
from workflows.pauses import days_saved, due_with_pauses, working_time_used
from workflows.routing import RoutingContext, RoutingPolicy

from support.context import expect_procedure, routing_context
from support.dossiers import DESK, Script
from support.fold import fold_state
from support.time import vn

CAL = WorkingCalendar()
SAME_DAY = TimeAllowance(Decimal(0), TimeUnit.WORKING_DAYS)
ONE_DAY = TimeAllowance(Decimal(1), TimeUnit.WORKING_DAYS)
CUTOFF = time(15, 0)
Pauses = list[tuple[datetime, datetime]]


def cd(days: int) -> TimeAllowance:
    return TimeAllowance(Decimal(days), TimeUnit.CALENDAR_DAYS)


def span(a: str, b: str) -> tuple[datetime, datetime]:
    return vn(a), vn(b)


# --------------------------------------------------------------------------- the counting start


@pytest.mark.parametrize(
    ("received", "allowance", "pauses", "due"),
    [
        # Wed 25/11 15:01, after the cut-off: counted from Thu 07:30, due Thu 17:30. The
        # pause Wed 15:10-16:00 is wholly before the count: nothing (was Fri 08:20).
        (
            "2026-11-25 15:01",
            SAME_DAY,
            [span("2026-11-25 15:10", "2026-11-25 16:00")],
            "2026-11-26 17:30",
        ),
        # 14:59, before the cut-off: counted from 14:59; the same pause is within the day,
        # so today's close stays (was Thu 08:20)
        (
            "2026-11-25 14:59",
            SAME_DAY,
            [span("2026-11-25 15:10", "2026-11-25 16:00")],
            "2026-11-25 17:30",
        ),
        # 15:00 sharp still counts the same day: as 14:59
        (
            "2026-11-25 15:00",
            SAME_DAY,
            [span("2026-11-25 15:10", "2026-11-25 16:00")],
            "2026-11-25 17:30",
        ),
        # 15:01, pause Wed 16:00 -> Thu 09:00 across the start: the count resumes Thu
        # 09:00, due Thursday's close (was Thu 17:30 + 3 h = Fri 10:00)
        (
            "2026-11-25 15:01",
            SAME_DAY,
            [span("2026-11-25 16:00", "2026-11-26 09:00")],
            "2026-11-26 17:30",
        ),
        # 14:59, the same overnight pause: the supplement came Thursday, due Thu 17:30
        (
            "2026-11-25 14:59",
            SAME_DAY,
            [span("2026-11-25 16:00", "2026-11-26 09:00")],
            "2026-11-26 17:30",
        ),
        # 15:01, pause Thu 16:00 -> Fri 08:00 after the start: due Friday's close
        (
            "2026-11-25 15:01",
            SAME_DAY,
            [span("2026-11-26 16:00", "2026-11-27 08:00")],
            "2026-11-27 17:30",
        ),
        # 15:01, pause asked Thu 17:45, after the due Thu 17:30: nothing, already late
        (
            "2026-11-25 15:01",
            SAME_DAY,
            [span("2026-11-26 17:45", "2026-11-27 09:00")],
            "2026-11-26 17:30",
        ),
        # 1 working day, Fri 27/11 15:01: counted from Mon 07:30, due Mon 17:30. Pause
        # Fri 15:10-16:00 before the count: nothing (was Tue 08:20)
        (
            "2026-11-27 15:01",
            ONE_DAY,
            [span("2026-11-27 15:10", "2026-11-27 16:00")],
            "2026-11-30 17:30",
        ),
        # pause Fri 16:00 -> Mon 09:00: only Mon 07:30-09:00 counts, 1.5 h -> Tue 09:00
        # (was 3 h -> Tue 10:30)
        (
            "2026-11-27 15:01",
            ONE_DAY,
            [span("2026-11-27 16:00", "2026-11-30 09:00")],
            "2026-12-01 09:00",
        ),
        # pause Mon 10:00-11:00 after the start: 1 h -> Tue 08:30 (as before)
        (
            "2026-11-27 15:01",
            ONE_DAY,
            [span("2026-11-30 10:00", "2026-11-30 11:00")],
            "2026-12-01 08:30",
        ),
        # pause asked Mon 17:30, at the due: nothing (was 1.5 h -> Tue 09:00)
        (
            "2026-11-27 15:01",
            ONE_DAY,
            [span("2026-11-30 17:30", "2026-12-01 09:00")],
            "2026-11-30 17:30",
        ),
        # two pauses, before and after the start: only the second, 1 h -> Tue 08:30
        (
            "2026-11-27 15:01",
            ONE_DAY,
            [
                span("2026-11-27 15:10", "2026-11-27 16:00"),
                span("2026-11-30 10:00", "2026-11-30 11:00"),
            ],
            "2026-12-01 08:30",
        ),
    ],
)
def test_pauses_count_from_the_counting_start(
    received: str, allowance: TimeAllowance, pauses: Pauses, due: str
) -> None:
    start = counting_start(CAL, vn(received), CUTOFF)
    assert due_with_pauses(CAL, start, allowance, pauses) == vn(due)
    # One pause at a time, as the router applies them, gives the same due.
    moved = due_with_pauses(CAL, start, allowance, [])
    for begin, end in pauses:
        moved = extend_for_pause(CAL, moved, begin, end, counted_from=start, allowance=allowance)
    assert moved == vn(due)


def test_used_time_and_days_saved_leave_out_a_pause_before_the_start() -> None:
    # The dossier: same day, Wed 15:01, pause Wed 15:10-16:00, ready Fri 08:10.
    start = counting_start(CAL, vn("2026-11-25 15:01"), CUTOFF)
    pauses = [span("2026-11-25 15:10", "2026-11-25 16:00")]
    finished = vn("2026-11-27 08:10")
    due = due_with_pauses(CAL, start, SAME_DAY, pauses)
    assert classify(CAL, finished, due) is Completion.LATE  # due Thu 17:30
    # used Thu 8 h + Fri 40 min; saved: 40 min past the due = -1/12 day
    assert days_saved(CAL, start, finished, SAME_DAY, pauses) == (
        Decimal("1.083333"),
        Decimal("-0.083333"),
    )


# --------------------------------------------------------------------------- calendar days

MON_14_9 = "2026-09-14 08:00"  # 10 calendar days from Mon 14/9: Thu 24/9


@pytest.mark.parametrize(
    ("start", "days", "pauses", "due"),
    [
        # no pause: Thu 24/9 17:30
        (MON_14_9, 10, [], "2026-09-24 17:30"),
        # Fri 18/9 10:00 -> Mon 21/9 10:00: Sat, Sun, Mon = 3 days, Sun 27/9 -> Mon 28/9
        # (was 8 working hours: Fri 25/9 17:30)
        (MON_14_9, 10, [span("2026-09-18 10:00", "2026-09-21 10:00")], "2026-09-28 17:30"),
        # Wed 16/9 09:00-15:00, within one day: 0 days (was 4 h: Fri 25/9 11:30)
        (MON_14_9, 10, [span("2026-09-16 09:00", "2026-09-16 15:00")], "2026-09-24 17:30"),
        # Wed 16/9 16:00 -> Thu 09:00 overnight: 1 day, Fri 25/9 (was 3 h: Fri 25/9 10:30)
        (MON_14_9, 10, [span("2026-09-16 16:00", "2026-09-17 09:00")], "2026-09-25 17:30"),
        # two pauses, 1 + 3 days: 24 + 4 = Mon 28/9
        (
            MON_14_9,
            10,
            [
                span("2026-09-15 10:00", "2026-09-16 10:00"),
                span("2026-09-18 10:00", "2026-09-21 10:00"),
            ],
            "2026-09-28 17:30",
        ),
        # two pauses the same day: 0 + 0
        (
            MON_14_9,
            10,
            [
                span("2026-09-16 08:00", "2026-09-16 09:00"),
                span("2026-09-16 14:00", "2026-09-16 16:00"),
            ],
            "2026-09-24 17:30",
        ),
        # 13 days end Sun 27/9 (due Mon 28/9); 1 day back ends Mon 28/9: the due stays,
        # the last day moves, not the Monday it was moved to (was 8 h: Tue 29/9 17:30)
        (MON_14_9, 13, [span("2026-09-15 10:00", "2026-09-16 10:00")], "2026-09-28 17:30"),
        # 12 days end Sat 26/9 (due Mon 28/9); asked that Monday 10:00, back Tue 29/9 10:00:
        # days back from the request's own date, so the due is Tue 29/9, not before it
        (MON_14_9, 12, [span("2026-09-28 10:00", "2026-09-29 10:00")], "2026-09-29 17:30"),
        # asked on the last day Thu 24/9 10:00, back Fri 10:00: 1 day, Fri 25/9
        (MON_14_9, 10, [span("2026-09-24 10:00", "2026-09-25 10:00")], "2026-09-25 17:30"),
        # asked Fri 25/9, after the due Thu 24/9 17:30: nothing
        (MON_14_9, 10, [span("2026-09-25 10:00", "2026-09-28 10:00")], "2026-09-24 17:30"),
        # Tết: 7 days from Mon 9/2/2026 end Mon 16/2, a holiday: due Mon 23/2. Paused Fri
        # 13/2 16:00 -> Mon 23/2 08:30: 10 days, last day Thu 26/2 (was 2.5 h: Tue 24/2 10:00)
        ("2026-02-09 08:00", 7, [span("2026-02-13 16:00", "2026-02-23 08:30")], "2026-02-26 17:30"),
        # Tết: 10 days end Thu 19/2, off: due Mon 23/2. Paused Wed 11/2 10:00 -> Tue 24/2
        # 10:00: 13 days, last day Wed 4/3 (was 32 working hours: Fri 27/2 17:30)
        (
            "2026-02-09 08:00",
            10,
            [span("2026-02-11 10:00", "2026-02-24 10:00")],
            "2026-03-04 17:30",
        ),
        # received Sat 19/9, counted from Mon 21/9: 3 days, Thu 24/9. Paused Sat 19/9 10:00
        # -> Mon 07:00, before the count: nothing
        ("2026-09-21 07:30", 3, [span("2026-09-19 10:00", "2026-09-21 07:00")], "2026-09-24 17:30"),
        # the same start, paused Sat 10:00 -> Tue 22/9 10:00: counted from Mon, 1 day, Fri
        # 25/9 (from Saturday it would be 3 days; the old rule gave 10.5 h: Mon 28/9 10:00)
        ("2026-09-21 07:30", 3, [span("2026-09-19 10:00", "2026-09-22 10:00")], "2026-09-25 17:30"),
    ],
)
def test_calendar_day_pauses_give_back_whole_days(
    start: str, days: int, pauses: Pauses, due: str
) -> None:
    assert due_with_pauses(CAL, vn(start), cd(days), pauses) == vn(due)


@pytest.mark.parametrize(
    ("paused_from", "paused_to", "days"),
    [
        ("2026-09-18 10:00", "2026-09-21 10:00", 3),  # Fri -> Mon: Sat, Sun, Mon
        ("2026-09-16 09:00", "2026-09-16 15:00", 0),  # a few hours: no day
        ("2026-09-16 17:00", "2026-09-17 07:00", 1),  # overnight: the receipt's day
        ("2026-02-13 16:00", "2026-02-23 08:30", 10),  # across Tết
    ],
)
def test_given_back_days(paused_from: str, paused_to: str, days: int) -> None:
    assert given_back_days(CAL, vn(paused_from), vn(paused_to)) == days


def test_an_apology_date_moves_by_whole_days_in_a_calendar_day_procedure() -> None:
    # The apology's Mon 28/9 10:00, then 3 days back: Thu 1/10 10:00, same time of day
    due = vn("2026-09-28 10:00")
    fri_mon = span("2026-09-25 10:00", "2026-09-28 09:00")
    assert extend_for_pause(CAL, due, *fri_mon, allowance=cd(10)) == vn("2026-10-01 10:00")
    # landing on Tết Mon 16/2: the close of the next working day, Mon 23/2
    tet = extend_for_pause(
        CAL, vn("2026-02-12 10:00"), *span("2026-02-11 10:00", "2026-02-15 10:00"), allowance=cd(5)
    )
    assert tet == vn("2026-02-23 17:30")


def test_calendar_day_used_time_and_days_saved_follow_the_moved_due() -> None:
    start = vn(MON_14_9)
    pauses = [span("2026-09-18 10:00", "2026-09-21 10:00")]
    # statutory 10 days: due Mon 28/9 17:30 with the pause. Mon 14/9 08:00 -> Thu 24/9
    # 17:30 (the unpaused due) is 7.5 h + 8 working days = 71.5 h = 8.9375 days.
    allowance = allowance_working_days(CAL, start, cd(10))
    assert allowance == Decimal("8.9375")
    at_due = vn("2026-09-28 17:30")
    assert days_saved(CAL, start, at_due, cd(10), pauses) == (allowance, Decimal(0))
    # Tue 29/9 10:00 is late by 2.5 h: -0.3125 (the old rule: due Fri 25/9, used
    # 79.5 h less 8 h paused, saved -1.0 at the Monday close)
    late = vn("2026-09-29 10:00")
    assert classify(CAL, late, due_with_pauses(CAL, start, cd(10), pauses)) is Completion.LATE
    assert days_saved(CAL, start, late, cd(10), pauses) == (Decimal("9.25"), Decimal("-0.3125"))
    # working time used = worked - what the pause moved the due by (Fri 25, Mon 28)
    assert working_time_used(CAL, start, at_due, cd(10), pauses) == timedelta(hours=71.5)


# --------------------------------------------------------------------------- through the router


@pytest.mark.parametrize(
    ("received", "pause", "ready", "due", "completion"),
    [
        # after the cut-off, pause before the count: due Thu 17:30, Fri 08:10 is late
        # (was due Fri 08:20, on time)
        (
            "2026-11-25 15:01",
            ("2026-11-25 15:10", "2026-11-25 16:00"),
            "2026-11-27 08:10",
            "2026-11-26 17:30",
            Completion.LATE,
        ),
        # pause across the count's start: due Thu 17:30, Thu 17:00 is on time (was due
        # Fri 10:00 and early)
        (
            "2026-11-25 15:01",
            ("2026-11-25 16:00", "2026-11-26 09:00"),
            "2026-11-26 17:00",
            "2026-11-26 17:30",
            Completion.ON_TIME,
        ),
        # 14:59, before the cut-off, pause within the day: due Wed 17:30, Thu 08:00 late
        # (was due Thu 08:20, on time)
        (
            "2026-11-25 14:59",
            ("2026-11-25 15:10", "2026-11-25 16:00"),
            "2026-11-26 08:00",
            "2026-11-25 17:30",
            Completion.LATE,
        ),
        # 15:00 sharp, the same pause: Wed 17:00 on time
        (
            "2026-11-25 15:00",
            ("2026-11-25 15:10", "2026-11-25 16:00"),
            "2026-11-25 17:00",
            "2026-11-25 17:30",
            Completion.ON_TIME,
        ),
    ],
)
def test_same_day_dossier_pauses_through_the_router(
    received: str, pause: tuple[str, str], ready: str, due: str, completion: Completion
) -> None:
    expect_procedure(routing_context().catalog, "1.001193")
    s = Script("PAUSE-SD")
    desk = "BAOTHANG.TTPVHCC"
    events = [
        s.received(received, desk, "1.001193"),
        s.supplement(pause[0], desk),
        s.supplied(pause[1], desk),
        s.result(ready, desk),
    ]
    state = fold_state(events, routing_context())
    assert (state.committed_due_at, state.statutory_due_at, state.original_due_at) == (vn(due),) * 3
    assert state.sheet[0].due_at == vn(due)
    assert state.outcome is not None and state.outcome.completion is completion


ONE_PAUSE = RoutingContext(
    routing_context().catalog,
    routing_context().calendar,
    RoutingPolicy(second_supplement_counts_late=False),
)


@pytest.mark.parametrize(
    ("received", "pauses", "ready", "committed", "statutory", "completion"),
    [
        # 1.013225: 10 days committed (Thu 24/9), 15 statutory (Tue 29/9). Fri 18/9 ->
        # Mon 21/9 gives 3 days: Mon 28/9 and Fri 2/10; Mon 28/9 15:00 is on time (was
        # due Fri 25/9: late)
        (
            MON_14_9,
            [("2026-09-18 10:00", "2026-09-21 10:00")],
            "2026-09-28 15:00",
            "2026-09-28 17:30",
            "2026-10-02 17:30",
            Completion.ON_TIME,
        ),
        # Wed 16/9 09:00-15:00 gives 0 days: Fri 25/9 09:00 is late (was due Fri 11:30)
        (
            MON_14_9,
            [("2026-09-16 09:00", "2026-09-16 15:00")],
            "2026-09-25 09:00",
            "2026-09-24 17:30",
            "2026-09-29 17:30",
            Completion.LATE,
        ),
        # two pauses, 1 + 3 days (a second request counts late by default; not here)
        (
            MON_14_9,
            [("2026-09-15 10:00", "2026-09-16 10:00"), ("2026-09-18 10:00", "2026-09-21 10:00")],
            "2026-09-28 15:00",
            "2026-09-28 17:30",
            "2026-10-05 17:30",
            Completion.ON_TIME,
        ),
        # Tết: received Mon 9/2; 10 days end Thu 19/2 (due Mon 23/2), 15 end Tue 24/2.
        # Wed 11/2 10:00 -> Tue 24/2 10:00 gives 13 days: Wed 4/3 and Mon 9/3; Tue 3/3
        # is early (was due Fri 27/2: late)
        (
            "2026-02-09 08:00",
            [("2026-02-11 10:00", "2026-02-24 10:00")],
            "2026-03-03 10:00",
            "2026-03-04 17:30",
            "2026-03-09 17:30",
            Completion.EARLY,
        ),
    ],
)
def test_calendar_day_dossier_pauses_through_the_router(
    received: str,
    pauses: list[tuple[str, str]],
    ready: str,
    committed: str,
    statutory: str,
    completion: Completion,
) -> None:
    expect_procedure(ONE_PAUSE.catalog, "1.013225")
    s = Script("PAUSE-CD")
    events = [s.received(received, DESK, "1.013225")]
    for begin, end in pauses:
        events += [s.supplement(begin, DESK), s.supplied(end, DESK)]
    events.append(s.result(ready, DESK))
    state = fold_state(events, ONE_PAUSE)
    assert (state.committed_due_at, state.original_due_at) == (vn(committed),) * 2
    assert state.statutory_due_at == vn(statutory)
    assert state.outcome is not None and state.outcome.completion is completion
    # days saved agree with the statutory due: the working time left to it when ready
    left = CAL.working_time_between(vn(ready), vn(statutory)) / WORKING_DAY
    assert state.outcome.saved_days == pytest.approx(left, abs=1e-4)


def test_a_step_due_already_passed_is_not_moved_by_a_later_pause() -> None:
    # 1.013225's receive step (1 day) is due Tue 15/9 17:30; the pause Fri 18/9 -> Mon
    # 21/9 begins after it: the step stays due Tue (was +8 h: Wed 16/9 17:30)
    s = Script("PAUSE-STEP")
    events = [
        s.received(MON_14_9, DESK, "1.013225"),
        s.supplement("2026-09-18 10:00", DESK),
        s.supplied("2026-09-21 10:00", DESK),
    ]
    state = fold_state(events, routing_context())
    assert state.sheet[0].due_at == vn("2026-09-15 17:30")
    assert state.committed_due_at == vn("2026-09-28 17:30")
    assert state.pauses[0].paused_hours == 8  # Fri 10:00-17:30 5.5 h + Mon 2.5 h


def test_paused_hours_leave_out_the_time_before_the_count() -> None:
    s = Script("PAUSE-HOURS")
    desk = "BAOTHANG.TTPVHCC"
    events = [
        s.received("2026-11-25 15:01", desk, "1.001193"),
        s.supplement("2026-11-25 16:00", desk),
        s.supplied("2026-11-26 09:00", desk),
    ]
    state = fold_state(events, routing_context())
    assert state.pauses[0].paused_hours == 1.5  # Thu 07:30-09:00 only (was 3 h)


# --------------------------------------------------------------------------- properties

INSTANTS = st.builds(
    lambda day, minute: vn(2025, 1, 1) + timedelta(days=day, minutes=minute),
    st.integers(0, 3 * 365),
    st.integers(0, 24 * 60 - 1),
)
ALLOWANCES = st.one_of(
    st.builds(
        TimeAllowance,
        st.decimals(min_value=0, max_value=30, places=1),
        st.sampled_from([TimeUnit.WORKING_DAYS, TimeUnit.WORKING_HOURS]),
    ),
    st.builds(cd, st.integers(0, 45)),
)
# (gap before, length) in minutes, one after the other from three days before the start
PAUSE_STEPS = st.lists(
    st.tuples(st.integers(0, 5 * 24 * 60), st.integers(0, 10 * 24 * 60)), max_size=4
)


def pause_sequence(start: datetime, steps: list[tuple[int, int]]) -> Pauses:
    out: Pauses = []
    at = start - timedelta(days=3)
    for gap, length in steps:
        begin = at + timedelta(minutes=gap)
        at = begin + timedelta(minutes=length)
        out.append((begin, at))
    return out


@given(INSTANTS, ALLOWANCES, PAUSE_STEPS)
def test_due_used_time_and_days_saved_agree(
    received: datetime, allowance: TimeAllowance, steps: list[tuple[int, int]]
) -> None:
    start = counting_start(CAL, received)
    generated = pause_sequence(start, steps)
    due = due_with_pauses(CAL, start, allowance, generated)
    # What a dossier finished at the due had: the pauses begun before it, ended by it.
    # What the due left out, or the part of a pause after it, does not move it.
    pauses = [(b, min(e, due)) for b, e in generated if b < due]
    assert due_with_pauses(CAL, start, allowance, pauses) == due
    assert due >= due_with_pauses(CAL, start, allowance, [])  # a pause never shortens
    whole = allowance_working_days(CAL, start, allowance)

    # Finishing exactly at the due: on time, the whole allowance used, nothing saved.
    used, saved = days_saved(CAL, start, due, allowance, pauses)
    assert classify(CAL, due, due) is Completion.ON_TIME
    if not allowance.same_day:
        assert used == whole
    assert saved == 0

    # One working day after it: late, a day over.
    later = CAL.add_working_time(due, WORKING_DAY)
    used_later, saved_later = days_saved(CAL, start, later, allowance, pauses)
    assert classify(CAL, later, due) is Completion.LATE
    assert saved_later == -1
    if not allowance.same_day:
        assert used_later == whole + 1


@given(INSTANTS, ALLOWANCES, PAUSE_STEPS, st.integers(-3 * 24 * 60, 60 * 24 * 60))
def test_days_saved_has_the_sign_of_the_verdict(
    received: datetime, allowance: TimeAllowance, steps: list[tuple[int, int]], minutes: int
) -> None:
    start = counting_start(CAL, received)
    finished = start + timedelta(minutes=minutes)
    # result_ready ends the pause open at that instant: every pause ends by the finish
    pauses = [(b, min(e, finished)) for b, e in pause_sequence(start, steps) if b < finished]
    due = due_with_pauses(CAL, start, allowance, pauses)
    used, saved = days_saved(CAL, start, finished, allowance, pauses)
    assert used >= 0
    assert saved <= allowance_working_days(CAL, start, allowance)  # never more than the law's
    if finished <= due:
        assert saved >= 0
    if classify(CAL, finished, due) is Completion.LATE:
        assert saved <= 0
    if allowance.same_day:
        assert saved <= 0  # a same-day procedure saves nothing
