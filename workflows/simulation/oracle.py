"""The test oracle: what the engine must conclude about a dossier's events, derived with
the deadline primitives of ``workflows.deadlines``, never the router, so the two can be
checked against each other (the demo's ground truth and the tests use it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import events as ev
from workflows import deadlines as dl
from workflows.calendar import WorkingCalendar
from workflows.catalog import Catalog, Procedure
from workflows.pauses import days_saved, due_with_pauses
from workflows.simulation.window import RunWindow
from workflows.state import Status


def _allowance(proc: Procedure, amount: Decimal) -> dl.TimeAllowance:
    return dl.allowance(amount, proc.time_unit)


@dataclass(frozen=True)
class OpenSpan:
    """A stretch in which the dossier's clock ran (status open) under one committed due."""

    begin: datetime
    end: datetime | None  # the event that paused, rescheduled or ended it; None: still open
    due: datetime


@dataclass(frozen=True)
class Expectation:
    """What the engine must conclude from a dossier's events, derived without the router.

    Computed from the catalog and the calendar with the deadline primitives of
    ``workflows.deadlines``, under the default routing policy (a second supplement
    request makes a dossier late; an apology moves the appointment, not the yardstick).
    """

    status: Status
    start_at: datetime
    committed_due_at: datetime
    original_due_at: datetime
    statutory_due_at: datetime
    completion: dl.Completion | None = None
    finished_at: datetime | None = None
    used_days: Decimal | None = None
    saved_days: Decimal | None = None
    spans: tuple[OpenSpan, ...] = ()

    def overdue_alerts(self, window: RunWindow) -> tuple[tuple[datetime, datetime], ...]:
        """(committed due, instant it is detected) of every dossier-scope ``overdue`` alert.

        The engine's clock shows ``window.start`` to ``window.end`` (and stops there);
        the backlog is loaded before it starts. An open span alerts when the clock
        passes its due before the span ends: at the latest of the span's begin, the
        start and the due.
        """
        out = []
        for span in self.spans:
            seen = max(span.begin, window.start, span.due)
            if seen <= window.end and (span.end is None or seen < span.end):
                out.append((span.due, seen))
        return tuple(out)

    def timing_margin(self, window: RunWindow) -> timedelta | None:
        """Simulated time between each span's end and the instant its due is detected.

        The smallest such gap is what the demo's real-time run must resolve: an event
        and a deadline that close may be seen in either order. ``None``: no such pair.
        """
        gaps = []
        for span in self.spans:
            if span.end is None or span.end < window.start:
                continue
            seen = max(span.begin, window.start, span.due)
            if seen <= window.end:
                gaps.append(abs(span.end - seen))
        return min(gaps, default=None)


def expect(
    catalog: Catalog, cal: WorkingCalendar, events: Sequence[ev.InboundEvent]
) -> Expectation:
    """The engine's expected conclusions about one dossier's ``events`` (in time order).

    The first event must be its ``dossier.received``; the procedure version is the
    one in force on the day of receipt.
    """
    if not events or not isinstance(events[0], ev.DossierReceived):
        raise ValueError("a dossier's events start with its dossier.received")
    received = events[0]
    proc = catalog.procedure(received.procedure, at=received.occurred_at.astimezone(cal.tz).date())
    if proc is None:
        raise ValueError(
            f"procedure {received.procedure} is not in force at {received.occurred_at}"
        )
    start = dl.counting_start(cal, received.occurred_at, proc.same_day_cutoff)
    committed_time = _allowance(proc, proc.committed_time)
    statutory_time = _allowance(proc, proc.statutory_time)
    committed = dl.due_instant(cal, start, committed_time)
    statutory = dl.due_instant(cal, start, statutory_time)
    original = committed
    status = Status.OPEN
    spans: list[OpenSpan] = []
    open_since: datetime | None = received.occurred_at
    paused_since: datetime | None = None
    pauses: list[tuple[datetime, datetime]] = []
    rescheduled_at: datetime | None = None
    completion: dl.Completion | None = None
    finished_at: datetime | None = None
    used_days: Decimal | None = None
    saved_days: Decimal | None = None

    def close_span(at: datetime) -> None:
        nonlocal open_since
        if open_since is not None:
            spans.append(OpenSpan(open_since, at, committed))
            open_since = None

    def resume(at: datetime) -> None:
        nonlocal committed, original, statutory, paused_since
        assert paused_since is not None
        begin, end = paused_since, max(at, paused_since)
        pauses.append((begin, end))
        # Re-derived from the counting start with every pause (docs/deadlines.md).
        original = due_with_pauses(cal, start, committed_time, pauses)
        statutory = due_with_pauses(cal, start, statutory_time, pauses)
        if rescheduled_at is None:
            committed = original
        else:
            since = min(max(begin, rescheduled_at), end)
            committed = dl.extend_for_pause(
                cal, committed, since, end, counted_from=start, allowance=committed_time
            )
        paused_since = None

    for event in events[1:]:
        at = event.occurred_at
        if status.closed:
            break
        match event:
            case ev.SupplementRequested() if status is Status.OPEN:
                close_span(at)
                paused_since, status = at, Status.PAUSED
            case ev.SupplementReceived() if status is Status.PAUSED:
                resume(at)
                status, open_since = Status.OPEN, at
            case ev.DossierRescheduled() if status in (Status.OPEN, Status.PAUSED):
                close_span(at)
                committed, rescheduled_at = event.new_due_at, at
                if status is Status.OPEN:
                    open_since = at
            case ev.ResultReady() if status in (Status.OPEN, Status.PAUSED):
                close_span(at)
                if status is Status.PAUSED:
                    resume(at)
                used, saved = days_saved(cal, start, at, statutory_time, pauses)
                completion = dl.classify(cal, at, original)
                if len(pauses) >= 2:
                    completion = dl.Completion.LATE
                finished_at, used_days = at, used
                saved_days = saved
                status = Status.RESULT_READY
            case ev.DossierReturned() if status is Status.RESULT_READY:
                status = Status.RETURNED
            case ev.DossierWithdrawn():
                close_span(at)
                status = Status.WITHDRAWN
            case ev.DossierRejected():
                close_span(at)
                status = Status.REJECTED
            case _:
                pass  # a step moves the dossier on; its own deadlines are not tracked here
    if open_since is not None:
        spans.append(OpenSpan(open_since, None, committed))
    return Expectation(
        status=status,
        start_at=start,
        committed_due_at=committed,
        original_due_at=original,
        statutory_due_at=statutory,
        completion=completion,
        finished_at=finished_at,
        used_days=used_days,
        saved_days=saved_days,
        spans=tuple(spans),
    )
