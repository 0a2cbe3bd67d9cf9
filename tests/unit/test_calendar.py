"""Working calendar: VN working days, office hours, working-time arithmetic.

Every expected value in the tables was worked out by hand from the official
holiday calendar (weekday of each date included in the comment), never by
calling the code under test.

VN 2026 as the `holidays` package gives it: New Year Thu 01-01; Tết Mon 02-16 ..
Fri 02-20; Hùng Kings Sun 04-26 observed Mon 04-27; Thu 04-30, Fri 05-01;
Mon 08-31 off (made up on Saturday 08-22); Tue 09-01 and Wed 09-02; Vietnam
Culture Day Tue 11-24. 2027: New Year Fri 01-01; Tết Thu 02-04 .. Wed 02-10;
Hùng Kings Fri 04-16; Fri 04-30, Sat 05-01 observed Mon 05-03; Thu 09-02 and
Fri 09-03; Wed 11-24.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.calendar import (
    MAX_YEAR,
    VN_TZ,
    WORKING_DAY,
    CalendarOverrides,
    CalendarOverridesError,
    CalendarRangeError,
    NaiveDatetimeError,
    OfficeHours,
    WorkingCalendar,
)

from support.time import vn

REPO = Path(__file__).resolve().parents[2]
SAMPLE_OVERRIDES = REPO / "workflows" / "calendar_overrides.yaml"

CAL = WorkingCalendar()


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


# --------------------------------------------------------------------------- the package


def test_holidays_package_knows_the_2026_swap() -> None:
    # The overrides file is for what the package does not know; this pins what it does.
    vn2026 = holidays.country_holidays("VN", years=2026)
    assert date(2026, 8, 22) in vn2026.weekend_workdays
    assert date(2026, 8, 31) in vn2026
    assert date(2026, 4, 27) in vn2026  # Hùng Kings observed


# --------------------------------------------------------------------------- working days


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 1, 1), False),  # Thu: New Year
        (date(2026, 1, 2), True),  # Fri after New Year: no swap in 2026
        (date(2026, 2, 13), True),  # Fri before Tết 2026
        (date(2026, 2, 16), False),  # Mon: Lunar New Year's Eve 2026
        (date(2026, 2, 17), False),  # Tue: Tết (1st day)
        (date(2026, 2, 20), False),  # Fri: 4th day of Tết
        (date(2026, 2, 23), True),  # Mon: first working day after Tết 2026
        (date(2026, 4, 26), False),  # Sun: Hùng Kings falls on a Sunday
        (date(2026, 4, 27), False),  # Mon: Hùng Kings observed
        (date(2026, 4, 28), True),  # Tue between Hùng Kings and 30/4
        (date(2026, 4, 30), False),  # Thu: Reunification Day
        (date(2026, 5, 1), False),  # Fri: Labour Day
        (date(2026, 8, 22), True),  # Sat: make-up working Saturday for 31/8
        (date(2026, 8, 29), False),  # Sat: ordinary weekend
        (date(2026, 8, 31), False),  # Mon: day off swapped from 22/8
        (date(2026, 9, 1), False),  # Tue: the day adjacent to National Day
        (date(2026, 9, 2), False),  # Wed: National Day
        (date(2026, 9, 3), True),  # Thu after National Day
        (date(2026, 11, 24), False),  # Tue: Vietnam Culture Day (from 2026, per the package)
        (date(2026, 11, 28), False),  # Sat: ordinary weekend
        (date(2027, 2, 3), True),  # Wed before Tết 2027
        (date(2027, 2, 4), False),  # Thu: 29 Tết 2027
        (date(2027, 2, 8), False),  # Mon: 3rd day of Tết 2027
        (date(2027, 2, 10), False),  # Wed: 5th day of Tết 2027 (Sat 1st day shifts it)
        (date(2027, 2, 11), True),  # Thu: back to work after Tết 2027
        (date(2027, 5, 3), False),  # Mon: Labour Day (Sat 1/5) observed
        (date(2027, 9, 3), False),  # Fri: the day adjacent to National Day (Thu 2/9)
        (date(2025, 4, 26), True),  # Sat: 2025 make-up day for Fri 2/5
        (date(2025, 5, 2), False),  # Fri: 2025 swapped day off
        (date(2025, 9, 1), False),  # Mon: the day adjacent to National Day 2025
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_working_days_in_2026() -> None:
    # 261 weekdays (365 days from a Thursday), minus 13 weekday holidays
    # (1/1, 5 of Tết, 27/4, 30/4, 1/5, 31/8, 1/9, 2/9, 24/11), plus Saturday 22/8.
    assert CAL.working_days_in(date(2026, 1, 1), date(2026, 12, 31)) == 249


@pytest.mark.parametrize(
    ("day", "on_or_after", "after"),
    [
        (date(2026, 2, 13), date(2026, 2, 13), date(2026, 2, 23)),  # Fri before Tết
        (date(2026, 2, 14), date(2026, 2, 23), date(2026, 2, 23)),  # Sat before Tết
        (date(2026, 8, 21), date(2026, 8, 21), date(2026, 8, 22)),  # Fri: next is the Saturday
        (date(2026, 8, 28), date(2026, 8, 28), date(2026, 9, 3)),  # Fri before the 2/9 break
    ],
)
def test_working_day_navigation(day: date, on_or_after: date, after: date) -> None:
    assert CAL.working_day_on_or_after(day) == on_or_after
    assert CAL.next_working_day(day) == after


def test_is_working_day_rejects_a_datetime() -> None:
    with pytest.raises(TypeError, match="must be a date, not a datetime"):
        CAL.is_working_day(vn(2026, 11, 27, 10))


# --------------------------------------------------------------------------- instants


@pytest.mark.parametrize(
    ("t", "working"),
    [
        (vn(2026, 11, 27, 7, 29), False),  # Fri before opening
        (vn(2026, 11, 27, 7, 30), True),  # Fri at opening
        (vn(2026, 11, 27, 11, 29, 59), True),  # last second of the morning
        (vn(2026, 11, 27, 11, 30), False),  # the morning period end is excluded
        (vn(2026, 11, 27, 12, 30), False),  # lunch
        (vn(2026, 11, 27, 13, 30), True),  # afternoon opening
        (vn(2026, 11, 27, 17, 30), False),  # close is excluded
        (vn(2026, 11, 28, 9), False),  # Saturday
        (vn(2026, 8, 22, 9), True),  # make-up Saturday
        (vn(2026, 2, 17, 9), False),  # Tết
        (datetime(2026, 11, 27, 2, 0, tzinfo=UTC), True),  # 02:00 UTC is 09:00 in Hà Nội
    ],
)
def test_is_working_instant(t: datetime, working: bool) -> None:
    assert CAL.is_working_instant(t) is working


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (vn(2026, 11, 27, 10), vn(2026, 11, 27, 10)),  # inside hours: itself
        (vn(2026, 11, 27, 7), vn(2026, 11, 27, 7, 30)),  # before opening: same day
        (vn(2026, 11, 27, 11, 30), vn(2026, 11, 27, 13, 30)),  # morning end: after lunch
        (vn(2026, 11, 27, 12, 15), vn(2026, 11, 27, 13, 30)),  # lunch
        (vn(2026, 11, 27, 17, 30), vn(2026, 11, 30, 7, 30)),  # Fri close: Monday
        (vn(2026, 11, 27, 17, 45), vn(2026, 11, 30, 7, 30)),  # received Fri 17:45: Mon 07:30
        (vn(2026, 2, 13, 18), vn(2026, 2, 23, 7, 30)),  # Fri evening before Tết 2026
        (vn(2026, 8, 21, 18), vn(2026, 8, 22, 7, 30)),  # Fri evening: make-up Saturday
        (vn(2026, 8, 28, 18), vn(2026, 9, 3, 7, 30)),  # Fri evening before the 2/9 break
        (vn(2026, 4, 25, 9), vn(2026, 4, 28, 7, 30)),  # Sat before Hùng Kings observed Mon
        (datetime(2026, 11, 27, 10, 45, tzinfo=UTC), vn(2026, 11, 30, 7, 30)),  # 17:45 local
    ],
)
def test_next_opening(t: datetime, expected: datetime) -> None:
    result = CAL.next_opening(t)
    assert result == expected
    assert result.tzinfo is VN_TZ


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (vn(2026, 11, 27, 6), vn(2026, 11, 27, 17, 30)),  # Fri before opening: Fri close
        (vn(2026, 11, 27, 12), vn(2026, 11, 27, 17, 30)),  # Fri lunch
        (vn(2026, 11, 27, 17, 30), vn(2026, 11, 27, 17, 30)),  # the close belongs to its day
        (vn(2026, 11, 27, 17, 31), vn(2026, 11, 30, 17, 30)),  # after close: Monday's close
        (vn(2026, 11, 28, 10), vn(2026, 11, 30, 17, 30)),  # Saturday: Monday's close
        (vn(2026, 4, 29, 18), vn(2026, 5, 4, 17, 30)),  # Wed evening before 30/4 + 1/5
    ],
)
def test_end_of_working_day(t: datetime, expected: datetime) -> None:
    assert CAL.end_of_working_day(t) == expected


# --------------------------------------------------------------------------- adding working time


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        # Fri 13/2 10:00 + 8 h: 1.5 h + 4 h on Friday, Tết Mon 16 .. Fri 20, 2.5 h on Mon 23
        (vn(2026, 2, 13, 10), hours(8), vn(2026, 2, 23, 10)),
        # Wed 3/2/2027 13:30 + 16 h: 4 h Wed, Tết Thu 4 .. Wed 10, 8 h Thu 11, 4 h Fri 12
        # -> ends exactly at the morning period end, so 11:30 (not 13:30)
        (vn(2027, 2, 3, 13, 30), hours(16), vn(2027, 2, 12, 11, 30)),
        # Fri 24/4/2026 15:30 + 8 h: 2 h Fri, weekend, Hùng Kings observed Mon 27,
        # 4 h + 2 h on Tue 28
        (vn(2026, 4, 24, 15, 30), hours(8), vn(2026, 4, 28, 15, 30)),
        # Wed 29/4/2026 08:00 + 16 h: 7.5 h Wed, 30/4 Thu + 1/5 Fri, weekend, 8 h Mon 4/5,
        # 0.5 h Tue 5/5
        (vn(2026, 4, 29, 8), hours(16), vn(2026, 5, 5, 8)),
        # Fri 28/8/2026 07:30 + 24 h: 8 h Fri, weekend, Mon 31/8 (swapped), 1/9, 2/9 off,
        # 8 h Thu 3/9, 8 h Fri 4/9 -> exactly the close
        (vn(2026, 8, 28, 7, 30), hours(24), vn(2026, 9, 4, 17, 30)),
        # Fri 21/8/2026 16:30 + 8 h: 1 h Fri, make-up Sat 22/8: 4 h + 3 h
        (vn(2026, 8, 21, 16, 30), hours(8), vn(2026, 8, 22, 16, 30)),
        # Wed 1/9/2027 14:00 + 8 h: 3.5 h Wed, 2/9 Thu + 3/9 Fri off, weekend, 4 h + 0.5 h Mon
        (vn(2027, 9, 1, 14), hours(8), vn(2027, 9, 6, 14)),
        # lunch: 11:00 + 1 h = 0.5 h before lunch + 0.5 h after
        (vn(2026, 11, 26, 11), hours(1), vn(2026, 11, 26, 14)),
        # lunch: a start inside the break counts from 13:30
        (vn(2026, 11, 26, 12), hours(1), vn(2026, 11, 26, 14, 30)),
        # ends exactly at the morning period end: 11:30, not 13:30
        (vn(2026, 11, 26, 10, 30), hours(1), vn(2026, 11, 26, 11, 30)),
        # ends exactly at the close: 17:30 the same day, not next morning
        (vn(2026, 11, 26, 13, 30), hours(4), vn(2026, 11, 26, 17, 30)),
        # received Fri 17:45: counts from Mon 07:30
        (vn(2026, 11, 27, 17, 45), hours(1), vn(2026, 11, 30, 8, 30)),
        # amount 0 is the next opening
        (vn(2026, 11, 27, 17, 45), timedelta(0), vn(2026, 11, 30, 7, 30)),
        (vn(2026, 11, 27, 11, 30), timedelta(0), vn(2026, 11, 27, 13, 30)),
        # 2.5 working days = 20 h from Mon 30/11 07:30: Mon, Tue, half of Wed
        (vn(2026, 11, 30, 7, 30), hours(20), vn(2026, 12, 2, 11, 30)),
        # 31 working days (Lào Cai EIA, cut from 45) from Mon 30/11/2026 07:30:
        # 24 days to Thu 31/12, New Year Fri 1/1/2027, 5 + 2 days -> Tue 12/1 close
        (vn(2026, 11, 30, 7, 30), 31 * WORKING_DAY, vn(2027, 1, 12, 17, 30)),
        # a start in UTC: Thu 26/11 23:00 UTC is Fri 06:00 local, counts from 07:30
        (datetime(2026, 11, 26, 23, tzinfo=UTC), hours(2), vn(2026, 11, 27, 9, 30)),
    ],
)
def test_add_working_time(start: datetime, amount: timedelta, expected: datetime) -> None:
    result = CAL.add_working_time(start, amount)
    assert result == expected
    assert result.tzinfo is VN_TZ
    assert result.utcoffset() == expected.utcoffset()


def test_one_microsecond_after_the_close_is_the_next_morning() -> None:
    # Fri 27/11 17:29 + 1 min 1 µs: the minute ends at the close, the microsecond runs
    # on the next working day, Mon 30/11.
    result = CAL.add_working_time(vn(2026, 11, 27, 17, 29), timedelta(minutes=1, microseconds=1))
    assert result == vn(2026, 11, 30, 7, 30) + timedelta(microseconds=1)


def test_add_rejects_a_negative_amount() -> None:
    with pytest.raises(ValueError, match="negative"):
        CAL.add_working_time(vn(2026, 11, 27, 9), -hours(1))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (vn(2026, 11, 26, 11), vn(2026, 11, 26, 14), hours(1)),  # across lunch
        (vn(2026, 11, 26, 7), vn(2026, 11, 26, 19), hours(8)),  # a whole day, from outside
        (vn(2026, 11, 27, 17), vn(2026, 11, 30, 8), hours(1)),  # over a weekend
        (vn(2026, 11, 30, 8), vn(2026, 11, 27, 17), timedelta(0)),  # b before a
        (vn(2026, 11, 27, 9), vn(2026, 11, 27, 9), timedelta(0)),  # empty
        (vn(2026, 11, 28, 8), vn(2026, 11, 29, 18), timedelta(0)),  # a whole weekend
        # Wed 29/4 16:30 -> Mon 4/5 09:00: 1 h Wed, 30/4 + 1/5 + weekend, 1.5 h Mon
        (vn(2026, 4, 29, 16, 30), vn(2026, 5, 4, 9), hours(2.5)),
        # Fri 13/2 -> Mon 23/2 2026, both at 09:00: 6.5 h Fri + 1.5 h Mon around Tết
        (vn(2026, 2, 13, 9), vn(2026, 2, 23, 9), hours(8)),
        # the whole of 2026: 249 working days
        (vn(2026, 1, 1), vn(2027, 1, 1), 249 * WORKING_DAY),
        # mixed offsets: 01:00 UTC = 08:00 local on Thu 26/11
        (datetime(2026, 11, 26, 1, tzinfo=UTC), vn(2026, 11, 26, 9), hours(1)),
    ],
)
def test_working_time_between(a: datetime, b: datetime, expected: timedelta) -> None:
    assert CAL.working_time_between(a, b) == expected


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (vn(2026, 11, 16, 9), 3, vn(2026, 11, 19, 17, 30)),  # Mon + 3 = Thu: its close
        (vn(2026, 11, 16, 9), 6, vn(2026, 11, 23, 17, 30)),  # Mon + 6 = Sun: Monday's close
        (vn(2026, 2, 10, 10), 7, vn(2026, 2, 23, 17, 30)),  # Tue + 7 = Tết Tue 17/2: Mon 23/2
        (vn(2026, 8, 15, 10), 7, vn(2026, 8, 22, 17, 30)),  # lands on the make-up Saturday
        (vn(2026, 11, 27, 9), 0, vn(2026, 11, 27, 17, 30)),  # 0 days: the same day's close
        (vn(2026, 11, 16, 9), 30, vn(2026, 12, 16, 17, 30)),  # Mon 16/11 + 30 = Wed 16/12
    ],
)
def test_add_calendar_days(start: datetime, days: int, expected: datetime) -> None:
    assert CAL.add_calendar_days(start, days) == expected


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda t: CAL.is_working_instant(t), "t"),
        (lambda t: CAL.next_opening(t), "t"),
        (lambda t: CAL.end_of_working_day(t), "t"),
        (lambda t: CAL.add_working_time(t, hours(1)), "start"),
        (lambda t: CAL.add_calendar_days(t, 1), "start"),
        (lambda t: CAL.working_time_between(t, vn(2026, 11, 27, 9)), "a"),
        (lambda t: CAL.working_time_between(vn(2026, 11, 27, 9), t), "b"),
    ],
)
def test_naive_datetimes_are_refused_by_name(
    call: Callable[[datetime], object], argument: str
) -> None:
    naive = datetime(2026, 11, 27, 9)
    with pytest.raises(NaiveDatetimeError, match=rf"^{argument}=2026-11-27T09:00:00 is a naive"):
        call(naive)


def test_naive_error_is_a_value_error() -> None:
    assert issubclass(NaiveDatetimeError, ValueError)


def test_years_outside_the_tables_are_refused() -> None:
    with pytest.raises(CalendarRangeError, match="1975"):
        CAL.is_working_day(date(1975, 6, 1))
    with pytest.raises(CalendarRangeError, match=str(MAX_YEAR)):
        CAL.add_working_time(vn(MAX_YEAR, 12, 31, 9), 10 * WORKING_DAY)


# --------------------------------------------------------------------------- office hours


def test_default_office_hours() -> None:
    office = OfficeHours()
    assert office.per_day == WORKING_DAY
    assert str(office) == "07:30-11:30,13:30-17:30"
    assert OfficeHours.parse("07:30-11:30, 13:30-17:30") == office


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "period 1 '' is not HH:MM-HH:MM"),  # nothing
        ("07:30-11:30,13:30", "period 2 '13:30' is not HH:MM-HH:MM"),  # no end
        ("07:30-25:00", "period 1"),  # no such hour
        ("11:30-07:30", "start must be before end"),  # reversed
        ("13:30-17:30,07:30-11:30", "must start after the previous period"),  # unsorted
        ("07:30-12:00,11:30-17:30", "must start after the previous period"),  # overlap
        ("07:30-11:30,11:30-17:30", "merge touching ones"),  # touching
    ],
)
def test_office_hours_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OfficeHours.parse(text)


def test_custom_office_hours_and_timezone() -> None:
    # A deployment with 08:00-12:00 and 13:00-17:00 (still 8 h a day).
    cal = WorkingCalendar(office_hours=OfficeHours.parse("08:00-12:00,13:00-17:00"))
    # Thu 26/11 11:00 + 2 h: 1 h to noon, 1 h after 13:00
    assert cal.add_working_time(vn(2026, 11, 26, 11), hours(2)) == vn(2026, 11, 26, 14)
    # A single 6 h period: Fri 15:00 + 3 h = 1 h Fri + 2 h Mon from 07:00
    single = WorkingCalendar(office_hours=OfficeHours.parse("07:00-16:00"))
    assert single.add_working_time(vn(2026, 11, 27, 15), hours(3)) == vn(2026, 11, 30, 9)
    # The calendar's own timezone: results come back in it.
    tokyo_tz = ZoneInfo("Asia/Tokyo")
    tokyo = WorkingCalendar(tz=tokyo_tz)
    result = tokyo.add_working_time(datetime(2026, 11, 26, 7, 30, tzinfo=UTC), hours(1))
    # 07:30 UTC is 16:30 in Tokyo: 1 h ends at 17:30 Tokyo time the same Thursday
    assert result == datetime(2026, 11, 26, 17, 30, tzinfo=tokyo_tz)
    assert result.tzinfo is tokyo_tz


# --------------------------------------------------------------------------- overrides


def test_sample_overrides_file_loads() -> None:
    overrides = CalendarOverrides.load(SAMPLE_OVERRIDES)
    assert overrides == CalendarOverrides()


def test_overrides_load_and_apply(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(
        "days_off:\n"
        "  - date: 2026-12-31\n"
        "    reason: provincial day off (hypothetical)\n"
        "working_days:\n"
        "  - {date: '2026-12-26', reason: make-up Saturday (hypothetical)}\n",
        encoding="utf-8",
    )
    overrides = CalendarOverrides.load(path)
    assert overrides.days_off == frozenset({date(2026, 12, 31)})
    assert overrides.working_days == frozenset({date(2026, 12, 26)})
    assert overrides.reasons[date(2026, 12, 31)] == "provincial day off (hypothetical)"
    cal = WorkingCalendar(overrides=overrides)
    assert not cal.is_working_day(date(2026, 12, 31))  # Thu, removed
    assert cal.is_working_day(date(2026, 12, 26))  # Sat, added
    assert CAL.is_working_day(date(2026, 12, 31))  # the national calendar is unchanged
    # Wed 30/12 17:00 + 1 h: 0.5 h Wed, Thu off, Fri 1/1/2027 New Year, Mon 4/1 07:30 + 0.5 h
    assert cal.add_working_time(vn(2026, 12, 30, 17), hours(1)) == vn(2027, 1, 4, 8)
    # Fri 25/12 17:00 + 1 h: 0.5 h Fri, then Saturday 26/12 07:30 + 0.5 h
    assert cal.add_working_time(vn(2026, 12, 25, 17), hours(1)) == vn(2026, 12, 26, 8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- 2026-12-31\n", r":1: expected a mapping"),  # a bare list
        ("holidays: []\n", r":1: unknown key 'holidays'"),  # misspelt key
        ("days_off: 2026-12-31\n", r":1: days_off must be a list"),  # not a list
        ("days_off:\n  - 2026-12-31\n", r":2: days_off\[0\]: expected \{date"),  # bare date
        (
            "days_off:\n  - {date: 2026-12-31, reason: a}\n  - {date: 2026-12-32, reason: b}\n",
            r":3: days_off\[1\]: date '2026-12-32' is not YYYY-MM-DD",
        ),  # no 32nd
        ("working_days:\n  - {date: 2026-12-26}\n", r":2: working_days\[0\]: missing reason"),
        (
            "days_off:\n  - {date: 2026-12-31, reason: a, note: b}\n",
            r":2: days_off\[0\]: unknown field 'note'",
        ),
        (
            "days_off:\n  - {date: 2026-12-31, reason: a}\n"
            "working_days:\n  - {date: 2026-12-31, reason: b}\n",
            r":4: working_days\[0\]: 2026-12-31 is already listed as days_off\[0\]",
        ),  # both lists
        ("days_off: [\n", r"not valid YAML"),  # broken YAML
    ],
)
def test_overrides_errors_name_file_line_and_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarOverridesError, match=message) as info:
        CalendarOverrides.load(path)
    assert str(info.value).startswith(str(path))


def test_overrides_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CalendarOverridesError, match="cannot read calendar overrides"):
        CalendarOverrides.load(tmp_path / "absent.yaml")


def test_overrides_empty_file_is_no_override(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert CalendarOverrides.load(path) == CalendarOverrides()


def test_overrides_refuse_a_date_in_both_lists() -> None:
    with pytest.raises(ValueError, match="2026-12-31 in both"):
        CalendarOverrides(
            days_off=frozenset({date(2026, 12, 31)}),
            working_days=frozenset({date(2026, 12, 31)}),
        )


# --------------------------------------------------------------------------- lazy tables


def test_lazy_extension_in_both_directions_agrees_with_a_fresh_calendar() -> None:
    cal = WorkingCalendar(years=range(2026, 2027))
    # Forward past the table, then backward before it: positions must stay consistent.
    assert cal.add_working_time(vn(2026, 12, 30, 9), 5 * WORKING_DAY) == vn(2027, 1, 7, 9)
    assert cal.working_time_between(vn(2024, 12, 31, 9), vn(2025, 1, 2, 9)) == hours(8)
    assert cal.add_working_time(vn(2026, 2, 13, 10), hours(8)) == vn(2026, 2, 23, 10)
    # 2025: 261 weekdays (365 days from a Wednesday), minus 12 weekday holidays (1/1,
    # 5 of Tết 27-31/1, 7/4, 30/4, 1/5, 2/5, 1/9, 2/9), plus Saturday 26/4 -> 250
    assert cal.working_time_between(vn(2025, 1, 1), vn(2026, 1, 1)) == 250 * WORKING_DAY


def test_concurrent_lazy_extension_is_consistent() -> None:
    cal = WorkingCalendar(years=range(2026, 2027))
    reference = WorkingCalendar()
    starts = [vn(year, 3, 2, 9) for year in range(1990, 2060)]
    errors: list[str] = []

    def work(chunk: list[datetime]) -> None:
        for start in chunk:
            got = cal.add_working_time(start, 45 * WORKING_DAY)
            want = reference.add_working_time(start, 45 * WORKING_DAY)
            if got != want:
                errors.append(f"{start}: {got} != {want}")

    threads = [threading.Thread(target=work, args=(starts[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# --------------------------------------------------------------------------- properties


def _reference_is_working_day(day: date) -> bool:
    # The package's own notion, independent of the calendar's tables.
    return holidays.country_holidays("VN", years=day.year).is_working_day(day)


_PERIODS = ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 30)))


def _reference_add(start: datetime, amount: timedelta) -> datetime:
    """Day-by-day walk over periods: slow, obvious, and written without the tables."""
    local = start.astimezone(VN_TZ)
    day = local.date()
    left = amount
    while True:
        if _reference_is_working_day(day):
            for begin, end in _PERIODS:
                p_begin = datetime.combine(day, begin, tzinfo=VN_TZ)
                p_end = datetime.combine(day, end, tzinfo=VN_TZ)
                p_begin = max(p_begin, local)
                if p_begin >= p_end:
                    continue
                if left == timedelta(0):
                    return p_begin
                if p_end - p_begin >= left:
                    return p_begin + left
                left -= p_end - p_begin
        day += timedelta(days=1)


def _reference_between(a: datetime, b: datetime) -> timedelta:
    total = timedelta(0)
    day = a.astimezone(VN_TZ).date()
    while day <= b.astimezone(VN_TZ).date():
        if _reference_is_working_day(day):
            for begin, end in _PERIODS:
                p_begin = max(datetime.combine(day, begin, tzinfo=VN_TZ), a)
                p_end = min(datetime.combine(day, end, tzinfo=VN_TZ), b)
                if p_begin < p_end:
                    total += p_end - p_begin
        day += timedelta(days=1)
    return total


ZONES = st.sampled_from(
    [VN_TZ, UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30))]
)
# Half the starts on a 30-minute grid, to land on openings, period ends and the close.
GRID = st.builds(
    lambda day, slot: vn(2025, 1, 1) + timedelta(days=day, minutes=30 * slot),
    st.integers(0, 4 * 365),
    st.integers(0, 47),
)
ANY = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=ZONES
)
INSTANTS = st.one_of(GRID, ANY)
GRID_AMOUNTS = st.integers(0, 60 * 16).map(lambda n: timedelta(minutes=30 * n))
AMOUNTS = st.one_of(GRID_AMOUNTS, st.timedeltas(min_value=timedelta(0), max_value=60 * WORKING_DAY))


@given(INSTANTS, AMOUNTS, AMOUNTS)
def test_more_working_time_is_never_earlier(start: datetime, a: timedelta, b: timedelta) -> None:
    small, large = sorted((a, b))
    assert CAL.add_working_time(start, small) <= CAL.add_working_time(start, large)


@given(INSTANTS, AMOUNTS)
def test_between_inverts_add(start: datetime, amount: timedelta) -> None:
    # Holds for any start, inside office hours or not, because time outside
    # office hours counts nothing.
    end = CAL.add_working_time(start, amount)
    assert end >= start or amount == timedelta(0)
    assert CAL.working_time_between(start, end) == amount
    assert CAL.working_time_between(CAL.next_opening(start), end) == amount


@given(INSTANTS, AMOUNTS, AMOUNTS)
def test_add_composes(start: datetime, a: timedelta, b: timedelta) -> None:
    # Period-end convention: add(s, a) may be a period end (17:30); adding b > 0
    # from there is the same as adding a + b at once. Adding 0 normalises to the
    # next opening instead, so the identity is stated for b > 0 and b == 0 apart.
    first = CAL.add_working_time(start, a)
    if b > timedelta(0):
        assert CAL.add_working_time(first, b) == CAL.add_working_time(start, a + b)
    else:
        assert CAL.add_working_time(first, b) == CAL.next_opening(first)


@given(INSTANTS, AMOUNTS)
def test_results_are_in_office_hours_or_at_a_period_end(start: datetime, amount: timedelta) -> None:
    end = CAL.add_working_time(start, amount)
    assert end.tzinfo is VN_TZ
    at_period_end = end.timetz().replace(tzinfo=None) in (time(11, 30), time(17, 30))
    assert CAL.is_working_day(end.date())
    assert CAL.is_working_instant(end) or (at_period_end and amount > timedelta(0))


@given(INSTANTS)
def test_next_opening_is_a_working_instant_and_idempotent(t: datetime) -> None:
    opening = CAL.next_opening(t)
    assert opening >= t
    assert CAL.is_working_instant(opening)
    assert CAL.next_opening(opening) == opening
    assert CAL.working_time_between(t, opening) == timedelta(0)


@settings(max_examples=60, deadline=None)
@given(INSTANTS, st.timedeltas(min_value=timedelta(0), max_value=12 * WORKING_DAY))
def test_add_matches_a_day_by_day_walk(start: datetime, amount: timedelta) -> None:
    assert CAL.add_working_time(start, amount) == _reference_add(start, amount)


@settings(max_examples=60, deadline=None)
@given(INSTANTS, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)))
def test_between_matches_a_day_by_day_walk(a: datetime, span: timedelta) -> None:
    assert CAL.working_time_between(a, a + span) == _reference_between(a, a + span)
