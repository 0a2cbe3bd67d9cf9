"""The tests' own oracle: ``workflows.routing.apply`` folded over each dossier's events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from events import Assignment, InboundEvent, ReasonKind, stable_id
from workflows.effects import Anomaly, Assign, Rejected
from workflows.routing import RoutingContext, apply
from workflows.state import DossierState

from support.context import engine_context
from support.signing import SENDER


def fold_state(events: Iterable[InboundEvent], ctx: RoutingContext) -> DossierState:
    """One dossier's state after ``apply`` over its ``events`` in order (it must exist)."""
    state = None
    for event in events:
        state, _ = apply(state, event, ctx)
    assert state is not None
    return state


class Fold:
    """Each dossier's state and effects after folding ``apply`` over its events in order."""

    def __init__(self, events: Iterable[InboundEvent]) -> None:
        ctx = engine_context()
        self.states: dict[str, DossierState | None] = {}
        self.assignments: dict[str, Assignment] = {}
        self.dead: list[tuple[str, ReasonKind]] = []  # (event id, reason), in order
        self.flagged: list[tuple[str, ReasonKind]] = []  # applied anomalies, in order
        for event in events:
            state, effects = apply(self.states.get(event.dossier_id), event, ctx, SENDER)
            self.states[event.dossier_id] = state
            for effect in effects:
                if isinstance(effect, Assign):
                    # The contract: every worker derives the id from (dossier, step, cause).
                    key = ("assign", effect.dossier_id, effect.step, effect.cause_event_id)
                    record = Assignment(assignment_id=stable_id(*key), **asdict(effect))
                    self.assignments[record.assignment_id] = record
                elif isinstance(effect, Rejected):
                    self.dead.append((effect.event_id, effect.kind))
                elif isinstance(effect, Anomaly):
                    self.flagged.append((effect.event_id, effect.kind))

    def public(self, dossier_id: str) -> dict[str, Any]:
        state = self.states[dossier_id]
        assert state is not None, f"{dossier_id} never became a dossier"
        return event_driven(state.public())


#: State fields the deadline watcher sets from the wall clock, not from events (by the real
#: clock every dossier here is months overdue); the alert tests own them.
CLOCK_DRIVEN = frozenset({"alerted"})


def event_driven(public: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in public.items() if name not in CLOCK_DRIVEN}


def assert_assignments(actual: Sequence[Assignment], expected: dict[str, Assignment]) -> None:
    """Deduped by ``assignment_id`` they equal ``expected``; a re-sent one is identical."""
    by_id: dict[str, Assignment] = {}
    for record in actual:
        first = by_id.setdefault(record.assignment_id, record)
        assert record == first, f"two different assignments share the id {record.assignment_id}"
    missing = sorted(set(expected) - set(by_id))
    extra = sorted(set(by_id) - set(expected))
    assert not missing and not extra, (
        f"{len(missing)} missing, e.g. {[expected[i] for i in missing[:2]]}; "
        f"{len(extra)} unexpected, e.g. {[by_id[i] for i in extra[:2]]}"
    )
    wrong = [(by_id[i], expected[i]) for i in expected if by_id[i] != expected[i]]
    assert not wrong, f"{len(wrong)} assignments differ from the recomputation: {wrong[:2]}"
