"""``WorkingCalendar.place``, ``day_ordinal`` and ``working_ordinal_on_or_after``: the
cheap questions the routing core and ``classify`` ask, against their long forms."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from workflows.calendar import VN_TZ, CalendarRangeError, NaiveDatetimeError, WorkingCalendar


def test_place_refuses_what_is_working_instant_refuses() -> None:
    cal = WorkingCalendar()
    with pytest.raises(NaiveDatetimeError):
        cal.place(datetime(2026, 3, 2, 9))
    with pytest.raises(CalendarRangeError):
        cal.place(datetime(1970, 1, 5, 9, tzinfo=VN_TZ))
    with pytest.raises(CalendarRangeError):
        cal.is_working_instant(datetime(1970, 1, 5, 9, tzinfo=VN_TZ))
    cal.place(datetime(2026, 3, 2, 9, tzinfo=VN_TZ))  # placed: no error, nothing returned


@pytest.mark.parametrize("hours", range(0, 48, 5))
def test_day_ordinal_is_the_local_date(hours: int) -> None:
    cal = WorkingCalendar()
    t = datetime(2026, 3, 1, 12, tzinfo=UTC) + timedelta(hours=hours)
    expected = t.astimezone(VN_TZ).date().toordinal()
    assert cal.day_ordinal(t) == expected  # not seen yet
    cal.place(t)
    assert cal.day_ordinal(t) == expected  # from the cache


def test_working_ordinal_on_or_after_matches_the_date_form() -> None:
    cal = WorkingCalendar()
    day = date(2026, 1, 1)
    for n in range(40):
        d = day + timedelta(days=n)
        assert cal.working_ordinal_on_or_after(d.toordinal()) == (
            cal.working_day_on_or_after(d).toordinal()
        )
    with pytest.raises(CalendarRangeError):
        cal.working_ordinal_on_or_after(date(1960, 1, 1).toordinal())
