"""The routing rules, one function per event type: intake, step start, completion and
hand-offs, the clock's pauses and reschedules, the result and the close."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import events as ev
from workflows.catalog import Procedure, UnknownOutcomeError
from workflows.deadlines import (
    Completion,
    classify,
    counting_start,
    due_instant,
    extend_for_pause,
)
from workflows.effects import (
    Anomaly,
    Closed,
    Completed,
    DisarmDeadlines,
    Effect,
)
from workflows.pauses import days_saved, due_with_pauses
from workflows.reads import lookup_digest
from workflows.routing.sheet import (
    HOUR,
    advance,
    allowance_for,
    arm,
    assign,
    due_and_hours,
    finish_row,
    has_step,
    is_next,
    new_row,
    no_step,
    not_open,
    reject,
    revisits,
)
from workflows.state import DossierState, Pause, ProcessingResult, SheetRow, Status

if TYPE_CHECKING:
    from workflows.routing.core import Result, RoutingContext


# The rows, pauses, outcomes and states below are built with ``trusted``: every value
# comes from a validated event, the catalog or the calendar (see workflows/state.py).


def received(event: ev.DossierReceived, ctx: RoutingContext) -> Result:
    cal = ctx.calendar
    received_on = event.occurred_at.astimezone(cal.tz).date()
    proc = ctx.catalog.procedure(event.procedure, at=received_on)
    if proc is None:
        why = (
            f"procedure {event.procedure!r} has no version in force on {received_on}"
            if event.procedure in ctx.catalog
            else f"procedure {event.procedure!r} is not in the catalog"
        )
        return None, [reject(event, ev.ReasonKind.UNKNOWN_PROCEDURE, why)]
    start = counting_start(cal, event.occurred_at, proc.same_day_cutoff)
    committed = due_instant(cal, start, allowance_for(proc, proc.committed_time))
    statutory = due_instant(cal, start, allowance_for(proc, proc.statutory_time))
    first = proc.entry
    step_due, allotted = due_and_hours(cal, start, allowance_for(proc, first.allotment))
    row = SheetRow.trusted(
        step=first.id,
        agency=first.agency,
        from_agency=event.agency if event.agency != first.agency else None,
        started_at=event.occurred_at,
        due_at=step_due,
        allotted_hours=allotted,
    )
    state = DossierState.trusted(
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
        lookup_hash=(
            lookup_digest(event.dossier_id, event.lookup_code) if event.lookup_code else None
        ),
    )
    if not ctx.build_effects:
        return state, []
    return state, [assign(state, row, event.event_id), arm(state)]


# --- routing -------------------------------------------------------------------------


def _refuse_off_step(
    state: DossierState,
    event: ev.StepCompleted | ev.StepStarted | ev.DossierHandedOff,
    proc: Procedure,
) -> Result | None:
    """The refusal of a step event on a dossier that is not open or names no step of ``proc``."""
    if state.status is not Status.OPEN:
        return state, [reject(event, ev.ReasonKind.ILLEGAL_TRANSITION, not_open(state))]
    if not has_step(proc, event.step):
        return state, [reject(event, ev.ReasonKind.UNKNOWN_STEP, no_step(proc, event.step))]
    return None


def step_completed(
    state: DossierState, event: ev.StepCompleted, proc: Procedure, ctx: RoutingContext
) -> Result:
    if (refused := _refuse_off_step(state, event, proc)) is not None:
        return refused
    if event.step != state.current_step:
        return state, [
            reject(
                event,
                ev.ReasonKind.ILLEGAL_TRANSITION,
                f"step {event.step!r} is not the current step: {_where(state)}",
            )
        ]
    try:
        next_id = proc.step(event.step).next_step(event.outcome)
    except UnknownOutcomeError as exc:
        return state, [reject(event, ev.ReasonKind.ILLEGAL_TRANSITION, str(exc))]
    at = event.occurred_at
    sheet = finish_row(state, at, ctx)
    if next_id is None:
        # Last step done: the dossier waits at the agency of that step for result_ready,
        # the dossier's own deadlines still armed.
        new = advance(state, sheet, current_step=None)
        return new, [arm(new)] if ctx.build_effects else []
    nxt = proc.step(next_id)
    agency, off_route = nxt.agency, False
    if event.to_agency is not None and event.to_agency != nxt.agency:
        agency, off_route = event.to_agency, True
    row = new_row(state, proc, nxt, agency, event.agency, at, off_route, ctx)
    new = advance(
        state,
        (*sheet, row),
        current_step=nxt.id,
        current_agency=agency,
        anomalies=state.anomalies + off_route,
        deadline_version=state.deadline_version + revisits(state, nxt.id),
    )
    if not ctx.build_effects:
        return new, []
    effects: list[Effect] = [assign(new, row, event.event_id), arm(new)]
    if off_route:
        effects.append(
            Anomaly(
                state.dossier_id,
                ev.ReasonKind.OFF_ROUTE,
                f"step {nxt.id!r} belongs to {nxt.agency!r}; handed to {agency!r}",
                event.event_id,
            )
        )
    return new, effects


def step_started(state: DossierState, event: ev.StepStarted, proc: Procedure) -> Result:
    """The holder took the current step up: the instant goes on its open row, once a visit."""
    if (refused := _refuse_off_step(state, event, proc)) is not None:
        return refused
    row = state.current_row
    if event.step != state.current_step or row is None:
        return state, [
            reject(
                event,
                ev.ReasonKind.ILLEGAL_TRANSITION,
                f"step {event.step!r} is not the current step: {_where(state)}",
            )
        ]
    if row.taken_up_at is not None:
        # Already taken up on this visit: a second report (another officer, a retry with a
        # new id) changes nothing, so the inbox wait is the first one's.
        return state, []
    taken = row.model_copy(update={"taken_up_at": event.occurred_at})
    return advance(state, (*state.sheet[:-1], taken)), []


def _where(state: DossierState) -> str:
    if state.current_step is not None:
        return f"the current step is {state.current_step!r}"
    return "the route is finished; the dossier waits for result_ready"


def handed_off(
    state: DossierState, event: ev.DossierHandedOff, proc: Procedure, ctx: RoutingContext
) -> Result:
    if (refused := _refuse_off_step(state, event, proc)) is not None:
        return refused
    step = proc.step(event.step)
    same_step = event.step == state.current_step
    if same_step and event.to_agency == state.current_agency:
        # The hand-off the route already made (usually by step.completed): a confirmation.
        return state, []
    on_route = event.to_agency == step.agency and (same_step or is_next(proc, state, step.id))
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
        revisited = 0
    else:
        from_agency = event.from_agency or event.agency
        row = new_row(state, proc, step, event.to_agency, from_agency, at, not on_route, ctx)
        sheet = (*finish_row(state, at, ctx), row)
        revisited = revisits(state, step.id)
    new = advance(
        state,
        sheet,
        current_step=step.id,
        current_agency=event.to_agency,
        anomalies=state.anomalies + (not on_route),
        deadline_version=state.deadline_version + revisited,
    )
    if not ctx.build_effects:
        return new, []
    # Assigned now, even when the step (and its clock) began with another agency.
    effects: list[Effect] = [assign(new, row, event.event_id, assigned_at=at), arm(new)]
    if not on_route:
        effects.append(
            Anomaly(
                state.dossier_id,
                ev.ReasonKind.OFF_ROUTE,
                f"hand-off to {event.to_agency!r} for step {step.id!r} is off the route "
                f"(the dossier was at step {state.current_step!r} with "
                f"{state.current_agency!r}; step {step.id!r} belongs to {step.agency!r})",
                event.event_id,
            )
        )
    return new, effects


# --- the clock: pauses and reschedules -----------------------------------------------


def supplement_requested(
    state: DossierState, event: ev.SupplementRequested, ctx: RoutingContext
) -> Result:
    if state.status is not Status.OPEN:
        return state, [reject(event, ev.ReasonKind.ILLEGAL_TRANSITION, not_open(state))]
    pause = Pause.trusted(requested_at=event.occurred_at)
    new = advance(state, state.sheet, status=Status.PAUSED, pauses=(*state.pauses, pause))
    if not ctx.build_effects:
        return new, []
    return new, [DisarmDeadlines(state.dossier_id, "paused for supplement")]


def supplement_received(
    state: DossierState, event: ev.SupplementReceived, proc: Procedure, ctx: RoutingContext
) -> Result:
    pause = state.open_pause
    if state.status is not Status.PAUSED or pause is None:
        return state, [
            reject(event, ev.ReasonKind.ILLEGAL_TRANSITION, "no supplement request is open")
        ]
    new = resume(state, pause, event.occurred_at, proc, ctx)
    new = advance(new, new.sheet, status=Status.OPEN)
    return new, [arm(new)] if ctx.build_effects else []


def resume(
    state: DossierState, pause: Pause, at: datetime, proc: Procedure, ctx: RoutingContext
) -> DossierState:
    """Close the open pause at ``at`` and re-derive every open deadline with all the pauses.

    Each deadline is counted again from its own clock start (docs/deadlines.md): a pause
    before that start, or begun after that deadline had passed, moves nothing.
    """
    cal = ctx.calendar
    begin = pause.requested_at
    end = max(at, begin)
    # The working time that counted: none of a pause before the clock started.
    counted = cal.working_time_between(max(begin, state.start_at), end)
    closed = pause.model_copy(update={"received_at": end, "paused_hours": round(counted / HOUR, 4)})
    pauses = [(p.requested_at, p.received_at or end) for p in (*state.pauses[:-1], closed)]
    committed_time = allowance_for(proc, proc.committed_time)
    original = due_with_pauses(cal, state.start_at, committed_time, pauses)
    committed = original
    if state.rescheduled_at is not None:
        # A new appointment given during the pause already knew of the pause so far.
        committed = extend_for_pause(
            cal,
            state.committed_due_at,
            min(max(begin, state.rescheduled_at), end),  # reversed instants: nothing
            end,
            counted_from=state.start_at,
            allowance=committed_time,
        )
    sheet = state.sheet
    row = state.current_row
    if row is not None:
        clock = cal.next_opening(state.clock_start(row))
        allotment = allowance_for(proc, proc.step(row.step).allotment)
        row = row.model_copy(update={"due_at": due_with_pauses(cal, clock, allotment, pauses)})
        sheet = (*sheet[:-1], row)
    statutory_time = allowance_for(proc, proc.statutory_time)
    return state.model_copy(
        update={
            "pauses": (*state.pauses[:-1], closed),
            "sheet": sheet,
            "committed_due_at": committed,
            "statutory_due_at": due_with_pauses(cal, state.start_at, statutory_time, pauses),
            "original_due_at": original,
            "deadline_version": state.deadline_version + 1,
        }
    )


def rescheduled(state: DossierState, event: ev.DossierRescheduled, ctx: RoutingContext) -> Result:
    if state.status not in (Status.OPEN, Status.PAUSED):
        return state, [reject(event, ev.ReasonKind.ILLEGAL_TRANSITION, not_open(state))]
    if state.rescheduled_at is not None:
        return state, [
            reject(
                event,
                ev.ReasonKind.ILLEGAL_TRANSITION,
                "the dossier was already rescheduled once, on "
                f"{state.rescheduled_at.astimezone(ctx.calendar.tz).isoformat()}; "
                "an apology sets one new due date",
            )
        ]
    new_due = event.new_due_at
    if new_due <= event.occurred_at or new_due <= state.committed_due_at:
        due = state.committed_due_at.astimezone(ctx.calendar.tz).isoformat()
        return state, [
            reject(
                event,
                ev.ReasonKind.ILLEGAL_TRANSITION,
                f"new_due_at {new_due.isoformat()} must be after the event and after the "
                f"current due instant {due}: an apology moves the appointment later",
            )
        ]
    ctx.calendar.is_working_instant(new_due)  # out of the calendar's range: rejected
    new = advance(
        state,
        state.sheet,
        committed_due_at=new_due,
        rescheduled_at=event.occurred_at,
        deadline_version=state.deadline_version + 1,
    )
    # While paused nothing is armed; supplement_received arms the new due instant.
    return new, ([arm(new)] if new.status is Status.OPEN and ctx.build_effects else [])


# --- the end -------------------------------------------------------------------------


def result_ready(
    state: DossierState, event: ev.ResultReady, proc: Procedure, ctx: RoutingContext
) -> Result:
    if state.status not in (Status.OPEN, Status.PAUSED):
        return state, [reject(event, ev.ReasonKind.ILLEGAL_TRANSITION, not_open(state))]
    cal = ctx.calendar
    at = event.occurred_at
    if (pause := state.open_pause) is not None:
        state = resume(state, pause, at, proc, ctx)  # refused while waiting: the pause ends here
    sheet = finish_row(state, at, ctx)
    pauses = [(p.requested_at, p.received_at) for p in state.pauses if p.received_at is not None]
    # An apology moves the appointment but, by default, not the yardstick.
    yardstick = (
        state.original_due_at if ctx.policy.rescheduled_counts_late else state.committed_due_at
    )
    completion = classify(cal, at, yardstick)
    if ctx.policy.second_supplement_counts_late and len(state.pauses) >= 2:
        completion = Completion.LATE
    # Against the statutory time counted from the counting start (docs/deadlines.md):
    # a same-day procedure saves nothing, and only overruns its due.
    statutory = allowance_for(proc, proc.statutory_time)
    used, saved = days_saved(cal, state.start_at, at, statutory, pauses)
    outcome = ProcessingResult.trusted(
        decision=event.outcome.value,
        finished_at=at,
        completion=completion,
        used_days=round(float(used), 4),
        saved_days=round(float(saved), 4),
    )
    new = advance(state, sheet, status=Status.RESULT_READY, current_step=None, outcome=outcome)
    if not ctx.build_effects:
        return new, []
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


def close(
    state: DossierState, event: ev.InboundEvent, status: Status, ctx: RoutingContext
) -> Result:
    at = event.occurred_at
    # Withdrawn or stopped mid-step: the row records the time used, but no result.
    sheet = finish_row(state, at, ctx, judge=False)
    new = advance(state, sheet, status=status, closed_at=at, current_step=None)
    if not ctx.build_effects:
        return new, []
    effects: list[Effect] = []
    if state.status in (Status.OPEN, Status.PAUSED):
        effects.append(DisarmDeadlines(state.dossier_id, status.value))
    effects.append(Closed(state.dossier_id, status.value))
    return new, effects
