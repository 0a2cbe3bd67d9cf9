"""Who may send what, and when: the province's rules for every inbound event.

``province_rules(catalog)`` is the ``Authorize`` a worker runs; ``RoutingContext``'s
default stays ``allow_all`` for the tools and tests that replay events without senders.
It chains three pure rules, the first refusal wins:

- ``speaks_for``: the verified publisher may speak for ``event.agency`` (the publisher
  registry's answer, carried in ``Sender.agencies``);
- ``transition_rules(catalog)``: that agency may send that event to this dossier now:
  the receiving desk receives, the agency holding the step (or a delegate the catalog
  names) takes it up, completes or hands it on, and so on; the catalog version the dossier was
  received under says who the desk and the delegates are;
- ``plausible_time(tolerance)``: ``occurred_at`` is the agency's claim; never before the
  dossier's receipt, never later than the broker's timestamp plus a tolerance, and an
  event that moves the sheet never before what the sheet already records.

A refusal says what was expected and what came. The table, and why each row is what it
is, is in docs/security.md ("Authorization of transitions").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from events import (
    DossierHandedOff,
    DossierReceived,
    InboundEvent,
    ReasonKind,
    ResultReady,
    StepCompleted,
    StepStarted,
)
from workflows.calendar import VN_TZ
from workflows.catalog import Catalog, Procedure
from workflows.routing.sender import Authorize, Refusal, Sender
from workflows.state import DossierState

__all__ = [
    "CLOCK_TOLERANCE",
    "Expected",
    "chain",
    "plausible_time",
    "province_rules",
    "speaks_for",
    "transition_rules",
    "who_may_send",
]

#: How far ``occurred_at`` may run ahead of the broker's timestamp: publishers' clocks
#: drift and an event is stamped a moment before it is produced; minutes, never hours.
CLOCK_TOLERANCE = timedelta(minutes=5)

#: At most this many agency codes are named in a refusal (a province system may speak
#: for hundreds; the dead letter stays short).
_NAMED = 8

#: Events that close the open row of the sheet, open a new one or mark it taken up: dated
#: before what the sheet records, they would shorten a step, the dossier's used time or a
#: step's inbox wait.
_MOVES_THE_SHEET = (StepCompleted, StepStarted, DossierHandedOff, ResultReady)


def province_rules(
    catalog: Catalog, *, tolerance: timedelta | None = CLOCK_TOLERANCE, tz: tzinfo = VN_TZ
) -> Authorize:
    """The worker's rule: publisher binding, then who may send what, then plausible time.

    ``tz`` is the working calendar's zone: the local date of receipt picks the catalog
    version, as ``apply`` does.
    """
    return chain(speaks_for, transition_rules(catalog, tz), plausible_time(tolerance, tz))


def chain(*rules: Authorize) -> Authorize:
    """One rule from several: the first refusal wins; allowed when none refuses."""

    def authorize(
        state: DossierState | None, event: InboundEvent, sender: Sender
    ) -> Refusal | None:
        for rule in rules:
            refusal = rule(state, event, sender)
            if refusal is not None:
                return refusal
        return None

    return authorize


# --- the publisher speaks for the agency --------------------------------------------------


def speaks_for(state: DossierState | None, event: InboundEvent, sender: Sender) -> Refusal | None:
    """The publisher may speak for ``event.agency`` (``Sender.agencies`` None: for any)."""
    if sender.agencies is None or event.agency in sender.agencies:
        return None
    who = "an unidentified publisher" if sender.principal is None else sender.principal
    return Refusal(
        ReasonKind.UNAUTHORIZED,
        f"publisher {who} may not speak for agency {event.agency} "
        f"(it speaks for {_names(sender.agencies) or 'no agency'})",
    )


# --- the agency may send this event now ---------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """The agencies that may send an event now, and the fact that makes it so, said for
    a refusal (``"step 'review' is held by STC"``)."""

    agencies: frozenset[str]
    said: str

    def __or__(self, other: Expected) -> Expected:
        return Expected(self.agencies | other.agencies, f"{self.said}, {other.said}")


def transition_rules(catalog: Catalog, tz: tzinfo = VN_TZ) -> Authorize:
    """Refuses an event whose agency is not one ``who_may_send`` expects."""

    def authorize(
        state: DossierState | None, event: InboundEvent, sender: Sender
    ) -> Refusal | None:
        expected = who_may_send(catalog, state, event, tz)
        if expected is None or event.agency in expected.agencies:
            return None
        return Refusal(ReasonKind.UNAUTHORIZED, f"{expected.said}; sent by {event.agency}")

    return authorize


def who_may_send(
    catalog: Catalog, state: DossierState | None, event: InboundEvent, tz: tzinfo = VN_TZ
) -> Expected | None:
    """Who may send ``event`` to the dossier in ``state``; None when no agency could,
    because the transition itself is refused (unknown dossier or procedure): ``apply``
    then says why, rather than blame the sender."""
    if isinstance(event, DossierReceived):
        local = event.occurred_at.astimezone(tz).date()
        proc = catalog.procedure(event.procedure, at=local)
        return None if proc is None else desks(proc)
    if state is None:
        return None
    proc = catalog.procedure(state.procedure, at=date.fromisoformat(state.procedure_version))
    if proc is None:
        return None
    holding = holder(state, proc)
    if isinstance(event, StepCompleted | StepStarted | DossierHandedOff):
        return holding
    if isinstance(event, ResultReady) and state.current_step is not None:
        # Mid-route, only the agency deciding the dossier can end it (a refusal at
        # review); the desk declares a result only once the route has brought it back.
        return holding
    # Citizen-facing or clock events (supplements, apology, return, withdrawal,
    # rejection): the applicant deals with the desk, the holder writes the notice.
    return holding | desks(proc)


def desks(proc: Procedure) -> Expected:
    """The receiving desks of a procedure: its entry step's agency and that step's delegates
    (the catalog has no other notion of a desk; every sample route starts at one)."""
    codes = (proc.entry.agency, *proc.entry.delegates)
    word = "desk is" if len(set(codes)) == 1 else "desks are"
    return Expected(frozenset(codes), f"the receiving {word} {_names(codes)}")


def holder(state: DossierState, proc: Procedure) -> Expected:
    """The agency holding the dossier as its sheet says, with the delegates of its step.

    Mid-route that is the open row's agency (an off-route hand-off moved it); once the
    route is finished, the agency of the last step, where the dossier waits for its result.
    """
    row = state.current_row
    agency = row.agency if row is not None else state.current_agency
    step_id = state.current_step
    if step_id is None and state.sheet:
        step_id = state.sheet[-1].step
    delegates: tuple[str, ...] = ()
    if step_id is not None and any(s.id == step_id for s in proc.steps):
        delegates = proc.step(step_id).delegates
    agencies = frozenset(a for a in (agency, *delegates) if a is not None)
    held = f"held by {agency or 'no agency'}"
    if delegates:
        held += f" (delegates: {_names(delegates)})"
    if state.current_step is not None:
        said = f"step {state.current_step!r} is {held}"
    elif step_id is not None:
        said = f"the route is finished; its last step {step_id!r} is {held}"
    else:
        said = f"the dossier is {held}"
    return Expected(agencies, said)


# --- plausible time -----------------------------------------------------------------------


def plausible_time(tolerance: timedelta | None = CLOCK_TOLERANCE, tz: tzinfo = VN_TZ) -> Authorize:
    """Refuses ``implausible_time``: an event dated later than the broker's timestamp plus
    ``tolerance`` (not checked when the broker time is unknown, or with ``tolerance`` None:
    a simulated clock, whose events are dated in simulated time), before its dossier's
    receipt, or, for an event that moves the sheet, before the last instant the sheet
    records. So nothing back-dated can turn a breach into "early"."""

    def authorize(
        state: DossierState | None, event: InboundEvent, sender: Sender
    ) -> Refusal | None:
        at = event.occurred_at
        broker = sender.broker_time
        if broker is not None and tolerance is not None and at > broker + tolerance:
            return _implausible(
                f"occurred_at {_local(at, tz)} is later than the broker's timestamp "
                f"{_local(broker, tz)} plus the tolerance of {_span(tolerance)}"
            )
        if state is None:
            return None
        if at < state.received_at:
            return _implausible(
                f"occurred_at {_local(at, tz)} is before the dossier's receipt at "
                f"{_local(state.received_at, tz)}"
            )
        if isinstance(event, _MOVES_THE_SHEET):
            latest = last_on_sheet(state)
            if latest is not None and at < latest:
                return _implausible(
                    f"occurred_at {_local(at, tz)} is before {_local(latest, tz)}, the last "
                    "step event on the process control sheet"
                )
        return None

    return authorize


def last_on_sheet(state: DossierState) -> datetime | None:
    """The latest instant the sheet records: a row's start, taking up or finish."""
    instants = [
        t
        for row in state.sheet
        for t in (row.started_at, row.taken_up_at, row.finished_at)
        if t is not None
    ]
    return max(instants, default=None)


def _implausible(reason: str) -> Refusal:
    return Refusal(ReasonKind.IMPLAUSIBLE_TIME, reason)


def _local(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).isoformat()


def _span(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"


def _names(codes: Iterable[str]) -> str:
    unique = sorted(set(codes))
    shown = ", ".join(unique[:_NAMED])
    if len(unique) > _NAMED:
        shown += f" and {len(unique) - _NAMED} more"
    return shown
