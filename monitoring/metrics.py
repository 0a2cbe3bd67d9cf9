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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "dossierflow"

#: Processing time buckets in working days: same-day, short, ~statutory ranges.
WORKING_DAY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90)


@dataclass(frozen=True)
class Metrics:
    events_consumed: Counter
    dead_letters: Counter
    assignments: Counter
    completions: Counter
    processing_days: Histogram
    working_days_used: Counter
    working_days_saved: Counter
    working_days_overrun: Counter
    alerts_raised: Counter
    alert_deliveries: Counter
    router_batch_seconds: Histogram
    router_records: Counter
    open_dossiers: Gauge
    open_overdue: Gauge
    watched_dossiers: Gauge
    consumer_lag: Gauge
    parked_dossiers: Gauge
    parked_bytes: Gauge
    registry: CollectorRegistry


def create_metrics(registry: CollectorRegistry) -> Metrics:
    def name(short: str) -> str:
        return f"{PREFIX}_{short}"

    return Metrics(
        events_consumed=Counter(
            name("events_consumed"),
            "Inbound events applied by the router, by event type and publishing agency.",
            ["type", "agency"],
            registry=registry,
        ),
        dead_letters=Counter(
            name("dead_letters"),
            "Records sent to the dead-letter topic, by reason kind.",
            ["reason"],
            registry=registry,
        ),
        assignments=Counter(
            name("assignments"),
            "Dossiers routed to an agency's inbox (one per step assignment).",
            ["agency"],
            registry=registry,
        ),
        completions=Counter(
            name("completions"),
            "Dossiers whose processing ended (result ready), by sector and class.",
            ["sector", "completion"],
            registry=registry,
        ),
        # No sector label on the histogram: 17 series a sector would cost ~2,000 series
        # for the national catalog's ~130 sectors. Per-sector means come from the counter.
        processing_days=Histogram(
            name("processing_working_days"),
            "Working days a dossier took from receipt to result, supplement pauses excluded.",
            buckets=WORKING_DAY_BUCKETS,
            registry=registry,
        ),
        working_days_used=Counter(
            name("working_days_used"),
            "Working days used from receipt to result (pauses excluded), summed by sector.",
            ["sector"],
            registry=registry,
        ),
        working_days_saved=Counter(
            name("working_days_saved"),
            "Statutory working days minus working days used, summed over completed dossiers.",
            ["sector"],
            registry=registry,
        ),
        working_days_overrun=Counter(
            name("working_days_overrun"),
            "Working days used beyond the statutory time, summed over completed dossiers.",
            ["sector"],
            registry=registry,
        ),
        alerts_raised=Counter(
            name("alerts_raised"),
            "Deadline alerts raised, by level and scope.",
            ["level", "scope"],
            registry=registry,
        ),
        alert_deliveries=Counter(
            name("alert_deliveries"),
            "Alert deliveries to supervisors, by channel and result (delivered/failed).",
            ["channel", "result"],
            registry=registry,
        ),
        router_batch_seconds=Histogram(
            name("router_batch_seconds"),
            "Wall time the router spent on one batch, outputs and changelog included.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        ),
        router_records=Counter(
            name("router_records"),
            "Records read by the router, by topic kind (events/ticks).",
            ["kind"],
            registry=registry,
        ),
        open_dossiers=Gauge(
            name("open_dossiers"),
            "Open dossiers on this worker's partitions, by the agency holding them and status.",
            ["worker", "agency", "status"],
            registry=registry,
        ),
        open_overdue=Gauge(
            name("open_overdue"),
            "Open dossiers past their committed due instant on this worker's partitions.",
            ["worker", "agency", "scope"],
            registry=registry,
        ),
        watched_dossiers=Gauge(
            name("watched_dossiers"),
            "Dossiers in this worker's deadline index.",
            ["worker"],
            registry=registry,
        ),
        # Set when /metrics is scraped (end offsets are asked of the broker then); absent
        # while the broker does not answer, rather than a stale figure.
        consumer_lag=Gauge(
            name("consumer_lag"),
            "Records on a partition this worker consumes not yet committed by its group "
            "(end offset minus committed offset).",
            ["worker", "topic", "partition"],
            registry=registry,
        ),
        # No worker label: the router's batch result carries no worker name; Prometheus'
        # instance label tells workers apart.
        parked_dossiers=Gauge(
            name("parked_dossiers"),
            "Dossiers with events waiting for their receipt in this worker's parked table.",
            registry=registry,
        ),
        parked_bytes=Gauge(
            name("parked_bytes"),
            "Bytes the parked events take in this worker's parked table (bounded in total).",
            registry=registry,
        ),
        registry=registry,
    )
