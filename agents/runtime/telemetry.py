"""What the router's batches do to the metrics: counters, and the open/overdue gauges.

Open and overdue dossier counts are for the partitions this worker owns.

Kept incrementally (each state change moves one dossier between buckets) and
rebuilt from the table after every rebalance, so the numbers survive restarts
and move with partitions. Exported with a ``worker`` label: the sum over
workers is the province's truth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from prometheus_client import Gauge

from agents.runtime.router import BatchResult, RawRecord
from events import AlertLevel
from monitoring.metrics import Metrics
from workflows.alerts import overdue_scopes
from workflows.attribution import Part, attribute
from workflows.calendar import WorkingCalendar
from workflows.catalog import Catalog
from workflows.deadlines import Completion, working_days_in
from workflows.effects import Anomaly, Assign, Completed
from workflows.routing import RoutingContext
from workflows.state import DossierState
from workflows.state_header import StateHeader

Bucket = tuple[str, str]  # (agency, status) or (agency, scope)


#: The ``agency`` label of every code the catalog does not know: a publisher cannot make
#: series by sending random agency codes.
OTHER_AGENCY = "other"


class AgencyLabels:
    """Label values for ``agency`` only from the catalog's codes (and ``-``: no agency)."""

    def __init__(self, known: Iterable[str] | None = None) -> None:
        self.known = None if known is None else frozenset(known) | {"-"}

    def __call__(self, code: str) -> str:
        return code if self.known is None or code in self.known else OTHER_AGENCY


ANY_AGENCY = AgencyLabels()

#: The ``step`` label of a step id the catalog does not have, and of the wait after the
#: last step (no step open).
OTHER_STEP = "other"
NO_STEP = "-"


class StepLabels:
    """Label values for ``step`` only from the catalog's step ids, like ``AgencyLabels``."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.known = (
            None
            if catalog is None
            else frozenset(s.id for vs in catalog.procedures.values() for p in vs for s in p.steps)
        )

    def __call__(self, step: str | None) -> str:
        if step is None:
            return NO_STEP
        return step if self.known is None or step in self.known else OTHER_STEP


class OverrunAttribution:
    """Counts a late dossier's overrun, split as ``workflows.attribution`` splits it, by
    agency, step and phase, once: when its ``Completed`` effect says it ended late.

    The split is computed here, in the shell, from the state after the batch: the effect
    carries figures, not the sheet, and ``attribute`` is pure and needs the router's
    calendar and reschedule policy (``ctx``), so the metric and the report agree.
    """

    def __init__(self, ctx: RoutingContext, agency: AgencyLabels = ANY_AGENCY) -> None:
        self.calendar = ctx.calendar
        self.rescheduled_counts_late = ctx.policy.rescheduled_counts_late
        self.agency = agency
        self.step = StepLabels(ctx.catalog)

    def record(self, metrics: Metrics, state: DossierState | None) -> None:
        if state is None or state.outcome is None:
            return
        found = attribute(
            state,
            self.calendar,
            state.outcome.finished_at,
            rescheduled_counts_late=self.rescheduled_counts_late,
        )
        if found is None:
            return
        for part in found.parts:
            agency, step = self.agency(part.agency), self.step(part.step)
            for phase, amount in phases(part):
                if amount > timedelta(0):
                    days = float(working_days_in(amount))
                    metrics.overrun_attributed.labels(agency, step, phase).inc(days)


def phases(part: Part) -> tuple[tuple[str, timedelta], ...]:
    """A part's share by phase: ``waiting`` and ``working`` where its row reported
    ``step.started``, else ``whole``."""
    if part.waiting_share is not None and part.working_share is not None:
        return (("waiting", part.waiting_share), ("working", part.working_share))
    return (("whole", part.share),)


def contribution(
    state: DossierState | StateHeader | None, label: AgencyLabels = ANY_AGENCY
) -> tuple[Bucket | None, tuple[Bucket, ...]]:
    if state is None or state.status.closed:
        return None, ()
    agency = label(state.current_agency or "-")
    return (agency, state.status.value), tuple((agency, s.value) for s in overdue_scopes(state))


class OpenGauges:
    def __init__(self, metrics: Metrics, worker: str, label: AgencyLabels = ANY_AGENCY) -> None:
        self.metrics = metrics
        self.worker = worker
        self.label = label
        self._open: dict[int, Counter[Bucket]] = {}
        self._overdue: dict[int, Counter[Bucket]] = {}

    def move(
        self,
        partition: int,
        before: DossierState | StateHeader | None,
        after: DossierState | StateHeader | None,
    ) -> None:
        old_open, old_late = contribution(before, self.label)
        new_open, new_late = contribution(after, self.label)
        opened = self._open.setdefault(partition, Counter())
        late = self._overdue.setdefault(partition, Counter())
        if old_open != new_open:
            if old_open is not None:
                opened[old_open] -= 1
            if new_open is not None:
                opened[new_open] += 1
        for bucket in old_late:
            late[bucket] -= 1
        for bucket in new_late:
            late[bucket] += 1

    def reset(self, owned: set[int]) -> None:
        """Forget every count; the ``owned`` partitions start at zero (then ``move`` each)."""
        self._open = {p: Counter() for p in owned}
        self._overdue = {p: Counter() for p in owned}

    def totals(self) -> tuple[Counter[Bucket], Counter[Bucket]]:
        opened: Counter[Bucket] = Counter()
        late: Counter[Bucket] = Counter()
        for counts in self._open.values():
            opened.update(counts)
        for counts in self._overdue.values():
            late.update(counts)
        return opened, late

    def export(self) -> None:
        """Publish the totals; buckets that fell to zero are set to 0, not left stale."""
        opened, late = self.totals()
        self._publish(self.metrics.open_dossiers, opened)
        self._publish(self.metrics.open_overdue, late)

    def _publish(self, gauge: Gauge, counts: Counter[Bucket]) -> None:
        """``counts`` by (agency, status or scope) into ``gauge``'s series of this worker."""
        for (agency, second), n in counts.items():
            gauge.labels(self.worker, agency, second).set(max(n, 0))
        for worker, agency, second in list(gauge._metrics):
            if worker == self.worker and (agency, second) not in counts:
                gauge.labels(worker, agency, second).set(0)


