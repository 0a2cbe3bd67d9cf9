"""Deadline math: counting start, due instants, pauses, completion, the running view.

Expected values are worked out by hand (see the holiday list at the top of
test_calendar.py); each row's comment shows the arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.calendar import VN_TZ, NaiveDatetimeError, WorkingCalendar
from workflows.deadline_view import DeadlineView, deadline_view
from workflows.deadlines import (
    Completion,
    TimeAllowance,
    TimeUnit,
    allowance_working_days,
    classify,
    counting_start,
    due_instant,
    extend_for_pause,
    paused_working_time,
    working_days_saved,
    working_days_used,
)
from workflows.pauses import due_with_pauses

from support.time import vn

CAL = WorkingCalendar()
WD = TimeUnit.WORKING_DAYS
WH = TimeUnit.WORKING_HOURS
CD = TimeUnit.CALENDAR_DAYS
D = Decimal


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


# --------------------------------------------------------------------------- allowances


@pytest.mark.parametrize(
    ("amount", "unit", "duration"),
    [
        (D("2.5"), WD, hours(20)),  # 2.5 working days = 20 h
        (D("16.5"), WD, hours(132)),  # 16.5 days, a real decision figure
        (D("10"), WD, hours(80)),  # construction licence, cut from 15
        (D("0"), WD, timedelta(0)),  # same-day procedure
        (D("4"), WH, hours(4)),  # hours are hours
        (D("0.5"), WH, timedelta(minutes=30)),  # half an hour
        (D("0.1"), WD, timedelta(minutes=48)),  # a tenth of 8 h
    ],
)
def test_working_duration(amount: Decimal, unit: TimeUnit, duration: timedelta) -> None:
    assert TimeAllowance(amount, unit).working_duration() == duration


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (2.5, D("2.5")),  # float from YAML
        (0.1, D("0.1")),  # float with no exact binary form stays 0.1
        (10, D("10")),  # int
        ("16.5", D("16.5")),  # string
    ],
)
def test_allowance_amount_is_coerced_to_decimal(raw: float | int | str, stored: Decimal) -> None:
    allowance = TimeAllowance(raw, WD)  # type: ignore[arg-type]
    assert allowance.amount == stored
    assert isinstance(allowance.amount, Decimal)


@pytest.mark.parametrize(
    ("amount", "unit", "error", "message"),
    [
        (D("-1"), WD, ValueError, "must be a finite number >= 0"),  # negative
        (D("NaN"), WD, ValueError, "must be a finite number >= 0"),  # not a number
        (D("Infinity"), WH, ValueError, "must be a finite number >= 0"),  # infinite
        (D("1.5"), CD, ValueError, "must be a whole number"),  # half a calendar day
        ("two", WD, ValueError, "is not a number"),  # words
        (True, WD, TypeError, "is a bool"),  # a flag is not an amount
        (D("1"), "fortnights", ValueError, "fortnights"),  # unknown unit
    ],
)
def test_allowance_errors(
    amount: object, unit: object, error: type[Exception], message: str
) -> None:

    with pytest.raises(error, match=message):
        TimeAllowance(amount, unit)  # type: ignore[arg-type]


def test_allowance_unit_from_string_and_in_working_days() -> None:
    assert TimeAllowance(D("4"), "working_hours").unit is WH  # type: ignore[arg-type]
    assert TimeAllowance(D("4"), WH).in_working_days() == D("0.5")  # 4 h is half a day
    assert TimeAllowance(D("2.5"), WD).in_working_days() == D("2.5")
    with pytest.raises(ValueError, match="calendar days"):
        TimeAllowance(D("30"), CD).working_duration()


# --------------------------------------------------------------------------- counting start

CUTOFF = time(15, 0)


@pytest.mark.parametrize(
    ("received", "cutoff", "expected"),
    [
        (vn(2026, 11, 26, 10), None, vn(2026, 11, 26, 10)),  # Thu 10:00, in hours: itself
        (vn(2026, 11, 27, 17, 45), None, vn(2026, 11, 30, 7, 30)),  # Fri 17:45: Mon 07:30
        (vn(2026, 11, 28, 9), None, vn(2026, 11, 30, 7, 30)),  # Saturday: Mon 07:30
        (vn(2026, 11, 26, 12), None, vn(2026, 11, 26, 13, 30)),  # lunch: 13:30
        (vn(2026, 11, 26, 14, 59), CUTOFF, vn(2026, 11, 26, 14, 59)),  # 14:59 < 15:00: today
        (vn(2026, 11, 26, 15, 0), CUTOFF, vn(2026, 11, 26, 15, 0)),  # 15:00 itself: today
        (vn(2026, 11, 26, 15, 1), CUTOFF, vn(2026, 11, 27, 7, 30)),  # 15:01: next day
        (vn(2026, 11, 27, 15, 1), CUTOFF, vn(2026, 11, 30, 7, 30)),  # Fri 15:01: Monday
        (vn(2026, 11, 26, 7), CUTOFF, vn(2026, 11, 26, 7, 30)),  # before opening: today
        (vn(2026, 2, 13, 15, 30), CUTOFF, vn(2026, 2, 23, 7, 30)),  # Fri before Tết 2026
        (vn(2026, 11, 28, 16), CUTOFF, vn(2026, 11, 30, 7, 30)),  # Sat 16:00: Mon opening
        (vn(2026, 8, 21, 15, 30), CUTOFF, vn(2026, 8, 22, 7, 30)),  # Fri: make-up Saturday
        (datetime(2026, 11, 26, 8, 1, tzinfo=UTC), CUTOFF, vn(2026, 11, 27, 7, 30)),  # 15:01
    ],
)
def test_counting_start(received: datetime, cutoff: time | None, expected: datetime) -> None:
    result = counting_start(CAL, received, cutoff)
    assert result == expected
    assert result.tzinfo is VN_TZ


# --------------------------------------------------------------------------- due instants


@pytest.mark.parametrize(
    ("start", "allowance", "expected"),
    [
        # same day, counted from 14:59 (before a 15:00 cut-off): today's close
        (vn(2026, 11, 26, 14, 59), TimeAllowance(D(0), WD), vn(2026, 11, 26, 17, 30)),
        # same day, counted from Fri 07:30 (received Thu 15:01): Friday's close
        (vn(2026, 11, 27, 7, 30), TimeAllowance(D(0), WD), vn(2026, 11, 27, 17, 30)),
        # same day, start Fri 17:45 not yet normalised: Monday's close
        (vn(2026, 11, 27, 17, 45), TimeAllowance(D(0), WD), vn(2026, 11, 30, 17, 30)),
        # 2.5 days from Mon 30/11 07:30: Mon, Tue, Wed morning
        (vn(2026, 11, 30, 7, 30), TimeAllowance(D("2.5"), WD), vn(2026, 12, 2, 11, 30)),
        # 10 days from Thu 23/4/2026 07:30: Thu 23, Fri 24, (Mon 27 off) Tue 28, Wed 29,
        # (30/4, 1/5 off) Mon 4 .. Fri 8 May, Mon 11 May = 10th day -> its close
        (vn(2026, 4, 23, 7, 30), TimeAllowance(D(10), WD), vn(2026, 5, 11, 17, 30)),
        # 4 working hours from Tue 1/12 15:30: 2 h Tue, 2 h Wed from 07:30
        (vn(2026, 12, 1, 15, 30), TimeAllowance(D(4), WH), vn(2026, 12, 2, 9, 30)),
        # 6 calendar days from Mon 16/11 lands on Sun 22/11: Monday 23/11's close
        (vn(2026, 11, 16, 9), TimeAllowance(D(6), CD), vn(2026, 11, 23, 17, 30)),
        # 3 calendar days from Mon 16/11 lands on Thu 19/11: its close
        (vn(2026, 11, 16, 9), TimeAllowance(D(3), CD), vn(2026, 11, 19, 17, 30)),
        # 7 calendar days from Tue 10/2/2026 lands on Tết (Tue 17/2): Mon 23/2 close
        (vn(2026, 2, 10, 10), TimeAllowance(D(7), CD), vn(2026, 2, 23, 17, 30)),
    ],
)
def test_due_instant(start: datetime, allowance: TimeAllowance, expected: datetime) -> None:
    result = due_instant(CAL, start, allowance)
    assert result == expected
    assert result.tzinfo is VN_TZ


def test_received_after_cutoff_same_day_procedure_end_to_end() -> None:
    # Thu 26/11 15:01 with a 15:00 cut-off: counted from Fri 07:30, due Fri 17:30;
    # 14:59 the same Thursday is due Thursday 17:30.
    same_day = TimeAllowance(D(0), WD)
    late = counting_start(CAL, vn(2026, 11, 26, 15, 1), CUTOFF)
    early = counting_start(CAL, vn(2026, 11, 26, 14, 59), CUTOFF)
    assert due_instant(CAL, late, same_day) == vn(2026, 11, 27, 17, 30)
    assert due_instant(CAL, early, same_day) == vn(2026, 11, 26, 17, 30)


# --------------------------------------------------------------------------- pauses


@pytest.mark.parametrize(
    ("due", "paused_from", "paused_to", "expected"),
    [
        # pause across 30/4 + 1/5: Wed 29/4 16:30 -> Mon 4/5 09:00 = 1 h + 1.5 h = 2.5 h;
        # due Tue 5/5 08:00 + 2.5 h = 10:30
        (vn(2026, 5, 5, 8), vn(2026, 4, 29, 16, 30), vn(2026, 5, 4, 9), vn(2026, 5, 5, 10, 30)),
        # pause across Tết 2026: Fri 13/2 16:00 -> Mon 23/2 08:30 = 1.5 h + 1 h = 2.5 h;
        # due Wed 25/2 17:30 (a close) + 2.5 h = Thu 26/2 10:00
        (vn(2026, 2, 25, 17, 30), vn(2026, 2, 13, 16), vn(2026, 2, 23, 8, 30), vn(2026, 2, 26, 10)),
        # starts and ends outside office hours: Fri 18:00 -> Mon 07:00 adds nothing
        (vn(2026, 12, 2, 10), vn(2026, 11, 27, 18), vn(2026, 11, 30, 7), vn(2026, 12, 2, 10)),
        # inside the lunch break adds nothing
        (
            vn(2026, 12, 2, 10),
            vn(2026, 11, 26, 11, 45),
            vn(2026, 11, 26, 13, 15),
            vn(2026, 12, 2, 10),
        ),
        # outside hours at both ends but spanning Monday: Fri 18:00 -> Tue 07:00 adds 8 h;
        # due Wed 2/12 10:00 + 8 h = Thu 3/12 10:00
        (vn(2026, 12, 2, 10), vn(2026, 11, 27, 18), vn(2026, 12, 1, 7), vn(2026, 12, 3, 10)),
        # 2 h pause on a Thursday afternoon; due Fri 27/11 17:30 -> Mon 30/11 09:30
        (
            vn(2026, 11, 27, 17, 30),
            vn(2026, 11, 26, 14),
            vn(2026, 11, 26, 16),
            vn(2026, 11, 30, 9, 30),
        ),
        # zero-length pause
        (vn(2026, 12, 2, 10), vn(2026, 11, 26, 14), vn(2026, 11, 26, 14), vn(2026, 12, 2, 10)),
    ],
)
def test_extend_for_pause(
    due: datetime, paused_from: datetime, paused_to: datetime, expected: datetime
) -> None:
    result = extend_for_pause(CAL, due, paused_from, paused_to)
    assert result == expected
    assert result.tzinfo is VN_TZ


def test_extend_for_pause_refuses_a_reversed_pause() -> None:
    with pytest.raises(ValueError, match="is before paused_from"):
        extend_for_pause(CAL, vn(2026, 12, 2, 10), vn(2026, 11, 26, 16), vn(2026, 11, 26, 14))


def test_paused_working_time_counts_overlaps_once() -> None:
    pauses = [
        (vn(2026, 11, 26, 8), vn(2026, 11, 26, 10)),  # 2 h
        (vn(2026, 11, 26, 9), vn(2026, 11, 26, 14)),  # overlaps: together 08:00-14:00 = 4 h
        (vn(2026, 11, 27, 16), vn(2026, 11, 27, 17)),  # 1 h more
    ]
    assert paused_working_time(CAL, pauses) == hours(5)
    # clipped to Thu 26/11 09:00 .. Fri 27/11 16:30: 09:00-14:00 = 3 h, Fri 16:00-16:30
    within = (vn(2026, 11, 26, 9), vn(2026, 11, 27, 16, 30))
    assert paused_working_time(CAL, pauses, within=within) == hours(3.5)


# --------------------------------------------------------------------------- completion

DUE = vn(2026, 5, 5, 10, 30)  # Tue 5/5/2026 10:30


@pytest.mark.parametrize(
    ("finished", "due", "expected"),
    [
        (vn(2026, 5, 4, 16), DUE, Completion.EARLY),  # Mon, the working day before
        (vn(2026, 5, 2, 10), DUE, Completion.EARLY),  # Saturday before: early too
        (vn(2026, 5, 5, 9), DUE, Completion.ON_TIME),  # due day, before the instant
        (vn(2026, 5, 5, 10, 30), DUE, Completion.ON_TIME),  # the instant itself
        (vn(2026, 5, 5, 17), DUE, Completion.ON_TIME),  # due day, after the instant: by day
        (vn(2026, 5, 5, 20), DUE, Completion.ON_TIME),  # due day, evening
        (vn(2026, 5, 6, 7, 30), DUE, Completion.LATE),  # next day at opening
        (vn(2026, 5, 4, 9), vn(2026, 5, 3, 12), Completion.ON_TIME),  # due Sun -> Mon 4/5
        (vn(2026, 5, 1, 9), vn(2026, 5, 3, 12), Completion.EARLY),  # holiday before that Mon
        (vn(2026, 5, 5, 9), vn(2026, 5, 3, 12), Completion.LATE),  # Tue after it
        (datetime(2026, 5, 4, 18, tzinfo=UTC), DUE, Completion.ON_TIME),  # Tue 01:00 local
    ],
)
def test_classify(finished: datetime, due: datetime, expected: Completion) -> None:
    assert classify(CAL, finished, due) is expected


# --------------------------------------------------------------------------- days used and saved

MON = vn(2026, 11, 30, 7, 30)  # Mon 30/11/2026 opening


@pytest.mark.parametrize(
    ("start", "finished", "pauses", "used"),
    [
        # Mon 07:30 -> Fri 4/12 12:00: 4 full days + Fri morning 4 h = 36 h = 4.5 days
        (MON, vn(2026, 12, 4, 12), [], D("4.5")),
        # same, paused Tue 13:30 -> Wed 13:30 (4 h + 4 h): 28 h = 3.5 days
        (MON, vn(2026, 12, 4, 12), [(vn(2026, 12, 1, 13, 30), vn(2026, 12, 2, 13, 30))], D("3.5")),
        # a pause outside office hours changes nothing
        (MON, vn(2026, 12, 4, 12), [(vn(2026, 12, 1, 18), vn(2026, 12, 2, 7))], D("4.5")),
        # a pause running past the finish is clipped to it: Fri 10:00 -> 12:00 counts 1.5 h
        (MON, vn(2026, 12, 4, 12), [(vn(2026, 12, 4, 10), vn(2026, 12, 7, 9))], D("4.3125")),
        # 1 h is an eighth of a day
        (MON, vn(2026, 11, 30, 8, 30), [], D("0.125")),
        # 1 minute: 1/480 day, rounded to a millionth
        (MON, vn(2026, 11, 30, 7, 31), [], D("0.002083")),
        # finished before the start (clock skew): nothing used
        (MON, vn(2026, 11, 27, 9), [], D("0")),
    ],
)
def test_working_days_used(
    start: datetime,
    finished: datetime,
    pauses: list[tuple[datetime, datetime]],
    used: Decimal,
) -> None:
    assert working_days_used(CAL, start, finished, pauses) == used


@pytest.mark.parametrize(
    ("statutory", "used", "saved"),
    [
        (TimeAllowance(D(10), WD), D("3.5"), D("6.5")),  # 10 - 3.5
        (TimeAllowance(D(15), WD), D("3.5"), D("11.5")),  # construction licence, statutory 15
        (TimeAllowance(D(16), WH), D("3.5"), D("-1.5")),  # 16 h = 2 days; over by 1.5
    ],
)
def test_working_days_saved(statutory: TimeAllowance, used: Decimal, saved: Decimal) -> None:
    assert working_days_saved(statutory, used) == saved


def test_calendar_day_statutory_times_go_through_allowance_working_days() -> None:
    statutory = TimeAllowance(D(6), CD)
    with pytest.raises(ValueError, match="allowance_working_days"):
        working_days_saved(statutory, D(1))
    # 6 calendar days from Mon 16/11 07:30 is due Mon 23/11 17:30 (Sunday moved):
    # Mon 16 .. Fri 20 and Mon 23 = 6 working days
    assert allowance_working_days(CAL, vn(2026, 11, 16, 7, 30), statutory) == D(6)
    assert allowance_working_days(CAL, MON, TimeAllowance(D(4), WH)) == D("0.5")


# --------------------------------------------------------------------------- the running view

DUE_TUE = vn(2026, 12, 1, 17, 30)  # 2 working days from MON


@pytest.mark.parametrize(
    ("now", "pauses", "expected"),
    [
        # Tue 07:30: 8 h used, 8 h left
        (vn(2026, 12, 1, 7, 30), [], DeadlineView(DUE_TUE, hours(8), hours(8), 0.5, False)),
        # received on Monday before opening: nothing used yet
        (vn(2026, 11, 30, 6), [], DeadlineView(DUE_TUE, hours(0), hours(16), 0.0, False)),
        # the due instant itself is not overdue
        (DUE_TUE, [], DeadlineView(DUE_TUE, hours(16), hours(0), 1.0, False)),
        # Wed 09:30: 18 h used, 2 h over
        (vn(2026, 12, 2, 9, 30), [], DeadlineView(DUE_TUE, hours(18), -hours(2), 1.125, True)),
        # Tue 18:00, after the close: overdue with no working time past due
        (vn(2026, 12, 1, 18), [], DeadlineView(DUE_TUE, hours(16), hours(0), 1.0, True)),
        # open pause since Mon 13:30, now Tue 09:30: 6 h paused (4 + 2); due moves
        # to Wed 2/12 15:30 (Tue close + 6 h); used 10 - 6 = 4 h; left 6 h Tue + 6 h Wed
        (
            vn(2026, 12, 1, 9, 30),
            [(vn(2026, 11, 30, 13, 30), None)],
            DeadlineView(vn(2026, 12, 2, 15, 30), hours(4), hours(12), 0.25, False),
        ),
        # closed pause Mon 13:30 -> 15:30 with due_at as given (the view never moves a
        # due for a closed pause, that is extend_for_pause's job): used 10 - 2 = 8 h,
        # left Tue 09:30 -> 17:30 = 6 h
        (
            vn(2026, 12, 1, 9, 30),
            [(vn(2026, 11, 30, 13, 30), vn(2026, 11, 30, 15, 30))],
            DeadlineView(DUE_TUE, hours(8), hours(6), 8 / 14, False),
        ),
    ],
)
def test_deadline_view(
    now: datetime, pauses: list[tuple[datetime, datetime | None]], expected: DeadlineView
) -> None:
    assert deadline_view(CAL, MON, DUE_TUE, now, pauses) == expected


def test_deadline_view_with_the_stored_extended_due() -> None:
    # The engine stores due = extend_for_pause(...) once the supplement arrives.
    paused = (vn(2026, 11, 30, 13, 30), vn(2026, 11, 30, 15, 30))
    due = extend_for_pause(CAL, DUE_TUE, *paused)
    assert due == vn(2026, 12, 2, 9, 30)  # Tue close + 2 h
    view = deadline_view(CAL, MON, due, vn(2026, 12, 1, 9, 30), [paused])
    # used: Mon 8 h - 2 h paused + Tue 2 h = 8 h; left: Tue 6 h + Wed 2 h = 8 h
    assert view == DeadlineView(due, hours(8), hours(8), 0.5, False)


def test_deadline_view_refuses_two_open_pauses() -> None:
    pauses: list[tuple[datetime, datetime | None]] = [
        (vn(2026, 11, 30, 9), None),
        (vn(2026, 11, 30, 10), None),
    ]
    with pytest.raises(ValueError, match="second open pause"):
        deadline_view(CAL, MON, DUE_TUE, vn(2026, 12, 1, 9), pauses)


# --------------------------------------------------------------------------- naive datetimes

NAIVE = datetime(2026, 11, 27, 9)
AWARE = vn(2026, 11, 27, 9)
ONE_DAY = TimeAllowance(D(1), WD)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda t: counting_start(CAL, t), "received_at"),
        (lambda t: counting_start(CAL, t, CUTOFF), "received_at"),
        (lambda t: due_instant(CAL, t, ONE_DAY), "start"),
        (lambda t: due_instant(CAL, t, TimeAllowance(D(3), CD)), "start"),
        (lambda t: extend_for_pause(CAL, t, AWARE, AWARE), "due"),
        (lambda t: extend_for_pause(CAL, AWARE, t, AWARE), "paused_from"),
        (lambda t: extend_for_pause(CAL, AWARE, AWARE, t), "paused_to"),
        (lambda t: classify(CAL, t, AWARE), "finished_at"),
        (lambda t: classify(CAL, AWARE, t), "due_at"),
        (lambda t: working_days_used(CAL, t, AWARE), "start"),
        (lambda t: working_days_used(CAL, AWARE, t), "finished"),
        (lambda t: working_days_used(CAL, AWARE, AWARE, [(t, AWARE)]), r"pauses\[0\]\[0\]"),
        (lambda t: deadline_view(CAL, t, AWARE, AWARE), "start"),
        (lambda t: deadline_view(CAL, AWARE, t, AWARE), "due_at"),
        (lambda t: deadline_view(CAL, AWARE, AWARE, t), "now"),
    ],
)
def test_naive_datetimes_are_refused_by_name(
    call: Callable[[datetime], object], argument: str
) -> None:
    with pytest.raises(NaiveDatetimeError, match=rf"^{argument}=2026-11-27T09:00:00 is a naive"):
        call(NAIVE)


# --------------------------------------------------------------------------- properties

INSTANTS = st.builds(
    lambda day, minute: vn(2025, 1, 1) + timedelta(days=day, minutes=minute),
    st.integers(0, 4 * 365),
    st.integers(0, 24 * 60 - 1),
)
SPANS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))
ALLOWANCES = st.builds(
    TimeAllowance,
    st.decimals(min_value=0, max_value=60, places=1),
    st.sampled_from([WD, WH]),
)


@given(INSTANTS, ALLOWANCES, INSTANTS, SPANS)
def test_a_pause_never_shortens_a_deadline(
    start: datetime, allowance: TimeAllowance, paused_from: datetime, span: timedelta
) -> None:
    due = due_instant(CAL, start, allowance)
    extended = extend_for_pause(CAL, due, paused_from, paused_from + span)
    assert extended >= due
    # ... and lengthens it by exactly the paused working time, if begun before it
    paused = CAL.working_time_between(paused_from, paused_from + span)
    expected = paused if paused_from < due else timedelta(0)
    assert CAL.working_time_between(due, extended) == expected


@given(INSTANTS, ALLOWANCES, INSTANTS, SPANS, SPANS)
def test_two_pauses_in_turn_equal_their_rederived_due(
    start: datetime, allowance: TimeAllowance, first: datetime, span1: timedelta, span2: timedelta
) -> None:
    due = due_instant(CAL, start, allowance)
    second = first + span1 + timedelta(days=1)  # disjoint from the first
    pauses = [(first, first + span1), (second, second + span2)]
    in_turn = due
    for begin, end in pauses:
        in_turn = extend_for_pause(
            CAL, in_turn, begin, end, counted_from=start, allowance=allowance
        )
    assert in_turn == due_with_pauses(CAL, start, allowance, pauses)
    if allowance.amount and first >= start and second < due:  # both inside the count
        total = paused_working_time(CAL, pauses)
        assert in_turn == (CAL.add_working_time(due, total) if total else due)


@given(INSTANTS, ALLOWANCES, SPANS, SPANS)
def test_finishing_later_is_never_better(
    start: datetime, allowance: TimeAllowance, a: timedelta, b: timedelta
) -> None:
    due = due_instant(CAL, start, allowance)
    rank = {Completion.EARLY: 0, Completion.ON_TIME: 1, Completion.LATE: 2}
    small, large = sorted((a, b))
    assert rank[classify(CAL, start + small, due)] <= rank[classify(CAL, start + large, due)]
    assert classify(CAL, due, due) is Completion.ON_TIME


@given(INSTANTS, ALLOWANCES, SPANS)
def test_view_budget_is_the_allowance(
    received: datetime, allowance: TimeAllowance, span: timedelta
) -> None:
    start = counting_start(CAL, received)
    due = due_instant(CAL, start, allowance)
    view = deadline_view(CAL, start, due, start + span)
    budget = (
        allowance.working_duration() if allowance.amount else CAL.working_time_between(start, due)
    )
    assert view.elapsed + view.remaining == budget
    assert view.overdue is (start + span > due)


@given(INSTANTS, ALLOWANCES)
def test_finishing_at_the_due_instant_uses_the_whole_allowance(
    received: datetime, allowance: TimeAllowance
) -> None:
    start = counting_start(CAL, received)
    due = due_instant(CAL, start, allowance)
    used = working_days_used(CAL, start, due)
    if allowance.amount:
        assert used == allowance.in_working_days()
    else:  # same day: the rest of the starting day
        assert D(0) < used <= D(1)
    assert working_days_saved(allowance, used) == allowance.in_working_days() - used
