"""When a dossier or its current step is due soon, overdue, or past the statutory time.

Pure: the watcher in ``agents/`` asks ``next_watch_point`` when to look at a
dossier again, and when that instant passes it sends a ``DeadlineTick`` through
Kafka to the router, which applies it with ``apply_tick`` in stream order. The
state remembers which alerts it raised, so a tick delivered twice, or raised by
two workers around a rebalance, alerts once.

Levels (DESIGN.md, issue "Overdue detection"):

* ``due_soon``: the earlier of "``fraction`` of the allotment used" and
  "``days_left`` working days left", but never before half the allotment is
  used, so a half-day step does not alert the moment it is assigned;
* ``overdue``: the committed due instant passed (step or dossier);
* ``statutory_breach``: the statutory due instant passed (dossier only);
* ``reminder`` (off unless ``reminder_every_days`` > 0): the dossier is still open and
  overdue every N working days after its committed due instant; each reminder (n = 1,
  2, ...) has its own id and goes one escalation level above the overdue alert's. After
  a stop (a worker down for days) one reminder is raised, numbered by the intervals
  that passed, not one per missed interval.

Paused, result-ready and closed dossiers have no watch points. A pause or a
reschedule bumps ``deadline_version``: every level re-arms against the new
deadlines (and gets a new alert id).
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from events import Alert, AlertLevel, AlertScope
from events.internal import DeadlineTick
from workflows.alert_record import alert_recipients, point_alert
from workflows.calendar import WORKING_DAY, WorkingCalendar
from workflows.catalog import Catalog
from workflows.deadlines import paused_working_time
from workflows.state import DossierState, Status
from workflows.state_header import StateHeader


@dataclass(frozen=True)
class AlertPolicy:
    due_soon_fraction: float = 0.75
    due_soon_days_left: float = 1.0
    #: ``due_soon`` never fires before this share of the allotment is used.
    due_soon_floor: float = 0.5
    #: working days between reminders while a dossier stays overdue; 0: no reminders
    reminder_every_days: float = 0.0

    @property
    def reminder_every(self) -> timedelta | None:
        return WORKING_DAY * self.reminder_every_days if self.reminder_every_days > 0 else None


class WatchPoint(NamedTuple):
    """An instant at which a dossier reaches an alert level (ordered by instant, then the
    other fields; a named tuple: a tick builds several for every dossier it looks at)."""

    at: datetime
    dossier_id: str
    scope: AlertScope
    level: AlertLevel
    step: str | None
    agency: str
    due_at: datetime
    deadline_version: int
    #: the reminder's number (``reminder`` level only)
    reminder: int = 0

    @property
    def mark(self) -> str:
        """What the state remembers once this point alerted."""
        return alert_mark(self.scope, self.level, self.step, self.deadline_version, self.reminder)


def alert_mark(
    scope: AlertScope, level: AlertLevel, step: str | None, version: int, reminder: int = 0
) -> str:
    mark = f"{scope.value[0]}{_LEVEL_CODE[level]}{version}:{step or ''}"
    return f"{mark}#{reminder}" if reminder else mark


_LEVEL_CODE = {
    AlertLevel.DUE_SOON: "s",
    AlertLevel.OVERDUE: "o",
    AlertLevel.STATUTORY_BREACH: "b",
    AlertLevel.REMINDER: "r",
    AlertLevel.PREDICTED_LATE: "p",  # workflows.prediction
}


def watch_points(
    state: DossierState, cal: WorkingCalendar, policy: AlertPolicy
) -> Iterator[WatchPoint]:
    """Every level the dossier can still reach under its current deadlines, not yet alerted."""
    if state.status is not Status.OPEN:
        return
    alerted = state.alerted
    for mark, candidate in _candidates(state, cal, policy):
        if mark not in alerted:
            yield candidate
    every = policy.reminder_every
    if every is not None:
        due = state.committed_due_at
        n = _reminders_sent(state) + 1
        at = cal.add_working_time(due, every * n)
        row = state.current_row
        agency = state.current_agency or (row.agency if row else "")
        yield WatchPoint(
            at, state.dossier_id, AlertScope.DOSSIER, AlertLevel.REMINDER, None, agency, due,
            state.deadline_version, n,
        )  # fmt: skip


#: id(state) -> (the state, weakly; calendar; policy; its candidate points with their marks).
#: A tick computes them for the state it loads, ``apply_tick`` passes them on to the state
#: it returns (the same deadlines, one more mark), and the router stamps that state with
#: its next watch point at the end of its batch: computed once, not twice. Keyed by
#: identity (a state is immutable; the weak reference tells a reused id), bounded.
_CANDIDATES: dict[
    int,
    tuple[
        weakref.ref[DossierState], WorkingCalendar, AlertPolicy, tuple[tuple[str, WatchPoint], ...]
    ],
] = {}
_CANDIDATES_MAX = 4096


def _candidates(
    state: DossierState, cal: WorkingCalendar, policy: AlertPolicy
) -> tuple[tuple[str, WatchPoint], ...]:
    """The levels of an open dossier under its current deadlines, alerted or not, with their
    marks, in ``watch_points``' order."""
    found = _CANDIDATES.get(id(state))
    if found is not None and found[0]() is state and found[1] is cal and found[2] == policy:
        return found[3]
    points = tuple((p.mark, p) for p in _compute_candidates(state, cal, policy))
    _remember(state, cal, policy, points)
    return points


