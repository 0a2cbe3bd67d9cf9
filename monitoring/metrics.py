"""Every metric dossierflow exports, in one place, against an injected registry.

Names are public API: dashboards, alert rules and people depend on them. Review
a change here like an API change. Label choices and the cardinality budget are
in docs/metrics.md: procedure is never a label (2,000 procedures); sector (~80)
and agency (~300) are.

Counters count what this worker did. Gauges (open dossiers, overdue) describe
the partitions this worker owns, labelled with ``worker``: the sum over workers
is the truth, a rebalance moves the numbers, and a restart rebuilds them from
state rather than from zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

PREFIX = "dossierflow"

#: Processing time buckets in working days: same-day, short, ~statutory ranges.
WORKING_DAY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90)


#: Sample names as Prometheus shows them (a counter's end in ``_total``; a histogram's
#: series add ``_bucket``, ``_count``, ``_sum``): dashboards and alert rules import these.
EVENTS_CONSUMED = f"{PREFIX}_events_consumed_total"
DEAD_LETTERS = f"{PREFIX}_dead_letters_total"
ANOMALIES = f"{PREFIX}_anomalies_total"
ASSIGNMENTS = f"{PREFIX}_assignments_total"
COMPLETIONS = f"{PREFIX}_completions_total"
PROCESSING_DAYS = f"{PREFIX}_processing_working_days"
WORKING_DAYS_USED = f"{PREFIX}_working_days_used_total"
WORKING_DAYS_SAVED = f"{PREFIX}_working_days_saved_total"
WORKING_DAYS_OVERRUN = f"{PREFIX}_working_days_overrun_total"
OVERRUN_ATTRIBUTED = f"{PREFIX}_overrun_attributed_working_days_total"
ALERTS_RAISED = f"{PREFIX}_alerts_raised_total"
ALERT_DELIVERIES = f"{PREFIX}_alert_deliveries_total"
PREDICTED_LATE = f"{PREFIX}_predicted_late_total"
ROUTER_BATCH_SECONDS = f"{PREFIX}_router_batch_seconds"
ROUTER_RECORDS = f"{PREFIX}_router_records_total"
OPEN_DOSSIERS = f"{PREFIX}_open_dossiers"
OPEN_OVERDUE = f"{PREFIX}_open_overdue"
WATCHED_DOSSIERS = f"{PREFIX}_watched_dossiers"
CONSUMER_LAG = f"{PREFIX}_consumer_lag"
PARKED_DOSSIERS = f"{PREFIX}_parked_dossiers"
PARKED_BYTES = f"{PREFIX}_parked_bytes"
OFFICE_HOURS_OPEN = f"{PREFIX}_office_hours_open"


@dataclass(frozen=True)
class Metrics:
    events_consumed: Counter
    dead_letters: Counter
    anomalies: Counter
    assignments: Counter
    completions: Counter
    processing_days: Histogram
    working_days_used: Counter
    working_days_saved: Counter
    working_days_overrun: Counter
    overrun_attributed: Counter
    alerts_raised: Counter
    alert_deliveries: Counter
    predicted_late: Counter
    router_batch_seconds: Histogram
    router_records: Counter
    open_dossiers: Gauge
    open_overdue: Gauge
    watched_dossiers: Gauge
    consumer_lag: Gauge
    parked_dossiers: Gauge
    parked_bytes: Gauge
    office_hours_open: Gauge
    registry: CollectorRegistry


def create_metrics(registry: CollectorRegistry) -> Metrics:
    # No ``_created`` series: one more sample per counter and histogram series that no
    # dashboard or rule reads. prometheus_client's switch is process-wide; every registry
    # the engine exports is made beside this call.
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

    # prometheus_client drops a counter's "_total" from the name it is given and adds it
    # back on export, so the constants above are both what is registered and what is read.
    def counter(name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
        return Counter(name, documentation, labels, registry=registry)

    def gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=registry)

    def histogram(name: str, documentation: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, documentation, buckets=buckets, registry=registry)

    return Metrics(
        events_consumed=counter(
            EVENTS_CONSUMED,
            "Inbound events applied by the router, by event type and publishing agency.",
            ("type", "agency"),
        ),
        dead_letters=counter(
            DEAD_LETTERS,
            "Records sent to the dead-letter topic, by reason kind.",
            ("reason",),
        ),
        anomalies=counter(
            ANOMALIES,
            "Events applied but flagged (e.g. an off-route hand-off), by kind: on the "
            "anomalies topic, not the dead-letter topic.",
            ("kind",),
        ),
        assignments=counter(
            ASSIGNMENTS,
            "Dossiers routed to an agency's inbox (one per step assignment).",
            ("agency",),
        ),
        completions=counter(
            COMPLETIONS,
            "Dossiers whose processing ended (result ready), by sector and class.",
            ("sector", "completion"),
        ),
        # No sector label on the histogram: 17 series a sector would cost ~2,000 series
        # for the national catalog's ~130 sectors. Per-sector means come from the counter.
        processing_days=histogram(
            PROCESSING_DAYS,
            "Working days a dossier took from receipt to result, supplement pauses excluded.",
            WORKING_DAY_BUCKETS,
        ),
        working_days_used=counter(
            WORKING_DAYS_USED,
            "Working days used from receipt to result (pauses excluded), summed by sector.",
            ("sector",),
        ),
        working_days_saved=counter(
            WORKING_DAYS_SAVED,
            "Statutory working days minus working days used, summed over completed dossiers.",
            ("sector",),
        ),
        working_days_overrun=counter(
            WORKING_DAYS_OVERRUN,
            "Working days used beyond the statutory time, summed over completed dossiers.",
            ("sector",),
        ),
        # Step ids, not procedures: a few dozen ids are shared by the catalog's routes
        # (receive, review, sign, ...), so agency x step stays near the assignments' size.
        overrun_attributed=counter(
            OVERRUN_ATTRIBUTED,
            "Working days late dossiers ran over their committed time, attributed to the "
            "agency and step that caused them (docs/attribution.md), by phase: waiting in "
            "the inbox, working, or whole (no step.started).",
            ("agency", "step", "phase"),
        ),
        alerts_raised=counter(
            ALERTS_RAISED,
            "Deadline alerts raised, by level and scope.",
            ("level", "scope"),
        ),
        # Both labels from the catalog: the agency and step expected to be the bottleneck.
        predicted_late=counter(
            PREDICTED_LATE,
            "Open dossiers warned of as probably late (predicted_late alerts), by the agency "
            "and step expected to be the bottleneck (docs/alerts.md, 'Predicted late').",
            ("agency", "step"),
        ),
        alert_deliveries=counter(
            ALERT_DELIVERIES,
            "Alert deliveries to supervisors, by channel and result (delivered/failed).",
            ("channel", "result"),
        ),
        router_batch_seconds=histogram(
            ROUTER_BATCH_SECONDS,
            "Wall time the router spent on one batch, outputs and changelog included.",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        ),
        router_records=counter(
            ROUTER_RECORDS,
            "Records read by the router, by topic kind (events/ticks).",
            ("kind",),
        ),
        open_dossiers=gauge(
            OPEN_DOSSIERS,
            "Open dossiers on this worker's partitions, by the agency holding them and status.",
            ("worker", "agency", "status"),
        ),
        open_overdue=gauge(
            OPEN_OVERDUE,
            "Open dossiers past their committed due instant on this worker's partitions.",
            ("worker", "agency", "scope"),
        ),
        watched_dossiers=gauge(
            WATCHED_DOSSIERS,
            "Dossiers in this worker's deadline index.",
            ("worker",),
        ),
        # Per topic and partition of the worker's group (agents/runtime/lag.py, every 2 s);
        # absent while the broker does not answer, rather than a stale figure.
        consumer_lag=gauge(
            CONSUMER_LAG,
            "Records on a partition this worker consumes not yet committed by its group "
            "(end offset minus committed offset).",
            ("worker", "topic", "partition"),
        ),
        # No worker label: the router's batch result carries no worker name; Prometheus'
        # instance label tells workers apart.
        parked_dossiers=gauge(
            PARKED_DOSSIERS,
            "Dossiers with events waiting for their receipt in this worker's parked table.",
        ),
        parked_bytes=gauge(
            PARKED_BYTES,
            "Bytes the parked events take in this worker's parked table (bounded in total).",
        ),
        # Set at each scrape from the worker's own clock and working calendar: rules ask it
        # whether agencies are at work (Tết, make-up Saturdays, lunch) instead of hour().
        office_hours_open=gauge(
            OFFICE_HOURS_OPEN,
            "1 while the working calendar is in office hours at the worker's clock, else 0.",
        ),
        registry=registry,
    )
