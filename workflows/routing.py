"""The routing state machine: ``apply(state, event, ctx) -> (state, effects)``.

Pure: no clock (every instant comes from the event), no I/O. It never raises
for a valid event; anything it will not apply comes back as a ``Rejected``
effect with the domain state unchanged, so the shell can dead-letter it and go
on. The rules, and the conventions where the law leaves room, are in
docs/routing.md.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from events import (
    DossierHandedOff,
    DossierReceived,
    DossierRejected,
    DossierRescheduled,
    DossierReturned,
    DossierWithdrawn,
    InboundEvent,
    ReasonKind,
    ResultReady,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
)
from workflows.calendar import WORKING_DAY, CalendarRangeError, WorkingCalendar
from workflows.catalog import Catalog, Procedure, UnknownOutcomeError
from workflows.deadlines import (
    DAYS_QUANTUM,
    Completion,
    TimeAllowance,
    TimeUnit,
    classify,
    counting_start,
    due_instant,
    extend_for_pause,
    paused_working_time,
    working_days_used,
)
from workflows.effects import (
    Anomaly,
    ArmDeadlines,
    Assign,
    Closed,
    Completed,
    DisarmDeadlines,
    Effect,
    Rejected,
)
from workflows.limits import StateLimits, state_problem
from workflows.state import DossierState, Outcome, Pause, SheetRow, Status

__all__ = ["Result", "RoutingContext", "RoutingPolicy", "apply", "event_fingerprint"]

HOUR = timedelta(hours=1)
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class RoutingPolicy:
    """Deployment choices where the rules leave room (see docs/routing.md)."""

    #: Decision 766 counts a dossier that needed a second supplement request as late.
    second_supplement_counts_late: bool = True
    #: Judge a rescheduled dossier against its first appointment (True) or the new one.
    rescheduled_counts_late: bool = True
    #: How many recent event ids a dossier remembers for dedupe (a dossier rarely
    #: sees more than 20 events; re-delivery only repeats recent ones).
    remembered_events: int = 48


@dataclass(frozen=True)
class RoutingContext:
    catalog: Catalog
    calendar: WorkingCalendar
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    limits: StateLimits = field(default_factory=StateLimits)


Result = tuple[DossierState | None, list[Effect]]


def apply(state: DossierState | None, event: InboundEvent, ctx: RoutingContext) -> Result:
    """Apply one event to a dossier's state (``None`` = never seen).

    A re-delivered event (its id is remembered) returns the same state and no
    effects. A refused event returns one ``Rejected`` effect and the state with
    only the event id added to the remembered ones, so a re-delivery is not
    applied later by accident and is not dead-lettered twice. Raises
    ``ValueError`` only when ``state`` belongs to another dossier: a caller's bug.
    """
    if state is not None and event.dossier_id != state.dossier_id:
        raise ValueError(
            f"event {event.event_id} is for dossier {event.dossier_id!r}, "
            f"not {state.dossier_id!r}: the shell must key states by dossier_id"
        )
    fingerprint = event_fingerprint(event.event_id)
    if state is not None and fingerprint in state.applied:
        return state, []  # re-delivery: already applied, nothing happens twice
    try:
        new, effects = _dispatch(state, event, ctx)
    except CalendarRangeError as exc:
        # An instant the working calendar cannot place (before 1976, after 2100).
        new, effects = state, [_reject(event, ReasonKind.SCHEMA_ERROR, str(exc))]
    if new is None:
        return None, effects
    remembered = _remember(new, event, fingerprint, effects, ctx)
    if _grew(state, new) and not _refused(effects):
        # Judged as it would be stored, the event's fingerprint included.
        problem = state_problem(remembered, ctx.limits)
        if problem is not None:
            effects = [_reject(event, ReasonKind.LIMIT_EXCEEDED, problem)]
            if state is None:
                return None, effects
            remembered = _remember(state, event, fingerprint, effects, ctx)
    return remembered, effects


def _remember(
    new: DossierState,
    event: InboundEvent,
    fingerprint: str,
    effects: Sequence[Effect],
    ctx: RoutingContext,
) -> DossierState:
    """``new`` with the event's fingerprint remembered (and its instant, if applied)."""
    keep = ctx.policy.remembered_events - 1
    update: dict[str, object] = {
        "applied": (*(new.applied[-keep:] if keep > 0 else ()), fingerprint)
    }
    if not _refused(effects):
        update["last_event_at"] = max(new.last_event_at, event.occurred_at)
    return new.model_copy(update=update)


