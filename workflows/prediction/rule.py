"""The ``predicted_late`` alert: raised once per dossier and deadline version when an open
dossier will probably end late, and what a completed step teaches the sketches.

Pure. The router calls ``learnt`` on each state a batch changed (before -> after) and
``raise_predicted_late`` after each event and each deadline tick; the alert is remembered
in ``DossierState.alerted`` like every other level, so a re-delivered event or tick raises
it once, and a pause's end or a reschedule (a new deadline version) arms it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from events import Alert, AlertLevel, AlertScope
from workflows.alert_record import alert_recipients, point_alert
from workflows.alerts import WatchPoint, alert_mark, is_overdue
from workflows.calendar import WorkingCalendar
from workflows.catalog import Catalog
from workflows.prediction.estimator import (
    Lookup,
    Prediction,
    QuantileTable,
    predict,
    sketch_key,
)
from workflows.prediction.sketch import Sketch
from workflows.state import DossierState, Status

__all__ = [
    "ESCALATES_AS",
    "PredictionPolicy",
    "learnt",
    "predicted_mark",
    "raise_predicted_late",
]

#: Who hears of a predicted-late dossier: the same supervisors as of a dossier due soon.
ESCALATES_AS = {AlertLevel.PREDICTED_LATE: AlertLevel.DUE_SOON}


@dataclass(frozen=True)
class PredictionPolicy:
    #: raise when P(late) reaches this
    threshold: float = 0.6
    #: completed steps a sketch needs before it is trusted, for every step on the way
    min_history: int = 30
    #: the watcher re-evaluates an open dossier after this much working time with no event
    check_every_hours: float = 4.0
    #: off: nothing learnt, nothing raised
    enabled: bool = True
    #: the dossier's own pace so far, shrunk by this many pseudo-steps (0: not used)
    pace_prior: float = 0.0


def predicted_mark(state: DossierState) -> str:
    return predicted_mark_of(state.deadline_version)


def predicted_mark_of(deadline_version: int) -> str:
    """The mark a predicted-late warning leaves in ``alerted`` under that deadline version."""
    return alert_mark(AlertScope.DOSSIER, AlertLevel.PREDICTED_LATE, None, deadline_version)


def learnt(
    before: DossierState | None, after: DossierState | None, catalog: Catalog
) -> list[tuple[str, float]]:
    """(sketch key, working seconds) of every step ``after`` completed that ``before`` had
    not: the sheet's rows judged on completion (``used_hours``, supplement pauses left
    out). A row cut short by a withdrawal or a rejection has no verdict and teaches
    nothing (it did not end as the step ends); nor does a row off the route or at another
    agency than the catalog's for its step: keys come only from the catalog, so there are
    at most as many as its (procedure version, step) pairs, whatever events arrive."""
    if after is None:
        return []
    old = before.sheet if before is not None else ()
    proc = None
    out: list[tuple[str, float]] = []
    for i, row in enumerate(after.sheet):
        if row.result is None or row.used_hours is None or row.off_route:
            continue
        if i < len(old) and old[i].finished_at is not None:
            continue
        if proc is None:
            proc = catalog.procedure(
                after.procedure, at=date.fromisoformat(after.procedure_version)
            )
            if proc is None:
                return out
        if not any(s.id == row.step and s.agency == row.agency for s in proc.steps):
            continue
        key = sketch_key(after.procedure, after.procedure_version, row.step, row.agency)
        out.append((key, row.used_hours * 3600.0))
    return out


def raise_predicted_late(
    state: DossierState,
    catalog: Catalog,
    cal: WorkingCalendar,
    sketches: Lookup,
    now: datetime,
    policy: PredictionPolicy,
    tables: Callable[[str, Sketch], QuantileTable] | None = None,
) -> tuple[DossierState, list[Alert], Prediction | None]:
    """(state, [the alert], the prediction) when ``state`` reaches the threshold at
    ``now``; (state, [], prediction or None) otherwise. Never for a dossier paused,
    result-ready or closed, already alerted under this deadline version, or already
    overdue (the overdue alert says more)."""
    if not policy.enabled or state.status is not Status.OPEN:
        return state, [], None
    mark = predicted_mark(state)
    if mark in state.alerted or is_overdue(state.committed_due_at, now):
        return state, [], None
    proc = catalog.procedure(state.procedure, at=date.fromisoformat(state.procedure_version))
    if proc is None:
        return state, [], None
    found = predict(
        state,
        proc,
        cal,
        sketches,
        now,
        min_history=policy.min_history,
        tables=tables,
        pace_prior=policy.pace_prior,
    )
    if found is None or found.probability < policy.threshold:
        return state, [], found
    agency = state.current_agency or found.bottleneck_agency
    # The dossier scope's id (no step), though the alert names the bottleneck step.
    point = WatchPoint(
        now, state.dossier_id, AlertScope.DOSSIER, AlertLevel.PREDICTED_LATE, None, agency,
        state.committed_due_at, state.deadline_version,
    )  # fmt: skip
    level = ESCALATES_AS[AlertLevel.PREDICTED_LATE]
    alert = point_alert(
        state,
        point,
        now,
        proc.name_vi,
        alert_recipients(catalog, level, AlertScope.DOSSIER, agency),
        found,
    )
    new = state.model_copy(update={"alerted": (*state.alerted, mark)})
    return new, [alert], found
