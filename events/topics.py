"""Kafka topic names: the one place they are spelled."""

from __future__ import annotations

from dataclasses import dataclass, fields

DOSSIER_EVENTS = "dossier-events"
DOSSIER_EVENTS_DLQ = "dossier-events-dlq"
DOSSIER_EVENTS_ANOMALIES = "dossier-events-anomalies"
DOSSIER_ASSIGNMENTS = "dossier-assignments"
DOSSIER_ALERTS = "dossier-alerts"
DOSSIER_ALERTS_FAILED = "dossier-alerts-failed"
DOSSIER_DEADLINE_TICKS = "dossier-deadline-ticks"
DOSSIER_AUDIT = "dossier-audit"


@dataclass(frozen=True)
class TopicNames:
    """The topics one deployment uses; tests give each run its own prefix."""

    events: str = DOSSIER_EVENTS
    dlq: str = DOSSIER_EVENTS_DLQ
    #: applied but flagged (off-route): the DLQ means "not applied", this means "applied, look"
    anomalies: str = DOSSIER_EVENTS_ANOMALIES
    assignments: str = DOSSIER_ASSIGNMENTS
    alerts: str = DOSSIER_ALERTS
    alerts_failed: str = DOSSIER_ALERTS_FAILED
    #: internal: the deadline watcher's commands to the router (same partitioning)
    ticks: str = DOSSIER_DEADLINE_TICKS
    #: who read which dossier through the status API (events.audit), kept 400 days
    audit: str = DOSSIER_AUDIT

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        """Every default name behind ``prefix`` (``"t-1a2b-"`` gives ``t-1a2b-dossier-events``)."""
        base = cls()
        return cls(**{f.name: prefix + getattr(base, f.name) for f in fields(cls)})

    def all(self) -> tuple[str, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


#: The router's tables (faust names them ``<events topic>-<table>``) and the notifier's.
OPEN_TABLE = "open"
CLOSED_TABLE = "closed"
PARKED_TABLE = "parked"
DELIVERED_TABLE = "delivered"
#: the router's learnt step working times, per (partition, sketch key): issue 17
SKETCH_TABLE = "sketches"


def changelog_topic(app_id: str, table: str) -> str:
    """The changelog topic faust keeps for a table named ``table`` (its full name)."""
    return f"{app_id}-{table}-changelog"
