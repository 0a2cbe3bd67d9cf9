"""The routing state machine's entry point: ``apply(state, event, ctx, sender)``.

Pure: no clock (every instant comes from the event), no I/O. It never raises
for a valid event; anything it will not apply comes back as a ``Rejected``
effect with the domain state unchanged, so the shell can dead-letter it and go
on. The rules, and the conventions where the law leaves room, are in
docs/routing.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import assert_never

import events as ev
from events import InboundEvent, ReasonKind
from workflows.calendar import CalendarRangeError, WorkingCalendar
from workflows.catalog import Catalog, Procedure
from workflows.effects import Effect, Rejected
from workflows.limits import StateLimits, state_problem
from workflows.routing import handlers as on
from workflows.routing.dedupe import event_fingerprint, remembered_update
from workflows.routing.sender import ANYONE, Authorize, Sender, allow_all
from workflows.routing.sheet import reject, signed_sheet
from workflows.state import DossierState, SheetRow, Status

__all__ = ["Result", "RoutingContext", "RoutingPolicy", "apply"]


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

    #: The pure place to refuse an event for who sent it, before any transition; a
    #: worker runs ``province_rules(catalog)`` (workflows/routing/authorize.py).
    authorize: Authorize = allow_all

    #: Build the effects of an applied event (assignments, deadlines to arm or disarm,
    #: anomalies, completions). A replay keeps only the states and turns this off
    #: (``workflows.replay``); a refusal's ``Rejected`` is returned either way.
    build_effects: bool = True

    #: (code, version) -> the catalog's procedure: every event of a dossier after its
    #: receipt looks its version up, and the catalog never changes under a context.
    _versions: dict[tuple[str, str], Procedure | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def version(self, code: str, version: str) -> Procedure | None:
        """The procedure ``code`` as the catalog has it in force on ``version`` (a
        dossier's ``procedure_version``, an ISO date), remembered."""
        key = (code, version)
        try:
            return self._versions[key]
        except KeyError:
            found = self._versions[key] = self.catalog.procedure(
                code, at=date.fromisoformat(version)
            )
            return found


Result = tuple[DossierState | None, list[Effect]]

#: ``Status.closed`` as a tuple: asked for every event, and a property call costs more.
_CLOSED = tuple(status for status in Status if status.closed)


def apply(
    state: DossierState | None,
    event: InboundEvent,
    ctx: RoutingContext,
    sender: Sender = ANYONE,
) -> Result:
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
    new: DossierState | None
    effects: list[Effect]
    sheet: tuple[SheetRow, ...] | None = None  # the signed sheet, when signing changed it
    refusal = ctx.authorize(state, event, sender)
    if refusal is not None:
        new, effects = state, [reject(event, refusal.kind, refusal.reason)]
    else:
        try:
            new, effects = _dispatch(state, event, ctx)
        except CalendarRangeError as exc:
            # An instant the working calendar cannot place (before 1976, after 2100).
            new, effects = state, [reject(event, ReasonKind.SCHEMA_ERROR, str(exc))]
        if new is not None and new is not state:
            sheet = signed_sheet(state, new, sender.principal)
    if new is None:
        return None, effects
    refused = _refused(effects)
    update = remembered_update(new, event, fingerprint, ctx.policy.remembered_events, refused)
    if sheet is not None:
        update["sheet"] = sheet
    # Signed and remembered in the copy the rule made, if it made one: a rule's new state
    # is its own (made in this call, shared with nothing yet), so finishing it saves a copy.
    remembered = new.model_copy(update=update) if new is state else _finish(new, update)
    if not refused and _grew(state, remembered):
        # Judged as it would be stored, the event's fingerprint included.
        problem = state_problem(remembered, ctx.limits)
        if problem is not None:
            effects = [reject(event, ReasonKind.LIMIT_EXCEEDED, problem)]
            if state is None:
                return None, effects
            remembered = _remember(state, event, fingerprint, True, ctx)
    return remembered, effects


def _remember(
    new: DossierState, event: InboundEvent, fingerprint: str, refused: bool, ctx: RoutingContext
) -> DossierState:
    update = remembered_update(new, event, fingerprint, ctx.policy.remembered_events, refused)
    return new.model_copy(update=update)


def _finish(new: DossierState, update: dict[str, object]) -> DossierState:
    """``new`` with ``update`` applied in place, as ``model_copy`` would give it."""
    new.__dict__.update(update)
    if not new.__pydantic_fields_set__.issuperset(update):
        object.__setattr__(
            new, "__pydantic_fields_set__", new.__pydantic_fields_set__ | update.keys()
        )
    return new


def _grew(state: DossierState | None, new: DossierState) -> bool:
    """Did the event add to what the state holds (a sheet row, a pause)? Only those are
    checked against ``ctx.limits``: an event that finishes a dossier is never refused."""
    if state is None:
        return True
    return len(new.sheet) > len(state.sheet) or len(new.pauses) > len(state.pauses)


def _refused(effects: Sequence[Effect]) -> bool:
    # A loop, not any(...): called for every event, and a generator costs more.
    for effect in effects:  # noqa: SIM110
        if isinstance(effect, Rejected):
            return True
    return False


def _dispatch(state: DossierState | None, event: InboundEvent, ctx: RoutingContext) -> Result:
    # Placing the instant first turns one out of the calendar's range into a rejection
    # before anything is stored, so no later event can trip over it.
    ctx.calendar.place(event.occurred_at)
    if state is None:
        if isinstance(event, ev.DossierReceived):
            return on.received(event, ctx)
        return None, [reject(event, ReasonKind.UNKNOWN_DOSSIER, "no dossier.received seen yet")]
    if state.status in _CLOSED:
        return state, [reject(event, ReasonKind.DOSSIER_CLOSED, f"dossier is {state.status}")]
    proc = ctx.version(state.procedure, state.procedure_version)
    if proc is None:  # the catalog lost a version a live dossier was received under
        return state, [
            reject(
                event,
                ReasonKind.UNKNOWN_PROCEDURE,
                f"procedure {state.procedure} version {state.procedure_version} is gone "
                "from the catalog; restore it to go on with this dossier",
            )
        ]
    match event:
        case ev.DossierReceived():
            return state, [reject(event, ReasonKind.ILLEGAL_TRANSITION, "dossier already received")]
        case ev.StepCompleted():
            return on.step_completed(state, event, proc, ctx)
        case ev.StepStarted():
            return on.step_started(state, event, proc)
        case ev.DossierHandedOff():
            return on.handed_off(state, event, proc, ctx)
        case ev.SupplementRequested():
            return on.supplement_requested(state, event, ctx)
        case ev.SupplementReceived():
            return on.supplement_received(state, event, proc, ctx)
        case ev.DossierRescheduled():
            return on.rescheduled(state, event, ctx)
        case ev.ResultReady():
            return on.result_ready(state, event, proc, ctx)
        case ev.DossierReturned():
            if state.status is not Status.RESULT_READY:
                return state, [
                    reject(
                        event,
                        ReasonKind.ILLEGAL_TRANSITION,
                        f"dossier is {state.status}; returned needs result_ready first",
                    )
                ]
            return on.close(state, event, Status.RETURNED, ctx)
        case ev.DossierWithdrawn():
            return on.close(state, event, Status.WITHDRAWN, ctx)
        case ev.DossierRejected():
            return on.close(state, event, Status.REJECTED, ctx)
        case _:
            assert_never(event)  # a new event type without a rule is a type error
