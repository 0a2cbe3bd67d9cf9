"""Which days of a year are working days: the national rule, the make-up Saturdays, overrides.

Pure: the ``holidays`` package's tables and the overrides given; ``WorkingCalendar``
tabulates a year with it the first time the year is touched.
"""

from __future__ import annotations

from datetime import date, timedelta

import holidays

from workflows.calendar.overrides import CalendarOverrides


def working_days_of_year(year: int, overrides: CalendarOverrides) -> list[int]:
    """The ordinals of ``year``'s working days, ascending.

    Monday–Friday that is not a public holiday (country ``VN``, observed days included),
    or a make-up Saturday the government announced, or a day in ``overrides.working_days``;
    minus ``overrides.days_off`` (an override wins over the national rule).
    """
    # Neighbouring years too: a swap announced in one year can move a day of
    # the next (2015-01-02 was made up on Saturday 2014-12-27).
    national = holidays.country_holidays("VN", years=range(year - 1, year + 2))
    make_up = {d for d in national.weekend_workdays if d.year == year}
    days_off = overrides.days_off
    extra = overrides.working_days
    result: list[int] = []
    day = date(year, 1, 1)
    one = timedelta(days=1)
    while day.year == year:
        if day in extra:
            working = True
        elif day in days_off:
            working = False
        elif day.weekday() < 5:
            working = day not in national
        else:
            working = day in make_up
        if working:
            result.append(day.toordinal())
        day += one
    return result
