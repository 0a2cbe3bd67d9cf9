"""The routing state machine: ``apply(state, event, ctx) -> (state, effects)``.

Pure: no clock (every instant comes from the event), no I/O. It never raises
for a valid event; anything it will not apply comes back as a ``Rejected``
effect with the state unchanged, so the shell can dead-letter it and go on.
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
from workflows.calendar import WorkingCalendar
from workflows.catalog import Catalog, Procedure
from workflows.deadlines import (
    Completion,
    TimeAllowance,
    TimeUnit,
    allowance_working_days,
    classify,
    counting_start,
    due_instant,
    extend_for_pause,
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
from workflows.state import DossierState, Outcome, Pause, SheetRow, Status

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class RoutingPolicy:
    """Deployment choices where the rules leave room (see docs/deadlines.md)."""

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


Result = tuple[DossierState | None, list[Effect]]


def apply(state: DossierState | None, event: InboundEvent, ctx: RoutingContext) -> Result:
    """Apply one event to a dossier's state (``None`` = never seen).

    The event id is remembered even when the event is rejected, so a re-delivered
    event never emits anything twice.
    """
    fingerprint = event_fingerprint(event.event_id)
    if state is not None and fingerprint in state.applied:
        return state, []  # re-delivery: already applied, nothing happens twice
    new, effects = _dispatch(state, event, ctx)
    if new is not None:
        keep = ctx.policy.remembered_events - 1
        recent = new.applied[-keep:] if keep > 0 else ()
        new = new.model_copy(
            update={
                "applied": (*recent, fingerprint),
                "last_event_at": max(new.last_event_at, event.occurred_at),
            }
        )
    return new, effects


def event_fingerprint(event_id: str) -> str:
    """What a dossier remembers of an event id: 64 bits, 11 characters, whatever the id's size.

    A collision between two events of one dossier (the only place ids are compared)
    has odds around 2**-58 even at the remembered limit.
    """
    digest = hashlib.blake2b(event_id.encode("utf-8"), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _dispatch(state: DossierState | None, event: InboundEvent, ctx: RoutingContext) -> Result:
    if state is None:
        if isinstance(event, DossierReceived):
            return _received(event, ctx)
        return None, [_reject(event, ReasonKind.UNKNOWN_DOSSIER, "no dossier.received seen yet")]
    if state.status.closed:
        return state, [_reject(event, ReasonKind.DOSSIER_CLOSED, f"dossier is {state.status}")]
    proc = ctx.catalog.procedure(state.procedure, at=date.fromisoformat(state.procedure_version))
    if proc is None:  # the catalog lost a version a live dossier was received under
        return state, [
            _reject(event, ReasonKind.UNKNOWN_PROCEDURE, f"{state.procedure} is gone from catalog")
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
            return _rescheduled(state, event)
        case ResultReady():
            return _result_ready(state, event, proc, ctx)
        case DossierReturned():
            if state.status is not Status.RESULT_READY:
                return state, [
                    _reject(event, ReasonKind.ILLEGAL_TRANSITION, "returned before result_ready")
                ]
            return _close(state, event, Status.RETURNED)
        case DossierWithdrawn():
            return _close(state, event, Status.WITHDRAWN)
        case DossierRejected():
            return _close(state, event, Status.REJECTED)
    raise AssertionError(f"unhandled event type {event.type}")  # pragma: no cover


# --- intake --------------------------------------------------------------------------


def _received(event: DossierReceived, ctx: RoutingContext) -> Result:
    received_on = event.occurred_at.astimezone(ctx.calendar.tz).date()
    proc = ctx.catalog.procedure(event.procedure, at=received_on)
    if proc is None:
        return None, [
            _reject(
                event, ReasonKind.UNKNOWN_PROCEDURE, f"procedure {event.procedure!r} not in catalog"
            )
        ]
    cal = ctx.calendar
    start = counting_start(cal, event.occurred_at, proc.same_day_cutoff)
    committed = due_instant(cal, start, _allowance(proc, proc.committed_time))
    statutory = due_instant(cal, start, _allowance(proc, proc.statutory_time))
    first = proc.steps[0]
    step_due = _step_due(cal, start, proc, first.allotment)
    row = SheetRow(
        step=first.id,
        agency=first.agency,
        from_agency=event.agency if event.agency != first.agency else None,
        started_at=start,
        due_at=step_due,
        allotted_hours=_hours(cal, start, proc, first.allotment),
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
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, f"dossier is {state.status}")]
    if not _has_step(proc, event.step):
        return state, [_reject(event, ReasonKind.UNKNOWN_STEP, f"no step {event.step!r}")]
    if event.step != state.current_step:
        return state, [
            _reject(
                event,
                ReasonKind.ILLEGAL_TRANSITION,
                f"step {event.step!r} is not the current step {state.current_step!r}",
            )
        ]
    step = proc.step(event.step)
    try:
        next_id = step.next_step(event.outcome)
    except (KeyError, ValueError):
        return state, [
            _reject(
                event,
                ReasonKind.ILLEGAL_TRANSITION,
                f"step {event.step!r} has no outcome {event.outcome!r}",
            )
        ]
    sheet = _finish_row(state, event.occurred_at, ctx)
    if next_id is None:
        # Last step done: the dossier waits at the returning agency for result_ready.
        new = _advance(state, event, sheet, current_step=None, current_agency=state.current_agency)
        return new, [_arm(new)]
    nxt = proc.step(next_id)
    effects: list[Effect] = []
    agency, off_route = nxt.agency, False
    if event.to_agency is not None and event.to_agency != nxt.agency:
        agency, off_route = event.to_agency, True
        effects.append(
            Anomaly(
                state.dossier_id,
                ReasonKind.OFF_ROUTE,
                f"step {nxt.id!r} belongs to {nxt.agency!r}; handed to {agency!r}",
                event.event_id,
            )
        )
    row = _new_row(state, proc, nxt.id, agency, event.agency, event.occurred_at, off_route, ctx)
    new = _advance(
        state,
        event,
        (*sheet, row),
        current_step=nxt.id,
        current_agency=agency,
        anomalies=state.anomalies + off_route,
    )
    return new, [_assign(new, row, event.event_id), _arm(new), *effects]


def _handed_off(
    state: DossierState, event: DossierHandedOff, proc: Procedure, ctx: RoutingContext
) -> Result:
    if state.status is not Status.OPEN:
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, f"dossier is {state.status}")]
    if not _has_step(proc, event.step):
        return state, [_reject(event, ReasonKind.UNKNOWN_STEP, f"no step {event.step!r}")]
    step = proc.step(event.step)
    same_step = event.step == state.current_step
    if same_step and event.to_agency == state.current_agency:
        # The hand-off the route already made: just remember it was confirmed.
        return _advance(state, event, state.sheet), []
    on_route = event.to_agency == step.agency and (same_step or _is_next(proc, state, event.step))
    sheet = state.sheet if same_step else _finish_row(state, event.occurred_at, ctx)
    if same_step:
        # Same step, another agency: the clock of the step goes on where the dossier is.
        last = sheet[-1]
        row = last.model_copy(
            update={"agency": event.to_agency, "from_agency": last.agency, "off_route": True}
        )
        sheet = (*sheet[:-1], row)
    else:
        row = _new_row(
            state,
            proc,
            event.step,
            event.to_agency,
            event.from_agency or event.agency,
            event.occurred_at,
            not on_route,
            ctx,
        )
        sheet = (*sheet, row)
    new = _advance(
        state,
        event,
        sheet,
        current_step=event.step,
        current_agency=event.to_agency,
        anomalies=state.anomalies + (not on_route),
    )
    effects: list[Effect] = [_assign(new, row, event.event_id), _arm(new)]
    if not on_route:
        effects.append(
            Anomaly(
                state.dossier_id,
                ReasonKind.OFF_ROUTE,
                f"hand-off to {event.to_agency!r} for step {event.step!r} is off the route "
                f"(current {state.current_step!r} at {state.current_agency!r})",
                event.event_id,
            )
        )
    return new, effects


# --- the clock: pauses and reschedules -----------------------------------------------


def _supplement_requested(state: DossierState, event: SupplementRequested) -> Result:
    if state.status is not Status.OPEN:
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, f"dossier is {state.status}")]
    pause = Pause(requested_at=event.occurred_at)
    new = _advance(state, event, state.sheet, status=Status.PAUSED, pauses=(*state.pauses, pause))
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
    new = _advance(new, event, new.sheet, status=Status.OPEN)
    return new, [_arm(new)]


def _resume(state: DossierState, pause: Pause, at: datetime, ctx: RoutingContext) -> DossierState:
    """Close the open pause at ``at`` and move every open deadline by the paused working time."""
    cal = ctx.calendar
    at = max(at, pause.requested_at)
    paused = cal.working_time_between(pause.requested_at, at)
    closed = pause.model_copy(update={"received_at": at, "paused_hours": paused / HOUR})
    sheet = state.sheet
    row = state.current_row
    if row is not None:
        moved = row.model_copy(
            update={"due_at": extend_for_pause(cal, row.due_at, pause.requested_at, at)}
        )
        sheet = (*sheet[:-1], moved)
    return state.model_copy(
        update={
            "pauses": (*state.pauses[:-1], closed),
            "sheet": sheet,
            "committed_due_at": extend_for_pause(
                cal, state.committed_due_at, pause.requested_at, at
            ),
            "statutory_due_at": extend_for_pause(
                cal, state.statutory_due_at, pause.requested_at, at
            ),
            "original_due_at": extend_for_pause(cal, state.original_due_at, pause.requested_at, at),
            "deadline_version": state.deadline_version + 1,
        }
    )


def _rescheduled(state: DossierState, event: DossierRescheduled) -> Result:
    if state.rescheduled:
        return state, [
            _reject(
                event, ReasonKind.ILLEGAL_TRANSITION, "the dossier was already rescheduled once"
            )
        ]
    if state.status not in (Status.OPEN, Status.PAUSED):
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, f"dossier is {state.status}")]
    if event.new_due_at <= event.occurred_at:
        return state, [
            _reject(event, ReasonKind.ILLEGAL_TRANSITION, "new_due_at is not after occurred_at")
        ]
    new = _advance(
        state,
        event,
        state.sheet,
        committed_due_at=event.new_due_at,
        rescheduled=True,
        deadline_version=state.deadline_version + 1,
    )
    return new, ([_arm(new)] if new.status is Status.OPEN else [])


# --- the end -------------------------------------------------------------------------


def _result_ready(
    state: DossierState, event: ResultReady, proc: Procedure, ctx: RoutingContext
) -> Result:
    if state.status not in (Status.OPEN, Status.PAUSED):
        return state, [_reject(event, ReasonKind.ILLEGAL_TRANSITION, f"dossier is {state.status}")]
    cal = ctx.calendar
    at = event.occurred_at
    if (pause := state.open_pause) is not None:
        state = _resume(state, pause, at, ctx)  # refused while waiting: the pause ends here
    sheet = _finish_row(state, at, ctx)
    pauses = [(p.requested_at, p.received_at) for p in state.pauses if p.received_at is not None]
    used_days = float(working_days_used(cal, state.start_at, at, pauses))
    # An apology moves the appointment but, by default, not the yardstick.
    yardstick = (
        state.original_due_at if ctx.policy.rescheduled_counts_late else state.committed_due_at
    )
    completion = classify(cal, at, yardstick)
    if ctx.policy.second_supplement_counts_late and len(state.pauses) >= 2:
        completion = Completion.LATE
    statutory = allowance_working_days(cal, state.start_at, _allowance(proc, proc.statutory_time))
    saved = float(statutory) - used_days
    outcome = Outcome(
        decision=event.outcome.value,
        finished_at=at,
        completion=completion,
        used_days=round(used_days, 4),
        saved_days=round(saved, 4),
    )
    new = _advance(
        state,
        event,
        sheet,
        status=Status.RESULT_READY,
        current_step=None,
        outcome=outcome,
    )
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


def _close(state: DossierState, event: InboundEvent, status: Status) -> Result:
    at = event.occurred_at
    sheet = state.sheet
    if status is not Status.RETURNED and state.current_row is not None:
        last = sheet[-1]
        sheet = (*sheet[:-1], last.model_copy(update={"finished_at": at}))
    new = _advance(state, event, sheet, status=status, closed_at=at, current_step=None)
    effects: list[Effect] = []
    if state.status in (Status.OPEN, Status.PAUSED):
        effects.append(DisarmDeadlines(state.dossier_id, status.value))
    effects.append(Closed(state.dossier_id, status.value))
    return new, effects


# --- helpers -------------------------------------------------------------------------


def _reject(event: InboundEvent, kind: ReasonKind, message: str) -> Rejected:
    return Rejected(event.dossier_id, kind, f"{event.type}: {message}", event.event_id)


def _has_step(proc: Procedure, step_id: str) -> bool:
    return any(s.id == step_id for s in proc.steps)


def _is_next(proc: Procedure, state: DossierState, step_id: str) -> bool:
    """Is ``step_id`` a step the route can reach directly from the current one?"""
    if state.current_step is None:
        return False
    current = proc.step(state.current_step)
    return step_id in current.targets()


def _allowance(proc: Procedure, amount: Decimal) -> TimeAllowance:
    return TimeAllowance(amount=amount, unit=TimeUnit(proc.time_unit))


def _hours(cal: WorkingCalendar, start: datetime, proc: Procedure, amount: Decimal) -> float:
    """An allotment in working hours (calendar-day allotments depend on where they start)."""
    return float(allowance_working_days(cal, start, _allowance(proc, amount))) * 8


def _step_due(
    cal: WorkingCalendar, start: datetime, proc: Procedure, allotment: Decimal
) -> datetime:
    return due_instant(cal, start, _allowance(proc, allotment))


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
    step = proc.step(step_id)
    start = ctx.calendar.next_opening(at)
    return SheetRow(
        step=step_id,
        agency=agency,
        from_agency=from_agency,
        started_at=at,
        due_at=_step_due(ctx.calendar, start, proc, step.allotment),
        allotted_hours=_hours(ctx.calendar, start, proc, step.allotment),
        off_route=off_route,
    )


def _finish_row(state: DossierState, at: datetime, ctx: RoutingContext) -> tuple[SheetRow, ...]:
    row = state.current_row
    if row is None:
        return state.sheet
    cal = ctx.calendar
    paused = sum(
        (
            cal.working_time_between(max(p.requested_at, row.started_at), p.received_at)
            for p in state.pauses
            if p.received_at is not None and p.received_at > row.started_at
        ),
        timedelta(0),
    )
    used = max(cal.working_time_between(row.started_at, at) - paused, timedelta(0))
    finished = row.model_copy(
        update={
            "finished_at": at,
            "used_hours": round(used / HOUR, 4),
            "result": classify(cal, at, row.due_at),
        }
    )
    return (*state.sheet[:-1], finished)


def _advance(
    state: DossierState,
    event: InboundEvent,
    sheet: Sequence[SheetRow],
    **changes: object,
) -> DossierState:
    return state.model_copy(update={**changes, "sheet": tuple(sheet)})


def _assign(state: DossierState, row: SheetRow, cause: str) -> Assign:
    return Assign(
        dossier_id=state.dossier_id,
        procedure=state.procedure,
        step=row.step,
        agency=row.agency,
        from_agency=row.from_agency,
        assigned_at=row.started_at,
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
        step_started_at=row.started_at if row else None,
        step_due_at=row.due_at if row else None,
        dossier_due_at=state.committed_due_at,
        statutory_due_at=state.statutory_due_at,
    )
