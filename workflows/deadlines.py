"""Deadline math on top of the working calendar: due instants, pauses, completion.

Pure functions of their arguments: ``now`` is always passed in. The conventions
below are where the law leaves room; docs/deadlines.md gives each its legal reason
and an example, and ``tests/unit/test_deadlines.py`` and ``test_deadline_pauses.py``
test them.

* **Counting start.** A dossier received outside office hours counts from the
  next opening. With a same-day cut-off (e.g. 15:00), a dossier received on a
  working day *strictly after* the cut-off counts from the next working day's
  opening; one received at 15:00:00 still counts the same day.
* **Due instant.** Working days and hours: start + amount of working time (a
  working day is 8 h; 2.5 days is 20 h). Amount 0 (same-day procedure): the close
  of the working day the count starts on. Calendar days: see
  :meth:`WorkingCalendar.add_calendar_days` (the close of the last day, moved to
  the next working day when that day is off).
* **Pauses** (:func:`extend_for_pause`, ``workflows.pauses``). Only the part of a
  supplement pause at or after the clock's start counts, and only for a deadline
  not yet passed when the pause began. Working units get back the pause's working
  time. A same-day deadline becomes the close of the working day the count resumes
  on, if later (a pause within the day keeps today's close). Calendar days get back
  whole days, the calendar dates after the request's up to the receipt's (Fri 10:00
  to Mon 10:00 is 3 days; a pause within one day is 0), and the due is the close of
  the moved last day, or of the next working day when that one is off.
* **Completion** is decided by *day*, as Decision 766/QĐ-TTg scores it: early when
  the work ended on a day before the due instant's working day, on time on that
  day (even after the due instant's time of day), late after it. A due instant on
  a non-working day (possible only for a rescheduled date) belongs to the next
  working day.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from zoneinfo import ZoneInfo

from workflows.calendar import WORKING_DAY, NaiveDatetimeError, WorkingCalendar

__all__ = [
    "DAYS_QUANTUM",
    "Completion",
    "TimeAllowance",
    "TimeUnit",
    "allowance",
    "allowance_working_days",
    "classify",
    "counting_start",
    "due_instant",
    "extend_for_pause",
    "given_back_days",
    "local_instant",
    "pause_intervals",
    "paused_working_time",
    "working_days_in",
    "working_days_saved",
    "working_days_used",
]

#: Working-day figures are rounded to this (one millionth of a day is 28.8 ms).
DAYS_QUANTUM = Decimal("0.000001")

_US = timedelta(microseconds=1)
_ZERO = timedelta(0)
_FIXED_ZONES = (ZoneInfo, timezone)
_WORKING_DAY_US = WORKING_DAY // _US
_HOUR_US = timedelta(hours=1) // _US


class TimeUnit(StrEnum):
    WORKING_DAYS = "working_days"
    WORKING_HOURS = "working_hours"
    CALENDAR_DAYS = "calendar_days"


class Completion(StrEnum):
    EARLY = "early"
    ON_TIME = "on_time"
    LATE = "late"


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError(f"time allowance amount {value!r} is a bool, not a number")
    if isinstance(value, int | float | str):
        # str() first so that 2.5 stays 2.5 and 0.1 does not become 0.1000000000000000055…
        try:
            return Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(f"time allowance amount {value!r} is not a number") from exc
    raise TypeError(f"time allowance amount {value!r} is not a number")


def _us_to_days(us: int) -> Decimal:
    return (Decimal(us) / Decimal(_WORKING_DAY_US)).quantize(DAYS_QUANTUM, ROUND_HALF_EVEN)


@dataclass(frozen=True)
class TimeAllowance:
    """A processing time as the catalog states it: ``2.5 working_days``, ``4 working_hours``.

    ``amount`` may be fractional for working units (real decisions use 2.5 and
    16.5 days) and 0 for a same-day procedure; calendar days must be whole.
    An int, float or numeric string is accepted and stored as a ``Decimal``.
    """

    amount: Decimal
    unit: TimeUnit
    #: ``working_duration()`` worked out once (None for calendar days): every due instant
    #: of a route asks for it, and the Decimal arithmetic cost more than the lookup.
    _working: timedelta | None = field(default=None, init=False, repr=False, compare=False)
    _days: Decimal | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        amount = _to_decimal(self.amount)
        unit = TimeUnit(self.unit)
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"time allowance amount {amount} must be a finite number >= 0")
        if unit is TimeUnit.CALENDAR_DAYS and amount != amount.to_integral_value():
            raise ValueError(f"time allowance of {amount} calendar days must be a whole number")
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "unit", unit)
        if unit is not TimeUnit.CALENDAR_DAYS:
            per_unit = _WORKING_DAY_US if unit is TimeUnit.WORKING_DAYS else _HOUR_US
            us = (amount * per_unit).to_integral_value(ROUND_HALF_EVEN)
            object.__setattr__(self, "_working", timedelta(microseconds=int(us)))
            object.__setattr__(self, "_days", _us_to_days(int(us)))

    @property
    def same_day(self) -> bool:
        return self.amount == 0

    def working_duration(self) -> timedelta:
        """The allowance as working time: days × 8 h, or hours. Exact to the microsecond."""
        if self._working is None:
            raise ValueError(
                f"{self} is counted in calendar days and has no fixed working duration; "
                "use allowance_working_days(cal, start, allowance) for a given start"
            )
        return self._working

    def in_working_days(self) -> Decimal:
        """The allowance in working days (hours / 8); not defined for calendar days."""
        if self._days is None:
            self.working_duration()  # raises: calendar days
        assert self._days is not None
        return self._days

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value}"


@functools.lru_cache(maxsize=4096)
def allowance(amount: Decimal, unit: str) -> TimeAllowance:
    """The ``TimeAllowance`` of ``amount`` in a catalog ``unit`` (cached: routes repeat them)."""
    return TimeAllowance(amount=amount, unit=TimeUnit(unit))


def working_days_in(worked: timedelta) -> Decimal:
    """Working time in working days, rounded as every figure here is (``DAYS_QUANTUM``)."""
    return _us_to_days(worked // _US)


def counting_start(
    cal: WorkingCalendar, received_at: datetime, cutoff: time | None = None
) -> datetime:
    """The instant a dossier's clock starts.

    Received inside office hours: that instant. Outside office hours: the next
    opening. Received on a working day strictly after ``cutoff`` (a wall-clock time
    in the calendar's timezone): the opening of the next working day.
    """
    local = local_instant(cal, received_at, "received_at")
    if cutoff is not None:
        if cutoff.tzinfo is not None:
            raise ValueError(f"cutoff={cutoff} must be a wall-clock time without tzinfo")
        if cal.is_working_day(local.date()) and local.time() > cutoff:
            next_day = cal.next_working_day(local.date())
            return datetime.combine(next_day, cal.office_hours.opening, tzinfo=cal.tz)
    return cal.next_opening(received_at)


def due_instant(cal: WorkingCalendar, start: datetime, allowance: TimeAllowance) -> datetime:
    """The due instant of ``allowance`` counted from ``start`` (usually a counting start).

    Working units: ``start`` + the working duration, counted inside office
    hours; an amount ending exactly at a period end is due at that period end
    (17:30), not the next opening. Amount 0: the close of the working day the
    count starts on. Calendar days: the close of the last day, moved to the next
    working day when that day is off.
    """
    _aware(start, "start")
    working = allowance._working
    if working is None:
        return cal.add_calendar_days(start, int(allowance.amount))
    if allowance.same_day:
        return cal.end_of_working_day(cal.next_opening(start))
    return cal.add_working_time(start, working)


def extend_for_pause(
    cal: WorkingCalendar,
    due: datetime,
    paused_from: datetime,
    paused_to: datetime,
    *,
    counted_from: datetime | None = None,
    allowance: TimeAllowance | None = None,
) -> datetime:
    """``due`` moved later for the pause ``[paused_from, paused_to)``, by ``allowance``'s rule.

    Only the part of the pause at or after ``counted_from`` (the clock's start; None:
    all of it) counts, and nothing when that part begins at or after ``due``: a
    deadline already passed stays passed. Then, by the unit of ``allowance`` (None:
    working time):

    * working days or hours: ``due`` + the working time of that part; a pause wholly
      outside office hours (Friday 18:00 to Monday 07:00) adds nothing, and pauses
      applied one after the other add up to their total;
    * same day (amount 0): the close of the working day the count resumes on, when
      later than ``due``;
    * calendar days: ``due`` moved by :func:`given_back_days`, to the close of the next
      working day when the day it lands on is off. This treats ``due`` as its own last
      day (right for an apology's date); ``workflows.pauses.due_with_pauses`` re-derives
      a deadline counted from a start.
    """
    local_due = local_instant(cal, due, "due")
    local_instant(cal, paused_from, "paused_from")
    end = local_instant(cal, paused_to, "paused_to")
    if paused_to < paused_from:
        raise ValueError(
            f"paused_to={paused_to.isoformat()} is before paused_from={paused_from.isoformat()}"
        )
    begin = local_instant(cal, paused_from, "paused_from")
    if counted_from is not None:
        begin = max(begin, local_instant(cal, counted_from, "counted_from"))
    if end <= begin or begin >= local_due:
        return local_due
    if allowance is not None and allowance.unit is TimeUnit.CALENDAR_DAYS:
        day = local_due.date() + timedelta(days=given_back_days(cal, begin, end))
        if day == local_due.date():
            return local_due
        if cal.is_working_day(day):
            return datetime.combine(day, local_due.timetz())
        return cal.add_calendar_days(local_due, (day - local_due.date()).days)
    if allowance is not None and allowance.same_day:
        return max(local_due, cal.end_of_working_day(cal.next_opening(end)))
    paused = cal.working_time_between(begin, end)
    if paused == timedelta(0):
        return local_due
    return cal.add_working_time(local_due, paused)


def given_back_days(cal: WorkingCalendar, paused_from: datetime, paused_to: datetime) -> int:
    """The calendar days a pause gives back: the dates after ``paused_from``'s up to and
    including ``paused_to``'s (Civil Code art. 147: a period in days starts the day after
    its event), so Friday 10:00 to Monday 10:00 is 3 and a pause within one day is 0."""
    first = local_instant(cal, paused_from, "paused_from").date()
    last = local_instant(cal, paused_to, "paused_to").date()
    return max((last - first).days, 0)


def pause_intervals(
    cal: WorkingCalendar,
    pauses: Sequence[tuple[datetime, datetime]],
    *,
    within: tuple[datetime, datetime | None] | None = None,
) -> list[tuple[datetime, datetime]]:
    """``pauses`` clipped to ``within`` (``(a, None)``: from ``a`` on), sorted, overlaps
    merged, empty ones left out; refuses naive instants and reversed pauses by index."""
    intervals: list[tuple[datetime, datetime]] = []
    for index, (begin, end) in enumerate(pauses):
        _aware(begin, f"pauses[{index}][0]")
        _aware(end, f"pauses[{index}][1]")
        if end < begin:
            raise ValueError(
                f"pauses[{index}] ends ({end.isoformat()}) before it starts ({begin.isoformat()})"
            )
        if within is not None:
            begin = max(begin, within[0])
            end = end if within[1] is None else min(end, within[1])
        if begin < end:
            intervals.append((begin, end))
    intervals.sort()
    merged: list[tuple[datetime, datetime]] = []
    for begin, end in intervals:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def paused_working_time(
    cal: WorkingCalendar,
    pauses: Sequence[tuple[datetime, datetime]],
    *,
    within: tuple[datetime, datetime] | None = None,
) -> timedelta:
    """Working time covered by ``pauses``, overlaps counted once.

    With ``within=(a, b)`` only the part of each pause inside ``[a, b)`` counts.
    """
    if not pauses:  # most dossiers never pause
        return _ZERO
    merged = pause_intervals(cal, pauses, within=within)
    return sum((cal.working_time_between(b, e) for b, e in merged), _ZERO)


def classify(cal: WorkingCalendar, finished_at: datetime, due_at: datetime) -> Completion:
    """Early, on time or late, by working day (see the module docstring).

    The due day is the local date of ``due_at``, or the next working day if that
    date is off; the finish day is the local date of ``finished_at``.
    """
    _aware(finished_at, "finished_at")
    _aware(due_at, "due_at")
    # Days as ordinals, from the calendar's per-instant cache (no zone conversion when seen).
    finished_day = cal.day_ordinal(finished_at)
    due_day = cal.working_ordinal_on_or_after(cal.day_ordinal(due_at))
    if finished_day < due_day:
        return Completion.EARLY
    if finished_day == due_day:
        return Completion.ON_TIME
    return Completion.LATE


def working_days_used(
    cal: WorkingCalendar,
    start: datetime,
    finished: datetime,
    pauses: Sequence[tuple[datetime, datetime]] = (),
) -> Decimal:
    """Working time from ``start`` to ``finished`` minus paused working time, in working days.

    Pauses are clipped to ``[start, finished)`` and overlaps count once. Rounded
    to :data:`DAYS_QUANTUM`. For a calendar-day allowance see
    ``workflows.pauses.working_time_used``.
    """
    _aware(start, "start")
    _aware(finished, "finished")
    worked = cal.working_time_between(start, finished)
    paused = paused_working_time(cal, pauses, within=(start, finished))
    return _us_to_days((worked - paused) // _US)


def allowance_working_days(
    cal: WorkingCalendar, start: datetime, allowance: TimeAllowance
) -> Decimal:
    """The allowance in working days for a dossier counted from ``start``.

    For working units this is the fixed figure; for calendar days it is the
    working time from ``start`` to :func:`due_instant`, so that a calendar-day
    procedure can be compared with the working time actually used.
    """
    if allowance.unit is TimeUnit.CALENDAR_DAYS:
        due = due_instant(cal, start, allowance)
        return _us_to_days(cal.working_time_between(start, due) // _US)
    return allowance.in_working_days()


def working_days_saved(statutory: TimeAllowance, used_days: Decimal) -> Decimal:
    """Statutory time minus working days used; negative when the dossier took longer.

    A calendar-day statutory time depends on the start date: convert it with
    :func:`allowance_working_days` and subtract directly. The engine's figure, with
    pauses and the same-day rule (saves nothing), is ``workflows.pauses.days_saved``.
    """
    if statutory.unit is TimeUnit.CALENDAR_DAYS:
        raise ValueError(
            f"statutory time {statutory} depends on the start date; compute "
            "allowance_working_days(cal, start, statutory) - used_days instead"
        )
    return statutory.in_working_days() - used_days


def local_instant(cal: WorkingCalendar, value: datetime, name: str) -> datetime:
    """``value`` in the calendar's zone; a naive ``value`` is refused, named ``name``."""
    _aware(value, name)
    return value.astimezone(cal.tz)


def _aware(value: datetime, name: str) -> None:
    """Refuse a naive ``value`` (``_local`` without converting: the check is all that a
    caller needs when the calendar converts the instant itself, and cheaper)."""
    zone = value.tzinfo
    # ZoneInfo and timezone always give an offset; asking for it costs (a lookup per call).
    if zone is None or (type(zone) not in _FIXED_ZONES and zone.utcoffset(value) is None):
        raise NaiveDatetimeError(
            f"{name}={value.isoformat()} is a naive datetime; deadlines need instants: "
            f"give it an offset, e.g. {value.isoformat()}+07:00"
        )
