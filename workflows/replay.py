"""What-if replay: recorded events folded per dossier through ``apply`` under a given
context, and two sets of states compared (figures, on time ↔ late flips). Pure, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

import events as ev
from workflows.deadlines import Completion
from workflows.routing import ANYONE, RoutingContext, Sender, apply
from workflows.state import DossierState

__all__ = [
    "Comparison",
    "Figures",
    "Flip",
    "GroupRow",
    "compare",
    "deciding_agency",
    "replay",
    "sent_by_anyone",
]

Sent = tuple[ev.InboundEvent, Sender]


def sent_by_anyone(events: Iterable[ev.InboundEvent]) -> Iterator[Sent]:
    """Events of a file (no signatures): each as sent by ``ANYONE``."""
    for event in events:
        yield event, ANYONE


def replay(
    sent: Iterable[Sent],
    ctx: RoutingContext,
    progress: Callable[[int], None] | None = None,
    every: int = 50_000,
) -> dict[str, DossierState]:
    """Every dossier's state after ``apply`` over its events in the order given.

    As the router parks an event that comes before its dossier's receipt, such events wait
    here and are applied, in their order, right after the receipt (the router's parking
    expiry is not modelled: a receipt that never comes leaves them unapplied). Dossiers
    that never became one (an unknown procedure, say) are not in the result.
    ``progress(n)`` is called after every ``every`` events and once at the end.
    """
    if ctx.build_effects:
        ctx = replace(ctx, build_effects=False)  # the effects are never read here
    states: dict[str, DossierState | None] = {}
    waiting: dict[str, list[Sent]] = {}
    n = 0
    for event, sender in sent:
        n += 1
        if progress is not None and n % every == 0:
            progress(n)
        key = event.dossier_id
        state = states.get(key)
        if state is None and not isinstance(event, ev.DossierReceived):
            waiting.setdefault(key, []).append((event, sender))
            continue
        state, _ = apply(state, event, ctx, sender)
        if state is not None and key in waiting:
            for early, early_sender in waiting.pop(key):
                state, _ = apply(state, early, ctx, early_sender)
        states[key] = state
    if progress is not None:
        progress(n)
    return {key: state for key, state in states.items() if state is not None}


# --- comparing two replays ----------------------------------------------------------------


def _on_time(state: DossierState) -> bool | None:
    """Early or on time (True), late (False), or not judged yet (None)."""
    if state.outcome is None:
        return None
    return state.outcome.completion is not Completion.LATE


def deciding_agency(state: DossierState) -> str:
    """The agency a dossier's time went to: the one that used the most working time on its
    sheet (the desk only receives and returns); ``-`` before any step has finished."""
    best, used = "-", -1.0
    for row in state.sheet:
        if row.used_hours is not None and row.used_hours > used:
            best, used = row.agency, row.used_hours
    return best


@dataclass(frozen=True)
class Figures:
    """Completed dossiers, on time (early + on time), late, and working days saved."""

    completed: int = 0
    on_time: int = 0
    late: int = 0
    saved_days: float = 0.0

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.completed if self.completed else None

    def add(self, state: DossierState) -> Figures:
        judged = _on_time(state)
        if judged is None or state.outcome is None:
            return self
        return Figures(
            self.completed + 1,
            self.on_time + judged,
            self.late + (not judged),
            self.saved_days + state.outcome.saved_days,
        )


@dataclass(frozen=True)
class Flip:
    """A completed dossier judged differently under the alternative catalog."""

    dossier_id: str
    procedure: str
    sector: str
    agency: str
    was: Completion
    would_be: Completion

    @property
    def to_late(self) -> bool:
        return self.was is not Completion.LATE and self.would_be is Completion.LATE


@dataclass
class GroupRow:
    """One procedure, sector or agency: its figures both ways and its flips."""

    key: str
    actual: Figures = field(default_factory=Figures)
    whatif: Figures = field(default_factory=Figures)
    to_late: int = 0
    to_on_time: int = 0


@dataclass(frozen=True)
class Comparison:
    actual: Figures
    whatif: Figures
    flips: tuple[Flip, ...]
    #: procedure, sector and agency -> rows, sorted by flips (most first), then key
    groups: Mapping[str, tuple[GroupRow, ...]]
    #: dossiers of the actual replay that the alternative did not produce (e.g. a
    #: procedure missing from its catalog), and ones it produced that the actual did not
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def to_late(self) -> int:
        return sum(f.to_late for f in self.flips)

    @property
    def to_on_time(self) -> int:
        return len(self.flips) - self.to_late


GROUPS = ("procedure", "sector", "agency")


def _keys(state: DossierState) -> tuple[str, str, str]:
    return state.procedure, state.sector, deciding_agency(state)


def compare(actual: Mapping[str, DossierState], whatif: Mapping[str, DossierState]) -> Comparison:
    """Figures of both replays, and every completed dossier whose verdict flips.

    A group is the dossier's procedure, sector and deciding agency as the actual replay
    has them (``deciding_agency``); flips are ordered by dossier id.
    """
    total_actual, total_whatif = Figures(), Figures()
    rows: dict[str, dict[str, GroupRow]] = {g: {} for g in GROUPS}
    flips: list[Flip] = []
    for dossier_id in sorted(actual):
        before = actual[dossier_id]
        after = whatif.get(dossier_id)
        total_actual = total_actual.add(before)
        keys = _keys(before)
        group_rows = [rows[g].setdefault(k, GroupRow(k)) for g, k in zip(GROUPS, keys, strict=True)]
        for row in group_rows:
            row.actual = row.actual.add(before)
        if after is None:
            continue
        total_whatif = total_whatif.add(after)
        for row in group_rows:
            row.whatif = row.whatif.add(after)
        was, would = _on_time(before), _on_time(after)
        if was is None or would is None or was == would:
            continue
        assert before.outcome is not None and after.outcome is not None
        flip = Flip(dossier_id, *keys, before.outcome.completion, after.outcome.completion)
        flips.append(flip)
        for row in group_rows:
            row.to_late += flip.to_late
            row.to_on_time += not flip.to_late
    for dossier_id in sorted(set(whatif) - set(actual)):
        total_whatif = total_whatif.add(whatif[dossier_id])
    groups = {
        g: tuple(sorted(by_key.values(), key=lambda r: (-(r.to_late + r.to_on_time), r.key)))
        for g, by_key in rows.items()
    }
    return Comparison(
        actual=total_actual,
        whatif=total_whatif,
        flips=tuple(flips),
        groups=groups,
        missing=tuple(sorted(set(actual) - set(whatif))),
        extra=tuple(sorted(set(whatif) - set(actual))),
    )