def _remember(
    state: DossierState,
    cal: WorkingCalendar,
    policy: AlertPolicy,
    points: tuple[tuple[str, WatchPoint], ...],
) -> None:
    if len(_CANDIDATES) >= _CANDIDATES_MAX:
        _CANDIDATES.clear()
    _CANDIDATES[id(state)] = (weakref.ref(state), cal, policy, points)


def _pass_on(state: DossierState, derived: DossierState) -> DossierState:
    """``derived`` (``state`` with other marks or another stamp: the same deadlines) gets
    the candidate points computed for ``state``, if any."""
    found = _CANDIDATES.get(id(state))
    if found is not None and found[0]() is state:
        _remember(derived, found[1], found[2], found[3])
    return derived


def _compute_candidates(
    state: DossierState, cal: WorkingCalendar, policy: AlertPolicy
) -> list[WatchPoint]:
    version = state.deadline_version
    row = state.current_row
    agency = state.current_agency or (row.agency if row else "")

    def point(
        at: datetime,
        scope: AlertScope,
        level: AlertLevel,
        step: str | None,
        agency: str,
        due: datetime,
    ) -> WatchPoint:
        return WatchPoint(at, state.dossier_id, scope, level, step, agency, due, version)

    candidates = [
        point(
            _due_soon_at(cal, state.start_at, state.committed_due_at, policy, state),
            AlertScope.DOSSIER,
            AlertLevel.DUE_SOON,
            None,
            agency,
            state.committed_due_at,
        ),
        point(
            state.committed_due_at,
            AlertScope.DOSSIER,
            AlertLevel.OVERDUE,
            None,
            agency,
            state.committed_due_at,
        ),
        point(
            state.statutory_due_at,
            AlertScope.DOSSIER,
            AlertLevel.STATUTORY_BREACH,
            None,
            agency,
            state.statutory_due_at,
        ),
    ]
    if row is not None:
        candidates += [
            point(
                _due_soon_at(cal, state.clock_start(row), row.due_at, policy, state),
                AlertScope.STEP,
                AlertLevel.DUE_SOON,
                row.step,
                row.agency,
                row.due_at,
            ),
            point(
                row.due_at, AlertScope.STEP, AlertLevel.OVERDUE, row.step, row.agency, row.due_at
            ),
        ]
    return candidates


def _reminders_sent(state: DossierState) -> int:
    """The number of the last reminder raised under the current deadlines (0: none)."""
    prefix = alert_mark(AlertScope.DOSSIER, AlertLevel.REMINDER, None, state.deadline_version)
    sent = [int(m[len(prefix) + 1 :]) for m in state.alerted if m.startswith(prefix + "#")]
    return max(sent, default=0)


def _catch_up(
    point: WatchPoint, now: datetime, cal: WorkingCalendar, every: timedelta
) -> WatchPoint:
    """A due reminder numbered by the intervals passed by ``now``: after days without a
    tick (a worker down) one reminder is raised, not one per missed interval."""
    n = max(point.reminder, cal.working_time_between(point.due_at, now) // every)
    if n == point.reminder:
        return point
    at = cal.add_working_time(point.due_at, every * n)
    return point._replace(at=at, reminder=n)


def next_watch_point(
    state: DossierState, cal: WorkingCalendar, policy: AlertPolicy
) -> WatchPoint | None:
    """The earliest level still to come (or already passed and not alerted yet)."""
    return min(watch_points(state, cal, policy), default=None)


#: Bump when watch_points' rules change: every stored watch instant is then recomputed.
WATCH_RULES_VERSION = 1


def watch_key(cal: WorkingCalendar, policy: AlertPolicy) -> str:
    """Names what a dossier's next watch instant depends on besides its state: the
    calendar, the alert policy and these rules. A stored instant is valid under its key."""
    parts = (WATCH_RULES_VERSION, cal.fingerprint, policy)
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:12]


def stamp_watch(
    state: DossierState, cal: WorkingCalendar, policy: AlertPolicy, key: str
) -> DossierState:
    """``state`` with its next watch instant computed and stored (``key``: ``watch_key``)."""
    point = next_watch_point(state, cal, policy)
    stamped = state.model_copy(update={"watch_at": point.at if point else None, "watch_key": key})
    return _pass_on(state, stamped)


def unstamped(state: DossierState) -> DossierState:
    """``state`` without a stored watch instant (before ``apply`` derives new states from
    it: a copy must not carry an instant computed for its predecessor)."""
    if state.watch_key is None and state.watch_at is None:
        return state
    return _pass_on(state, state.model_copy(update={"watch_at": None, "watch_key": None}))