def _grew(state: DossierState | None, new: DossierState) -> bool:
    """Did the event add to what the state holds (a sheet row, a pause)? Only those are
    checked against ``ctx.limits``: an event that finishes a dossier is never refused."""
    if state is None:
        return True
    return len(new.sheet) > len(state.sheet) or len(new.pauses) > len(state.pauses)


def _refused(effects: Sequence[Effect]) -> bool:
    return any(isinstance(effect, Rejected) for effect in effects)


def event_fingerprint(event_id: str) -> str:
    """What a dossier remembers of an event id: 64 bits, 11 characters, whatever the id's size.

    A collision between two events of one dossier (the only place ids are compared)
    has odds around 2**-58 even at the remembered limit.
    """
    digest = hashlib.blake2b(event_id.encode("utf-8"), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _dispatch(state: DossierState | None, event: InboundEvent, ctx: RoutingContext) -> Result:
    # Placing the instant first turns one out of the calendar's range into a rejection
    # before anything is stored, so no later event can trip over it.
    ctx.calendar.is_working_instant(event.occurred_at)
    if state is None:
        if isinstance(event, DossierReceived):
            return _received(event, ctx)
        return None, [_reject(event, ReasonKind.UNKNOWN_DOSSIER, "no dossier.received seen yet")]
    if state.status.closed:
        return state, [_reject(event, ReasonKind.DOSSIER_CLOSED, f"dossier is {state.status}")]
    proc = ctx.catalog.procedure(state.procedure, at=date.fromisoformat(state.procedure_version))
    if proc is None:  # the catalog lost a version a live dossier was received under
        return state, [
            _reject(
                event,
                ReasonKind.UNKNOWN_PROCEDURE,
                f"procedure {state.procedure} version {state.procedure_version} is gone "
                "from the catalog; restore it to go on with this dossier",
            )
        ]
    match event:
        case DossierReceived():
            return state, [
                _reject(event, ReasonKind.ILLEGAL_TRANSITION, "dossier already received")
            ]
        case StepCompleted():
            return _step_completed(state, event, proc, ctx)
        case DossierHandedOff():
            return _handed_off(state, event, proc, ctx)
        case SupplementRequested():
            return _supplement_requested(state, event)
        case SupplementReceived():
            return _supplement_received(state, event, ctx)
        case DossierRescheduled():
            return _rescheduled(state, event, ctx)
        case ResultReady():
            return _result_ready(state, event, proc, ctx)
        case DossierReturned():
            if state.status is not Status.RESULT_READY:
                return state, [
                    _reject(
                        event,
                        ReasonKind.ILLEGAL_TRANSITION,
                        f"dossier is {state.status}; returned needs result_ready first",
                    )
                ]
            return _close(state, event, Status.RETURNED, ctx)
        case DossierWithdrawn():
            return _close(state, event, Status.WITHDRAWN, ctx)
        case DossierRejected():
            return _close(state, event, Status.REJECTED, ctx)
    raise AssertionError(f"unhandled event type {event.type}")  # pragma: no cover


# --- intake --------------------------------------------------------------------------


def _received(event: DossierReceived, ctx: RoutingContext) -> Result:
    cal = ctx.calendar
    received_on = event.occurred_at.astimezone(cal.tz).date()
    proc = ctx.catalog.procedure(event.procedure, at=received_on)
    if proc is None:
        why = (
            f"procedure {event.procedure!r} has no version in force on {received_on}"
            if event.procedure in ctx.catalog
            else f"procedure {event.procedure!r} is not in the catalog"
        )
        return None, [_reject(event, ReasonKind.UNKNOWN_PROCEDURE, why)]
    start = counting_start(cal, event.occurred_at, proc.same_day_cutoff)
    committed = due_instant(cal, start, _allowance(proc, proc.committed_time))
    statutory = due_instant(cal, start, _allowance(proc, proc.statutory_time))
    first = proc.entry
    step_due = due_instant(cal, start, _allowance(proc, first.allotment))
    row = SheetRow(
        step=first.id,
        agency=first.agency,
        from_agency=event.agency if event.agency != first.agency else None,
        started_at=event.occurred_at,
        due_at=step_due,
        allotted_hours=_hours(cal, start, step_due),
    )
    state = DossierState(
        dossier_id=event.dossier_id,
        procedure=proc.code,
        procedure_version=proc.effective_from.isoformat(),
        sector=proc.sector,
        channel=event.channel.value,
        status=Status.OPEN,
        received_at=event.occurred_at,
        start_at=start,
        committed_due_at=committed,
        statutory_due_at=statutory,
        original_due_at=committed,
        current_step=first.id,
        current_agency=first.agency,
        sheet=(row,),
        last_event_at=event.occurred_at,
    )
    return state, [_assign(state, row, event.event_id), _arm(state)]


# --- routing -------------------------------------------------------------------------


def _step_completed(
    state: DossierState, event: StepCompleted, proc: Procedure, ctx: RoutingContext
) -> Result:
    if state.status is not Status.OPEN:
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, _not_open(state))]
    if not _has_step(proc, event.step):
        return state, [_reject(event, ReasonKind.UNKNOWN_STEP, _no_step(proc, event.step))]
    if event.step != state.current_step:
        where = (
            f"the current step is {state.current_step!r}"
            if state.current_step is not None
            else "the route is finished; the dossier waits for result_ready"
        )
        return state, [
            _reject(
                event,
                ReasonKind.ILLEGAL_TRANSITION,
                f"step {event.step!r} is not the current step: {where}",
            )
        ]
    try:
        next_id = proc.step(event.step).next_step(event.outcome)
    except UnknownOutcomeError as exc:
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, str(exc))]
    at = event.occurred_at
    sheet = _finish_row(state, at, ctx)
    if next_id is None:
        # Last step done: the dossier waits at the agency of that step for result_ready,
        # the dossier's own deadlines still armed.
        new = _advance(state, sheet, current_step=None)
        return new, [_arm(new)]
    nxt = proc.step(next_id)
    agency, off_route = nxt.agency, False
    if event.to_agency is not None and event.to_agency != nxt.agency:
        agency, off_route = event.to_agency, True
    row = _new_row(state, proc, nxt.id, agency, event.agency, at, off_route, ctx)
    new = _advance(
        state,
        (*sheet, row),
        current_step=nxt.id,
        current_agency=agency,
        anomalies=state.anomalies + off_route,
        deadline_version=state.deadline_version + _revisits(state, nxt.id),
    )
    effects: list[Effect] = [_assign(new, row, event.event_id), _arm(new)]
    if off_route:
        effects.append(
            Anomaly(
                state.dossier_id,
                ReasonKind.OFF_ROUTE,
                f"step {nxt.id!r} belongs to {nxt.agency!r}; handed to {agency!r}",
                event.event_id,
            )
        )
    return new, effects


