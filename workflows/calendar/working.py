"""Working-time calendar: Vietnamese working days and office hours.

Working time is what the law counts deadlines in: office hours (default 07:30–11:30
and 13:30–17:30) on working days. A working day is Monday–Friday that is not a
public holiday (``holidays`` package, country ``VN``, observed days included),
or a make-up Saturday the government announced (the package's
``weekend_workdays``), or a day listed in ``CalendarOverrides.working_days``;
minus ``CalendarOverrides.days_off``.

Everything here is pure: no clock, no I/O except :meth:`CalendarOverrides.load`
reading the file it is given.

How it stays fast: the calendar keeps a sorted list of working-day ordinals,
built per year and extended lazily. An instant maps to its *working-time
position* ``W(t) = (working days before t's date) × per_day + working time of
t's own day before t``; the index from a ``bisect`` gives the first term. Working
time between two instants is a difference of positions, and adding working time
inverts ``W`` with one ``divmod`` and one list lookup. No loop runs per day, hour
or minute. All arithmetic is in integer microseconds, so results are exact. A
replay asks about the same instants over and over (a dossier's start and due instants,
each event's time twice or more), so each instant's local day and time and its
position are remembered, in bounded caches keyed by the instant itself.

Conventions (every one is tested):

* Office periods are half-open, ``[start, end)``: 17:30 is not a working instant,
  so ``next_opening(Friday 17:30)`` is Monday 07:30.
* ``add_working_time`` returns the *earliest* instant at which the amount has
  been worked. An amount that ends exactly at a period end therefore returns the
  period end (11:30, 17:30), not the next opening; an amount of zero returns
  ``next_opening(start)``. With this rule ``add(add(s, a), b) == add(s, a + b)``
  for every ``b > 0`` and ``working_time_between(s, add(s, n)) == n`` for every
  ``s``, inside office hours or not.
* ``end_of_working_day`` treats the closing instant as part of its day:
  ``end_of_working_day(Friday 17:30)`` is Friday 17:30.
* Times of day are wall-clock times in the calendar's timezone. Asia/Ho_Chi_Minh
  has had no daylight-saving change since 1975, which is why the supported years
  start in 1976; the ``holidays`` package knows lunar dates up to 2100, which is
  why they end there. A date outside raises :class:`CalendarRangeError`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import threading
from bisect import bisect_left
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from workflows.calendar.days import working_days_of_year
from workflows.calendar.hours import (
    _US,
    _US_PER_SECOND,
    _ZERO,
    DEFAULT_OFFICE_HOURS,
    MAX_YEAR,
    MIN_YEAR,
    VN_TZ,
    CalendarRangeError,
    OfficeHours,
    _require_aware,
    _time_to_us,
)
from workflows.calendar.overrides import CalendarOverrides

#: Instants each cache remembers before it starts afresh: a replay's working set (the
#: dossiers in progress at once) fits, and a long-running worker's memory stays bounded.
_CACHED_INSTANTS = 1 << 16

# --------------------------------------------------------------------------- the calendar


class WorkingCalendar:
    """Working days and office hours in one timezone, with O(log n) working-time arithmetic.

    ``years`` is only a warm-up hint: those years are tabulated eagerly; any
    other supported year is tabulated the first time it is touched. Lazy
    extension takes a lock, so a calendar may be shared between threads.
    """

    def __init__(
        self,
        office_hours: OfficeHours = DEFAULT_OFFICE_HOURS,
        overrides: CalendarOverrides | None = None,
        tz: ZoneInfo = VN_TZ,
        years: range | None = None,
    ) -> None:
        self._office_hours = office_hours
        self._overrides = overrides if overrides is not None else CalendarOverrides()
        self._tz = tz
        self._periods: tuple[tuple[int, int], ...] = tuple(
            (_time_to_us(start), _time_to_us(end)) for start, end in office_hours.periods
        )
        cumulative: list[int] = []
        total = 0
        for start, end in self._periods:
            total += end - start
            cumulative.append(total)
        # _cum_end[i]: working time of a day up to the end of period i.
        self._cum_end: tuple[int, ...] = tuple(cumulative)
        self._per_day = total
        self._opening_us = self._periods[0][0]
        self._closing_us = self._periods[-1][1]
        self._lock = threading.Lock()
        # (sorted ordinals of every working day in [_lo_year, _hi_year], offset).
        # A position's day index is absolute: table index - offset. Prepending years
        # swaps in a new list and a larger offset in one assignment and appending
        # only adds at the end, so an absolute index never changes meaning, even
        # for a reader in another thread that holds an older snapshot.
        self._table: tuple[list[int], int] = ([], 0)
        # (year, month, day) of the days results have landed on; bounded by the calendar's range.
        self._ymd: dict[int, tuple[int, int, int]] = {}
        # instant -> (local, ordinal, time of day in us), and instant -> position W(t). Equal
        # instants (in any zone) are equal keys with the same answers; a naive datetime is
        # never equal to an aware key, so it misses and is refused as before. Positions are
        # absolute (see _table), so a later table extension leaves them true.
        self._locals: dict[datetime, tuple[datetime, int, int]] = {}
        self._positions: dict[datetime, int] = {}
        self._lo_year = 0
        self._hi_year = -1
        self._lo_ord = 1
        self._hi_ord = 0
        if years is not None and len(years) > 0:
            self._ensure_years(min(years), max(years))

    # -- properties

    @functools.cached_property
    def fingerprint(self) -> str:
        """Names everything the arithmetic depends on: office hours, overrides, timezone and
        the ``holidays`` package's data (its installed version). Two calendars with the same
        fingerprint give the same answers; results stored with one stay valid while it holds."""
        parts = (
            tuple(
                (start.isoformat(), end.isoformat()) for start, end in self._office_hours.periods
            ),
            tuple(sorted(d.isoformat() for d in self._overrides.days_off)),
            tuple(sorted(d.isoformat() for d in self._overrides.working_days)),
            self._tz.key,
            importlib.metadata.version("holidays"),
        )
        return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:16]

    @property
    def office_hours(self) -> OfficeHours:
        return self._office_hours

    @property
    def overrides(self) -> CalendarOverrides:
        return self._overrides

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(office_hours={self._office_hours}, tz={self._tz.key}, "
            f"days_off={len(self._overrides.days_off)}, "
            f"working_days={len(self._overrides.working_days)})"
        )

    # -- the per-year tables

    def _ensure_years(self, lo: int, hi: int) -> None:
        if lo < MIN_YEAR or hi > MAX_YEAR:
            bad = lo if lo < MIN_YEAR else hi
            raise CalendarRangeError(
                f"year {bad} is outside the working calendar ({MIN_YEAR}-{MAX_YEAR}): "
                "the holiday tables do not cover it"
            )
        with self._lock:
            days, offset = self._table
            if self._hi_year < self._lo_year:
                for year in range(lo, hi + 1):
                    days.extend(working_days_of_year(year, self._overrides))
                self._set_bounds(lo, hi)
                return
            if lo < self._lo_year:
                before: list[int] = []
                for year in range(lo, self._lo_year):
                    before.extend(working_days_of_year(year, self._overrides))
                days = before + days
                self._table = (days, offset + len(before))
                self._set_bounds(lo, self._hi_year)
            if hi > self._hi_year:
                for year in range(self._hi_year + 1, hi + 1):
                    days.extend(working_days_of_year(year, self._overrides))
                self._set_bounds(self._lo_year, hi)

    def _set_bounds(self, lo: int, hi: int) -> None:
        self._lo_year, self._hi_year = lo, hi
        self._lo_ord = date(lo, 1, 1).toordinal()
        self._hi_ord = date(hi, 12, 31).toordinal()

    def _ensure_ordinal(self, ordinal: int) -> None:
        if ordinal < self._lo_ord or ordinal > self._hi_ord:
            if not date.min.toordinal() <= ordinal <= date.max.toordinal():
                raise CalendarRangeError(f"day {ordinal} is outside the supported dates")
            year = date.fromordinal(ordinal).year
            if self._hi_year < self._lo_year:
                self._ensure_years(year, year)
            else:
                self._ensure_years(min(year, self._lo_year), max(year, self._hi_year))

    def _extend_forward(self) -> None:
        if self._hi_year >= MAX_YEAR:
            raise CalendarRangeError(
                f"the result lies after {MAX_YEAR}, outside the working calendar"
            )
        self._ensure_years(self._lo_year, self._hi_year + 1)

    # -- conversions

    def _local(self, t: datetime, name: str) -> tuple[datetime, int, int]:
        found = self._locals.get(t)
        if found is not None:
            return found
        _require_aware(t, name)
        local = t.astimezone(self._tz)
        ordinal = local.toordinal()
        if ordinal < self._lo_ord or ordinal > self._hi_ord:
            self._ensure_ordinal(ordinal)
        tod = (local.hour * 3600 + local.minute * 60 + local.second) * _US_PER_SECOND
        found = (local, ordinal, tod + local.microsecond)
        if len(self._locals) >= _CACHED_INSTANTS:
            self._locals.clear()
        self._locals[t] = found
        return found

    def _position_of(self, t: datetime, name: str) -> int:
        """W(t) of an instant (``_position``), remembered."""
        position = self._positions.get(t)
        if position is None:
            _, ordinal, tod = self._local(t, name)
            position = self._position(ordinal, tod)
            if len(self._positions) >= _CACHED_INSTANTS:
                self._positions.clear()
            self._positions[t] = position
        return position

    def _at(self, ordinal: int, tod_us: int) -> datetime:
        # The hot path of add_working_time: a cached (y, m, d) and small-int divmods
        # cost about half of datetime.combine(date.fromordinal(...), time(...)).
        ymd = self._ymd.get(ordinal)
        if ymd is None:
            day = date.fromordinal(ordinal)
            ymd = self._ymd[ordinal] = (day.year, day.month, day.day)
        seconds, micros = divmod(tod_us, _US_PER_SECOND)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return datetime(ymd[0], ymd[1], ymd[2], hour, minute, second, micros, self._tz)

    def _in_day(self, tod: int) -> int:
        worked = 0
        for start, end in self._periods:
            if tod <= start:
                break
            worked += (tod if tod < end else end) - start
        return worked

    def _position(self, ordinal: int, tod: int) -> int:
        """W(t): working microseconds from the table origin to the instant."""
        days, offset = self._table
        index = bisect_left(days, ordinal)
        worked = (index - offset) * self._per_day
        if index < len(days) and days[index] == ordinal:
            worked += self._in_day(tod)
        return worked

    def _instant_at(self, position: int) -> datetime:
        """The earliest instant whose position is ``position``, which is past the origin."""
        absolute, rest = divmod(position, self._per_day)
        if rest == 0:
            # Exactly a whole number of days: the close of the last of them.
            absolute -= 1
            rest = self._per_day
        period = bisect_left(self._cum_end, rest)
        tod = self._periods[period][1] - (self._cum_end[period] - rest)
        while True:
            days, offset = self._table
            index = absolute + offset
            if index < len(days):
                return self._at(days[index], tod)
            self._extend_forward()

    def _require_date(self, d: date, name: str) -> int:
        if isinstance(d, datetime):
            raise TypeError(
                f"{name} must be a date, not a datetime; use is_working_instant for instants "
                "or pass t.astimezone(cal.tz).date()"
            )
        ordinal = d.toordinal()
        self._ensure_ordinal(ordinal)
        return ordinal

    def _is_working_ordinal(self, ordinal: int) -> bool:
        days = self._table[0]
        index = bisect_left(days, ordinal)
        return index < len(days) and days[index] == ordinal

    def _working_ordinal_on_or_after(self, ordinal: int) -> int:
        while True:
            days = self._table[0]
            index = bisect_left(days, ordinal)
            if index < len(days):
                return days[index]
            self._extend_forward()

    # -- public API

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` (a date in the calendar's timezone) is a working day."""
        return self._is_working_ordinal(self._require_date(d, "d"))

    def working_day_on_or_after(self, d: date) -> date:
        """``d`` if it is a working day, else the next working day."""
        return date.fromordinal(self._working_ordinal_on_or_after(self._require_date(d, "d")))

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        return date.fromordinal(self._working_ordinal_on_or_after(self._require_date(d, "d") + 1))

    def place(self, t: datetime) -> None:
        """Refuse an instant the calendar cannot place (naive, or its local day outside the
        supported years) as every method does; remembered, so the next question about
        ``t`` is a cache hit. ``is_working_instant`` without the answer."""
        if t not in self._locals:
            self._local(t, "t")

    def day_ordinal(self, t: datetime) -> int:
        """The ordinal of ``t``'s local date (``t.astimezone(tz).toordinal()``), from the
        cache when ``t`` was seen; no range check (a date, not yet a working-day question)."""
        found = self._locals.get(t)
        if found is not None:
            return found[1]
        return t.astimezone(self._tz).toordinal()

    def working_ordinal_on_or_after(self, ordinal: int) -> int:
        """``working_day_on_or_after`` on a date's ordinal."""
        if ordinal < self._lo_ord or ordinal > self._hi_ord:
            self._ensure_ordinal(ordinal)
        return self._working_ordinal_on_or_after(ordinal)

    def is_working_instant(self, t: datetime) -> bool:
        """Whether ``t`` falls inside an office period (``[start, end)``) of a working day."""
        _, ordinal, tod = self._local(t, "t")
        if not self._is_working_ordinal(ordinal):
            return False
        # A loop, not any(...): called for every event, and a generator costs more than it.
        for start, end in self._periods:  # noqa: SIM110
            if start <= tod < end:
                return True
        return False

    def next_opening(self, t: datetime) -> datetime:
        """``t`` itself if it is a working instant, else the next period start."""
        local, ordinal, tod = self._local(t, "t")
        if self._is_working_ordinal(ordinal) and tod < self._closing_us:
            for start, end in self._periods:
                if tod < end:
                    return local if tod >= start else self._at(ordinal, start)
        return self._at(self._working_ordinal_on_or_after(ordinal + 1), self._opening_us)

    def end_of_working_day(self, t: datetime) -> datetime:
        """The close of the working day containing ``t``, or of the next one.

        The closing instant belongs to its day: Friday 17:30 gives Friday 17:30,
        Friday 17:31 gives Monday's close (when Monday is a working day).
        """
        _, ordinal, tod = self._local(t, "t")
        if tod > self._closing_us:
            ordinal += 1
        return self._at(self._working_ordinal_on_or_after(ordinal), self._closing_us)

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant by which ``amount`` of working time has elapsed after ``start``.

        Working time counts only inside office periods on working days; a start
        outside them counts from the next opening. ``amount == 0`` gives
        ``next_opening(start)``; an amount ending exactly at a period end gives
        that period end (e.g. 17:30), not the next opening.
        """
        if amount <= _ZERO:
            if amount == _ZERO:
                return self.next_opening(start)
            raise ValueError(f"amount={amount} is negative; working time only moves forward")
        position = self._positions.get(start)
        if position is None:
            position = self._position_of(start, "start")
        return self._instant_at(position + amount // _US)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time in ``[a, b)``; zero when ``b <= a``."""
        positions = self._positions
        # The cache inline: both instants are nearly always known (a step's clock start and
        # due, an event's time), and a method call costs as much as the lookup.
        position_a = positions.get(a)
        if position_a is None:
            position_a = self._position_of(a, "a")
        position_b = positions.get(b)
        if position_b is None:
            position_b = self._position_of(b, "b")
        # W is non-decreasing, so b <= a gives W(b) <= W(a): no datetime comparison needed.
        worked = position_b - position_a
        return timedelta(microseconds=worked) if worked > 0 else _ZERO

    def add_calendar_days(self, start: datetime, days: int) -> datetime:
        """The close of the working day ``days`` calendar days after ``start``'s local date.

        The day count follows the Civil Code (2015, arts. 147–148): the period ends
        at the end of its last day, and a last day that is not a working day moves
        to the next working day. The end of a day is the office close, the last
        moment the desk can return a result. ``days == 0`` is the close of the
        working day containing ``start`` (or the next one).
        """
        if days < 0:
            raise ValueError(f"days={days} is negative")
        _, ordinal, _ = self._local(start, "start")
        target = ordinal + days
        self._ensure_ordinal(target)
        return self._at(self._working_ordinal_on_or_after(target), self._closing_us)

    def working_days_in(self, first: date, last: date) -> int:
        """How many working days lie in ``[first, last]`` (0 if ``last < first``)."""
        lo = self._require_date(first, "first")
        hi = self._require_date(last, "last")
        if hi < lo:
            return 0
        days = self._table[0]
        return bisect_left(days, hi + 1) - bisect_left(days, lo)
