"""The working-time calendar: office hours (``hours``), holiday overrides (``overrides``)
and ``WorkingCalendar`` (``working``), which counts working time between instants."""

from workflows.calendar.hours import (
    DEFAULT_OFFICE_HOURS,
    MAX_YEAR,
    MIN_YEAR,
    VN_TZ,
    WORKING_DAY,
    CalendarOverridesError,
    CalendarRangeError,
    NaiveDatetimeError,
    OfficeHours,
)
from workflows.calendar.overrides import CalendarOverrides
from workflows.calendar.working import WorkingCalendar

__all__ = [
    "DEFAULT_OFFICE_HOURS",
    "MAX_YEAR",
    "MIN_YEAR",
    "VN_TZ",
    "WORKING_DAY",
    "CalendarOverrides",
    "CalendarOverridesError",
    "CalendarRangeError",
    "NaiveDatetimeError",
    "OfficeHours",
    "WorkingCalendar",
]
