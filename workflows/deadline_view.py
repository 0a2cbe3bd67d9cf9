"""Where a running deadline stands at ``now``: working time elapsed and left, share used.

Pure, on top of ``workflows.deadlines`` (an open pause is extended as
:func:`~workflows.deadlines.extend_for_pause` will extend it when the supplement arrives).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows.calendar import WorkingCalendar
from workflows.deadlines import (
    TimeAllowance,
    extend_for_pause,
    local_instant,
    paused_working_time,
)

__all__ = ["DeadlineView", "deadline_view"]


@dataclass(frozen=True)
class DeadlineView:
    """Where a running deadline stands at ``now``.

    ``elapsed`` and ``remaining`` are working time. ``remaining`` is negative
    (or zero, outside office hours) once the deadline has passed; ``overdue``
    compares instants, so it is true on the Saturday after a Friday 17:30 due
    even though no working time has passed since. ``fraction_used`` is
    ``elapsed / (elapsed + remaining)`` and is not clamped: 1.25 means a quarter
    over budget.
    """

    due_at: datetime
    elapsed: timedelta
    remaining: timedelta
    fraction_used: float
    overdue: bool


def deadline_view(
    cal: WorkingCalendar,
    start: datetime,
    due_at: datetime,
    now: datetime,
    pauses: Sequence[tuple[datetime, datetime | None]] = (),
    allowance: TimeAllowance | None = None,
) -> DeadlineView:
    """The state of a deadline at ``now``.

    ``due_at`` is the due instant as stored: already extended for every *closed*
    pause (by :func:`extend_for_pause`). A pause still open (end ``None``) has
    stopped the clock: the view extends ``due_at`` by its working time so far,
    as :func:`extend_for_pause` will when the supplement arrives (by ``allowance``'s
    rule; None: working time), so ``remaining`` does not shrink while the dossier
    waits on the applicant.
    ``elapsed`` excludes the working time of every pause.
    """
    local_instant(cal, start, "start")
    local_instant(cal, now, "now")
    due = local_instant(cal, due_at, "due_at")
    closed: list[tuple[datetime, datetime]] = []
    open_since: datetime | None = None
    for index, (begin, end) in enumerate(pauses):
        if end is None:
            if open_since is not None:
                raise ValueError(f"pauses[{index}] is a second open pause; at most one is open")
            open_since = begin
        else:
            closed.append((begin, end))
    if open_since is not None:
        local_instant(cal, open_since, "open pause start")
        resumed = max(open_since, now)
        due = extend_for_pause(
            cal, due, open_since, resumed, counted_from=start, allowance=allowance
        )
        closed.append((open_since, max(open_since, now)))

    clock = max(now, start)
    elapsed = cal.working_time_between(start, clock) - paused_working_time(
        cal, closed, within=(start, clock)
    )
    if clock <= due:
        remaining = cal.working_time_between(clock, due)
    else:
        remaining = -cal.working_time_between(due, clock)
    overdue = now > due
    budget = elapsed + remaining
    # A zero budget (counted from the very close of a day) is all used once overdue.
    fraction = elapsed / budget if budget > timedelta(0) else float(overdue)
    return DeadlineView(
        due_at=due,
        elapsed=elapsed,
        remaining=remaining,
        fraction_used=fraction,
        overdue=overdue,
    )
