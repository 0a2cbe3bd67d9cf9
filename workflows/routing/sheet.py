"""The routing rules' shared pieces: rejections and their messages, and the sheet rows
(phiếu kiểm soát), assignments and deadlines a transition writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from events import (
    InboundEvent,
    ReasonKind,
)
from workflows.calendar import WorkingCalendar
from workflows.catalog import Procedure, Step
from workflows.deadlines import (
    TimeAllowance,
    TimeUnit,
    allowance,
    classify,
    due_instant,
    paused_working_time,
)
from workflows.effects import (
    ArmDeadlines,
    Assign,
    Rejected,
)
from workflows.state import DossierState, SheetRow, Status

if TYPE_CHECKING:
    from workflows.routing.core import RoutingContext

HOUR = timedelta(hours=1)
_ZERO = timedelta(0)


def allowance_for(proc: Procedure, amount: Decimal) -> TimeAllowance:
    """``amount`` in the procedure's time unit."""
    return allowance(amount, proc.time_unit)


def reject(event: InboundEvent, kind: ReasonKind, message: str) -> Rejected:
    return Rejected(event.dossier_id, kind, f"{event.type}: {message}", event.event_id)


def not_open(state: DossierState) -> str:
    if state.status is Status.PAUSED:
        return "dossier is paused for a supplement (the clock is stopped)"
    return f"dossier is {state.status}"


def no_step(proc: Procedure, step_id: str) -> str:
    known = ", ".join(s.id for s in proc.steps)
    return f"procedure {proc.code} has no step {step_id!r} (steps: {known})"


def has_step(proc: Procedure, step_id: str) -> bool:
    # A loop, not any(...): called for every step event, and a generator costs more.
    for step in proc.steps:  # noqa: SIM110
        if step.id == step_id:
            return True
    return False


def is_next(proc: Procedure, state: DossierState, step_id: str) -> bool:
    """Is ``step_id`` a step the route can reach directly from the current one?"""
    if state.current_step is None:
        return False
    return step_id in proc.step(state.current_step).targets()


def revisits(state: DossierState, step_id: str) -> int:
    """1 when the dossier comes back to a step it has been at: its alerts need new ids."""
    for row in state.sheet:
        if row.step == step_id:
            return 1
    return 0


def hours(cal: WorkingCalendar, clock: datetime, due: datetime) -> float:
    """Working hours from a step's clock start to its due instant."""
    return cal.working_time_between(clock, due) / HOUR


def due_and_hours(
    cal: WorkingCalendar, clock: datetime, allotment: TimeAllowance
) -> tuple[datetime, float]:
    """A step's due instant counted from ``clock``, and its allotted working hours.

    In working units the hours are the allotment itself, without asking the calendar:
    ``working_time_between(s, add_working_time(s, n)) == n`` for every ``s`` (the
    calendar's rule, tested there). Same-day and calendar-day allotments are measured.
    """
    due = due_instant(cal, clock, allotment)
    if allotment.unit is not TimeUnit.CALENDAR_DAYS and not allotment.same_day:
        return due, allotment.working_duration() / HOUR
    return due, hours(cal, clock, due)


def new_row(
    state: DossierState,
    proc: Procedure,
    step: Step,
    agency: str,
    from_agency: str | None,
    at: datetime,
    off_route: bool,
    ctx: RoutingContext,
) -> SheetRow:
    cal = ctx.calendar
    # A step's clock never starts before the dossier's (same-day cut-off): see clock_start.
    clock = cal.next_opening(max(at, state.start_at))
    due, allotted = due_and_hours(cal, clock, allowance_for(proc, step.allotment))
    return SheetRow.trusted(
        step=step.id,
        agency=agency,
        from_agency=from_agency,
        started_at=at,
        due_at=due,
        allotted_hours=allotted,
        off_route=off_route,
    )


def finish_row(
    state: DossierState, at: datetime, ctx: RoutingContext, *, judge: bool = True
) -> tuple[SheetRow, ...]:
    sheet = state.sheet
    # ``state.current_row`` and ``state.clock_start(row)`` written out: once an event.
    if not sheet or sheet[-1].finished_at is not None:
        return sheet
    row = sheet[-1]
    cal = ctx.calendar
    clock = max(row.started_at, state.start_at)
    used = cal.working_time_between(clock, at)
    if state.pauses:
        pauses = [
            (p.requested_at, p.received_at) for p in state.pauses if p.received_at is not None
        ]
        used -= paused_working_time(cal, pauses, within=(clock, max(clock, at)))
        used = max(used, _ZERO)
    finished = row.model_copy(
        update={
            "finished_at": at,
            "used_hours": round(used / HOUR, 4),
            "result": classify(cal, at, row.due_at) if judge else None,
        }
    )
    return (*sheet[:-1], finished)


def advance(state: DossierState, sheet: Sequence[SheetRow], **changes: object) -> DossierState:
    changes["sheet"] = tuple(sheet)  # ``changes`` is this call's own dict: no second one
    return state.model_copy(update=changes)


def assign(
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


def arm(state: DossierState) -> ArmDeadlines:
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


def signed_sheet(
    before: DossierState | None, after: DossierState, principal: str | None
) -> tuple[SheetRow, ...] | None:
    """``after``'s sheet with the rows the event opened or closed signed by ``principal``;
    None when signing changes nothing (every such row already says ``principal``).

    A row is opened when it is new or now names another agency (a same-step hand-off
    rewrites the open row); closed when it gained ``finished_at``. The event that closes
    a row mostly opens the next one, whose ``sent_by`` then says who closed it; so
    ``finished_by`` is written only on the last row (closed by the result, a withdrawal
    or a rejection), which keeps a signed sheet small. Done once, in ``apply``, after the
    rule, so no rule can forget it; ``None`` (unknown) is recorded as such.
    """
    old = before.sheet if before is not None else ()
    rows = after.sheet
    last = len(rows) - 1
    signed_rows: list[SheetRow] | None = None
    # Rules change only the last row and append: the rows before it are the same objects
    # (checked, in C), and an unchanged row needs no signature.
    first = len(old) - 1 if len(old) > 1 and rows[: len(old) - 1] == old[:-1] else 0
    for i in range(first, len(rows)):
        row = rows[i]
        prior = old[i] if i < len(old) else None
        if prior is row:
            continue
        update: dict[str, object] = {}
        if (prior is None or prior.agency != row.agency) and row.sent_by != principal:
            update["sent_by"] = principal
        closed = row.finished_at is not None and (prior is None or prior.finished_at is None)
        if closed and i == last and row.finished_by != principal:
            update["finished_by"] = principal
        if update:
            if signed_rows is None:
                signed_rows = list(rows)
            signed_rows[i] = row.model_copy(update=update)
    return None if signed_rows is None else tuple(signed_rows)