def stamped_watch(state: DossierState, key: str) -> tuple[bool, datetime | None]:
    """(True, the stored instant or None for nothing to watch) when ``state`` was stamped
    under ``key``; (False, None) when it must be computed (``next_watch_point``)."""
    if state.watch_key != key:
        return False, None
    return True, state.watch_at


def is_overdue(due: datetime, now: datetime) -> bool:
    """The one overdue rule: a deadline is missed AT its due instant (a tick at ``due``
    raises the alert), so the watcher, the report and the charts agree at the boundary."""
    return due <= now


def due_points(
    state: DossierState, now: datetime, cal: WorkingCalendar, policy: AlertPolicy
) -> list[WatchPoint]:
    """Every level reached by ``now`` and not alerted: what a tick at ``now`` raises."""
    due = [p for p in watch_points(state, cal, policy) if is_overdue(p.at, now)]
    every = policy.reminder_every
    if every is not None:
        due = [_catch_up(p, now, cal, every) if p.reminder else p for p in due]
    return sorted(due)


def _told_at_once(points: list[WatchPoint]) -> bool:
    """Whether ``points`` tell of the dossier's overdue deadline itself: a reminder due in
    the same tick (a dossier found overdue late, e.g. after a pause) is then passed over
    (remembered, not sent): it would remind of news a minute old."""
    return any(p.level is AlertLevel.OVERDUE and p.scope is AlertScope.DOSSIER for p in points)


def apply_tick(
    state: DossierState,
    tick: DeadlineTick,
    catalog: Catalog,
    cal: WorkingCalendar,
    policy: AlertPolicy,
) -> tuple[DossierState, list[Alert]]:
    """Raise every alert due at ``tick.detected_at``; remember them so none repeats.

    A stale tick (the dossier was paused, rescheduled, moved on or closed since the
    watcher looked) raises only what is still due under the current state.
    """
    points = due_points(state, tick.detected_at, cal, policy)
    if not points:
        return state, []
    passed_over = [p for p in points if p.reminder] if _told_at_once(points) else []
    sent = [p for p in points if p not in passed_over]
    proc = catalog.procedure(state.procedure)
    name = proc.name_vi if proc is not None else None
    alerts = [
        point_alert(
            state, p, tick.detected_at, name, alert_recipients(catalog, p.level, p.scope, p.agency)
        )
        for p in sent
    ]
    current = _current_marks(state)
    # Of the reminders only the last raised is kept: it is all the next one needs.
    latest = max((p.reminder for p in points), default=0) or _reminders_sent(state)
    if latest:
        current.add(
            alert_mark(
                AlertScope.DOSSIER, AlertLevel.REMINDER, None, state.deadline_version, latest
            )
        )
    kept = tuple(m for m in state.alerted if m in current)
    marks = kept + tuple(p.mark for p in points if p.mark not in kept)
    return _pass_on(state, state.model_copy(update={"alerted": marks})), alerts


def _current_marks(state: DossierState) -> set[str]:
    """Marks that can still matter: this deadline version, dossier scope or current step."""
    return set(_marks_of(state.current_step or "", state.deadline_version))


@functools.lru_cache(maxsize=1024)
def _marks_of(step: str, version: int) -> frozenset[str]:
    return frozenset(
        alert_mark(scope, level, s, version)
        for scope, s in ((AlertScope.DOSSIER, ""), (AlertScope.STEP, step))
        for level in AlertLevel
    )


def _due_soon_at(
    cal: WorkingCalendar,
    start: datetime,
    due: datetime,
    policy: AlertPolicy,
    state: DossierState,
) -> datetime:
    """The instant with ``left`` working time before ``due``, where ``left`` is judged
    against the allotment itself: supplement pauses (which moved ``due``) are not part
    of the time the agency was given."""
    span = cal.working_time_between(start, due)
    if span <= timedelta(0):
        return due
    pauses = [(p.requested_at, p.received_at) for p in state.pauses if p.received_at is not None]
    allotment = span - paused_working_time(cal, pauses, within=(start, due)) if pauses else span
    if allotment <= timedelta(0):
        return due
    left = max(allotment * (1 - policy.due_soon_fraction), WORKING_DAY * policy.due_soon_days_left)
    left = min(left, allotment * (1 - policy.due_soon_floor))
    return cal.add_working_time(start, span - left)


def overdue_scopes(state: DossierState | StateHeader) -> tuple[AlertScope, ...]:
    """Which of the dossier's open deadlines have been reported overdue (for gauges)."""
    if state.status is not Status.OPEN or not state.alerted:
        return ()
    marks = set(state.alerted)
    version = state.deadline_version
    scopes = []
    if alert_mark(AlertScope.STEP, AlertLevel.OVERDUE, state.current_step, version) in marks:
        scopes.append(AlertScope.STEP)
    if alert_mark(AlertScope.DOSSIER, AlertLevel.OVERDUE, None, version) in marks:
        scopes.append(AlertScope.DOSSIER)
    return tuple(scopes)