def record_batch(
    metrics: Metrics,
    result: BatchResult,
    records: Sequence[RawRecord],
    ticks_topic: str,
    label: AgencyLabels = ANY_AGENCY,
    overrun: OverrunAttribution | None = None,
) -> None:
    """Count one router batch: records read, events applied, dead letters, effects, alerts;
    set the parked-table gauges to the totals after it. With ``overrun``, each dossier that
    ended late in the batch has its overrun counted where it came from."""
    ticks = sum(1 for r in records if r.source.topic == ticks_topic)
    metrics.router_records.labels(kind="ticks").inc(ticks)
    metrics.router_records.labels(kind="events").inc(len(records) - ticks)
    for (kind, agency), n in result.consumed.items():
        metrics.events_consumed.labels(type=kind, agency=label(agency)).inc(n)
    for out in result.outgoing:
        if out.reason is not None:
            metrics.dead_letters.labels(reason=out.reason).inc()
    for _, effect in result.effects:
        if isinstance(effect, Assign):
            metrics.assignments.labels(agency=label(effect.agency)).inc()
        elif isinstance(effect, Anomaly):
            metrics.anomalies.labels(kind=effect.kind.value).inc()
        elif isinstance(effect, Completed):
            sector = effect.sector
            metrics.completions.labels(sector=sector, completion=effect.completion).inc()
            metrics.processing_days.observe(effect.used_days)
            metrics.working_days_used.labels(sector=sector).inc(max(effect.used_days, 0.0))
            if effect.saved_days >= 0:
                metrics.working_days_saved.labels(sector=sector).inc(effect.saved_days)
            else:
                metrics.working_days_overrun.labels(sector=sector).inc(-effect.saved_days)
            if overrun is not None and effect.completion == Completion.LATE:
                overrun.record(metrics, result.states.get(effect.dossier_id.encode("utf-8")))
    for alert in result.alerts:
        metrics.alerts_raised.labels(level=alert.level.value, scope=alert.scope.value).inc()
        if alert.level is AlertLevel.PREDICTED_LATE:
            bottleneck = label(alert.bottleneck_agency or alert.agency)
            metrics.predicted_late.labels(agency=bottleneck, step=alert.step or "").inc()
    metrics.parked_dossiers.set(result.parked.dossiers)
    metrics.parked_bytes.set(result.parked.size)


def office_hours_open(calendar: WorkingCalendar, now: datetime) -> int:
    """1 when ``now`` is a working instant of ``calendar`` (office hours of a working day:
    not Tết, not lunch, a make-up Saturday counts), else 0."""
    return 1 if calendar.is_working_instant(now) else 0