def _handed_off(
    state: DossierState, event: DossierHandedOff, proc: Procedure, ctx: RoutingContext
) -> Result:
    if state.status is not Status.OPEN:
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, _not_open(state))]
    if not _has_step(proc, event.step):
        return state, [_reject(event, ReasonKind.UNKNOWN_STEP, _no_step(proc, event.step))]
    step = proc.step(event.step)
    same_step = event.step == state.current_step
    if same_step and event.to_agency == state.current_agency:
        # The hand-off the route already made (usually by step.completed): a confirmation.
        return state, []
    on_route = event.to_agency == step.agency and (same_step or _is_next(proc, state, step.id))
    at = event.occurred_at
    last = state.current_row
    if same_step and last is not None:
        # Same step, another agency: the step's clock goes on where the dossier now is.
        row = last.model_copy(
            update={
                "agency": event.to_agency,
                "from_agency": last.agency,
                "off_route": not on_route,
            }
        )
        sheet: tuple[SheetRow, ...] = (*state.sheet[:-1], row)
        revisits = 0
    else:
        from_agency = event.from_agency or event.agency
        row = _new_row(state, proc, step.id, event.to_agency, from_agency, at, not on_route, ctx)
        sheet = (*_finish_row(state, at, ctx), row)
        revisits = _revisits(state, step.id)
    new = _advance(
        state,
        sheet,
        current_step=step.id,
        current_agency=event.to_agency,
        anomalies=state.anomalies + (not on_route),
        deadline_version=state.deadline_version + revisits,
    )
    # Assigned now, even when the step (and its clock) began with another agency.
    effects: list[Effect] = [_assign(new, row, event.event_id, assigned_at=at), _arm(new)]
    if not on_route:
        effects.append(
            Anomaly(
                state.dossier_id,
                ReasonKind.OFF_ROUTE,
                f"hand-off to {event.to_agency!r} for step {step.id!r} is off the route "
                f"(the dossier was at step {state.current_step!r} with "
                f"{state.current_agency!r}; step {step.id!r} belongs to {step.agency!r})",
                event.event_id,
            )
        )
    return new, effects


