"""Office hours and the calendar's basics: the time zone, the working day, the year range
and the errors every part raises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
WORKING_DAY = timedelta(hours=8)

MIN_YEAR = 1976
MAX_YEAR = 2100

_US = timedelta(microseconds=1)
_ZERO = timedelta(0)
_US_PER_SECOND = 1_000_000
_US_PER_MINUTE = 60 * _US_PER_SECOND
_US_PER_HOUR = 60 * _US_PER_MINUTE


class NaiveDatetimeError(ValueError):
    """A datetime without a timezone was passed where an instant is required."""


class CalendarRangeError(ValueError):
    """A date falls outside the years the calendar can answer for."""


class CalendarOverridesError(ValueError):
    """A calendar overrides file is unreadable or malformed."""


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(
            f"{name}={value.isoformat()} is a naive datetime; working time needs an instant: "
            f"give it an offset, e.g. {value.isoformat()}+07:00"
        )


def _time_to_us(t: time) -> int:
    return (
        t.hour * _US_PER_HOUR
        + t.minute * _US_PER_MINUTE
        + t.second * _US_PER_SECOND
        + t.microsecond
    )


# --------------------------------------------------------------------------- office hours


@dataclass(frozen=True)
class OfficeHours:
    """The office periods of one working day, wall-clock times in the calendar's timezone.

    Periods are half-open ``[start, end)``, sorted, and separated by a gap: two
    periods that touch (``07:30-11:30,11:30-17:30``) are rejected so that there is
    exactly one way to write the same hours.
    """

    periods: tuple[tuple[time, time], ...] = (
        (time(7, 30), time(11, 30)),
        (time(13, 30), time(17, 30)),
    )

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("office hours need at least one period, e.g. '07:30-11:30'")
        previous_end: time | None = None
        for index, (start, end) in enumerate(self.periods):
            label = f"period {index + 1} ({start:%H:%M}-{end:%H:%M})"
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError(
                    f"office hours {label}: times must be wall-clock times without tzinfo; "
                    "the calendar's timezone applies"
                )
            if start >= end:
                raise ValueError(
                    f"office hours {label}: start must be before end "
                    "(periods cannot cross midnight)"
                )
            if previous_end is not None and start <= previous_end:
                raise ValueError(
                    f"office hours {label}: must start after the previous period ends at "
                    f"{previous_end:%H:%M}; sort the periods and merge touching ones"
                )
            previous_end = end

    @classmethod
    def parse(cls, text: str) -> OfficeHours:
        """Parse ``"07:30-11:30,13:30-17:30"`` (spaces allowed, seconds optional)."""
        periods: list[tuple[time, time]] = []
        for index, chunk in enumerate(text.split(",")):
            piece = chunk.strip()
            start_text, sep, end_text = piece.partition("-")
            try:
                if not sep:
                    raise ValueError("missing '-'")
                start = time.fromisoformat(start_text.strip())
                end = time.fromisoformat(end_text.strip())
            except ValueError as exc:
                raise ValueError(
                    f"office hours {text!r}: period {index + 1} {piece!r} is not HH:MM-HH:MM "
                    f"({exc})"
                ) from exc
            periods.append((start, end))
        return cls(tuple(periods))

    @property
    def per_day(self) -> timedelta:
        """Working time in one working day (8 h for the default hours)."""
        return sum((_dt(end) - _dt(start) for start, end in self.periods), timedelta())

    @property
    def opening(self) -> time:
        return self.periods[0][0]

    @property
    def closing(self) -> time:
        return self.periods[-1][1]

    def __str__(self) -> str:
        return ",".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in self.periods)


def _dt(t: time) -> timedelta:
    return timedelta(microseconds=_time_to_us(t))


DEFAULT_OFFICE_HOURS = OfficeHours()