# --- the clock: pauses and reschedules -----------------------------------------------


def _supplement_requested(state: DossierState, event: SupplementRequested) -> Result:
    if state.status is not Status.OPEN:
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, _not_open(state))]
    pause = Pause(requested_at=event.occurred_at)
    new = _advance(state, state.sheet, status=Status.PAUSED, pauses=(*state.pauses, pause))
    return new, [DisarmDeadlines(state.dossier_id, "paused for supplement")]


def _supplement_received(
    state: DossierState, event: SupplementReceived, ctx: RoutingContext
) -> Result:
    pause = state.open_pause
    if state.status is not Status.PAUSED or pause is None:
        return state, [
            _reject(event, ReasonKind.ILLEGAL_TRANSITION, "no supplement request is open")
        ]
    new = _resume(state, pause, event.occurred_at, ctx)
    new = _advance(new, new.sheet, status=Status.OPEN)
    return new, [_arm(new)]


def _resume(state: DossierState, pause: Pause, at: datetime, ctx: RoutingContext) -> DossierState:
    """Close the open pause at ``at``; every open deadline moves by the paused working time."""
    cal = ctx.calendar
    begin = pause.requested_at
    end = max(at, begin)

    def extend(due: datetime, since: datetime = begin) -> datetime:
        return extend_for_pause(cal, due, min(since, end), end)

    paused = cal.working_time_between(begin, end)
    closed = pause.model_copy(update={"received_at": end, "paused_hours": round(paused / HOUR, 4)})
    sheet = state.sheet
    row = state.current_row
    if row is not None:
        sheet = (*sheet[:-1], row.model_copy(update={"due_at": extend(row.due_at)}))
    # A new appointment given during the pause already knew of the pause so far.
    committed_since = max(begin, state.rescheduled_at or begin)
    return state.model_copy(
        update={
            "pauses": (*state.pauses[:-1], closed),
            "sheet": sheet,
            "committed_due_at": extend(state.committed_due_at, committed_since),
            "statutory_due_at": extend(state.statutory_due_at),
            "original_due_at": extend(state.original_due_at),
            "deadline_version": state.deadline_version + 1,
        }
    )


def _rescheduled(state: DossierState, event: DossierRescheduled, ctx: RoutingContext) -> Result:
    if state.status not in (Status.OPEN, Status.PAUSED):
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, _not_open(state))]
    if state.rescheduled_at is not None:
        return state, [
            _reject(
                event,
                ReasonKind.ILLEGAL_TRANSITION,
                "the dossier was already rescheduled once, on "
                f"{state.rescheduled_at.astimezone(ctx.calendar.tz).isoformat()}; "
                "an apology sets one new due date",
            )
        ]
    new_due = event.new_due_at
    if new_due <= event.occurred_at or new_due <= state.committed_due_at:
        due = state.committed_due_at.astimezone(ctx.calendar.tz).isoformat()
        return state, [
            _reject(
                event,
                ReasonKind.ILLEGAL_TRANSITION,
                f"new_due_at {new_due.isoformat()} must be after the event and after the "
                f"current due instant {due}: an apology moves the appointment later",
            )
        ]
    ctx.calendar.is_working_instant(new_due)  # out of the calendar's range: rejected
    new = _advance(
        state,
        state.sheet,
        committed_due_at=new_due,
        rescheduled_at=event.occurred_at,
        deadline_version=state.deadline_version + 1,
    )
    # While paused nothing is armed; supplement_received arms the new due instant.
    return new, ([_arm(new)] if new.status is Status.OPEN else [])


# --- the end -------------------------------------------------------------------------


def _result_ready(
    state: DossierState, event: ResultReady, proc: Procedure, ctx: RoutingContext
) -> Result:
    if state.status not in (Status.OPEN, Status.PAUSED):
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, _not_open(state))]
    cal = ctx.calendar
    at = event.occurred_at
    if (pause := state.open_pause) is not None:
        state = _resume(state, pause, at, ctx)  # refused while waiting: the pause ends here
    sheet = _finish_row(state, at, ctx)
    pauses = [(p.requested_at, p.received_at) for p in state.pauses if p.received_at is not None]
    used = working_days_used(cal, state.start_at, at, pauses)
    # An apology moves the appointment but, by default, not the yardstick.
    yardstick = (
        state.original_due_at if ctx.policy.rescheduled_counts_late else state.committed_due_at
    )
    completion = classify(cal, at, yardstick)
    if ctx.policy.second_supplement_counts_late and len(state.pauses) >= 2:
        completion = Completion.LATE
    # The statutory time as working time from the counting start, unextended by pauses:
    # a fixed figure for working units, the span to the due day for calendar days and
    # the rest of the day for a same-day procedure.
    statutory_due = due_instant(cal, state.start_at, _allowance(proc, proc.statutory_time))
    statutory = _days(cal.working_time_between(state.start_at, statutory_due))
    outcome = Outcome(
        decision=event.outcome.value,
        finished_at=at,
        completion=completion,
        used_days=round(float(used), 4),
        saved_days=round(float(statutory - used), 4),
    )
    new = _advance(state, sheet, status=Status.RESULT_READY, current_step=None, outcome=outcome)
    return new, [
        DisarmDeadlines(state.dossier_id, "result ready"),
        Completed(
            state.dossier_id,
            state.procedure,
            state.sector,
            completion.value,
            outcome.used_days,
            outcome.saved_days,
        ),
    ]


def _close(state: DossierState, event: InboundEvent, status: Status, ctx: RoutingContext) -> Result:
    at = event.occurred_at
    # Withdrawn or stopped mid-step: the row records the time used, but no result.
    sheet = _finish_row(state, at, ctx, judge=False)
    new = _advance(state, sheet, status=status, closed_at=at, current_step=None)
    effects: list[Effect] = []
    if state.status in (Status.OPEN, Status.PAUSED):
        effects.append(DisarmDeadlines(state.dossier_id, status.value))
    effects.append(Closed(state.dossier_id, status.value))
    return new, effects


# --- helpers -------------------------------------------------------------------------


def _reject(event: InboundEvent, kind: ReasonKind, message: str) -> Rejected:
    return Rejected(event.dossier_id, kind, f"{event.type}: {message}", event.event_id)


def _not_open(state: DossierState) -> str:
    if state.status is Status.PAUSED:
        return "dossier is paused for a supplement (the clock is stopped)"
    return f"dossier is {state.status}"


def _no_step(proc: Procedure, step_id: str) -> str:
    known = ", ".join(s.id for s in proc.steps)
    return f"procedure {proc.code} has no step {step_id!r} (steps: {known})"


def _has_step(proc: Procedure, step_id: str) -> bool:
    return any(s.id == step_id for s in proc.steps)


def _is_next(proc: Procedure, state: DossierState, step_id: str) -> bool:
    """Is ``step_id`` a step the route can reach directly from the current one?"""
    if state.current_step is None:
        return False
    return step_id in proc.step(state.current_step).targets()


def _revisits(state: DossierState, step_id: str) -> int:
    """1 when the dossier comes back to a step it has been at: its alerts need new ids."""
    return int(any(row.step == step_id for row in state.sheet))


def _allowance(proc: Procedure, amount: Decimal) -> TimeAllowance:
    return TimeAllowance(amount=amount, unit=TimeUnit(proc.time_unit))


def _hours(cal: WorkingCalendar, clock: datetime, due: datetime) -> float:
    """Working hours from a step's clock start to its due instant."""
    return cal.working_time_between(clock, due) / HOUR


def _days(worked: timedelta) -> Decimal:
    """Working time in working days, rounded as ``workflows.deadlines`` rounds them."""
    return (Decimal(worked // _US) / Decimal(WORKING_DAY // _US)).quantize(DAYS_QUANTUM)


def _new_row(
    state: DossierState,
    proc: Procedure,
    step_id: str,
    agency: str,
    from_agency: str | None,
    at: datetime,
    off_route: bool,
    ctx: RoutingContext,
) -> SheetRow:
    cal = ctx.calendar
    # A step's clock never starts before the dossier's (same-day cut-off): see clock_start.
    clock = cal.next_opening(max(at, state.start_at))
    due = due_instant(cal, clock, _allowance(proc, proc.step(step_id).allotment))
    return SheetRow(
        step=step_id,
        agency=agency,
        from_agency=from_agency,
        started_at=at,
        due_at=due,
        allotted_hours=_hours(cal, clock, due),
        off_route=off_route,
    )


def _finish_row(
    state: DossierState, at: datetime, ctx: RoutingContext, *, judge: bool = True
) -> tuple[SheetRow, ...]:
    row = state.current_row
    if row is None:
        return state.sheet
    cal = ctx.calendar
    clock = state.clock_start(row)
    pauses = [(p.requested_at, p.received_at) for p in state.pauses if p.received_at is not None]
    used = cal.working_time_between(clock, at) - paused_working_time(
        cal, pauses, within=(clock, max(clock, at))
    )
    finished = row.model_copy(
        update={
            "finished_at": at,
            "used_hours": round(max(used, timedelta(0)) / HOUR, 4),
            "result": classify(cal, at, row.due_at) if judge else None,
        }
    )
    return (*state.sheet[:-1], finished)


def _advance(state: DossierState, sheet: Sequence[SheetRow], **changes: object) -> DossierState:
    return state.model_copy(update={**changes, "sheet": tuple(sheet)})


def _assign(
    state: DossierState, row: SheetRow, cause: str, assigned_at: datetime | None = None
) -> Assign:
    return Assign(
        dossier_id=state.dossier_id,
        procedure=state.procedure,
        step=row.step,
        agency=row.agency,
        from_agency=row.from_agency,
        assigned_at=row.started_at if assigned_at is None else assigned_at,
        step_due_at=row.due_at,
        dossier_due_at=state.committed_due_at,
        statutory_due_at=state.statutory_due_at,
        cause_event_id=cause,
        off_route=row.off_route,
    )


def _arm(state: DossierState) -> ArmDeadlines:
    row = state.current_row
    return ArmDeadlines(
        dossier_id=state.dossier_id,
        deadline_version=state.deadline_version,
        step=row.step if row else None,
        agency=row.agency if row else state.current_agency,
        step_started_at=state.clock_start(row) if row else None,
        step_due_at=row.due_at if row else None,
        dossier_due_at=state.committed_due_at,
        statutory_due_at=state.statutory_due_at,
    )
