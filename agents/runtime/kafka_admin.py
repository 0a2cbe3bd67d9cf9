"""Topic creation with the partition counts and configs the engine relies on."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from agents.settings import Settings
from events.topics import (
    CLOSED_TABLE,
    DELIVERED_TABLE,
    OPEN_TABLE,
    PARKED_TABLE,
    SKETCH_TABLE,
    changelog_topic,
)

log = logging.getLogger(__name__)

_WEEK_MS = 7 * 24 * 3600 * 1000
#: The access log's retention (docs/security.md "Reads"): over a year, with margin.
AUDIT_RETENTION_MS = 400 * 24 * 3600 * 1000

#: Per-topic configs. The dead-letter topic keeps records long enough for a person to look.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    # The broker stamps each event when it appends it: the record's time is not the
    # publisher's claim (key rotation and plausible time judge by it, docs/security.md).
    "events": {"retention.ms": str(4 * _WEEK_MS), "message.timestamp.type": "LogAppendTime"},
    "dlq": {"retention.ms": str(8 * _WEEK_MS)},
    # Applied-but-flagged events are part of an agency's record for the year's report.
    "anomalies": {"retention.ms": str(53 * _WEEK_MS)},
    "assignments": {"retention.ms": str(4 * _WEEK_MS)},
    "alerts": {"retention.ms": str(4 * _WEEK_MS)},
    "alerts_failed": {"retention.ms": str(8 * _WEEK_MS)},
    "ticks": {"retention.ms": str(24 * 3600 * 1000)},
    # Who read which dossier: the personal-data rules keep system logs at least 12 months;
    # 400 days with delete (never compact: every read is its own record).
    "audit": {"cleanup.policy": "delete", "retention.ms": str(AUDIT_RETENTION_MS)},
}


_DAY_MS = 24 * 3600 * 1000
#: Closed dossiers stay queryable this long; their changelog deletes them after.
CLOSED_RETENTION_MS = 90 * _DAY_MS
#: Delivered alert ids outlive the alerts topic (4 weeks): a re-read alert is known.
DELIVERED_RETENTION_MS = 35 * _DAY_MS


def _compact(retention_ms: int | None = None) -> dict[str, str]:
    if retention_ms is None:
        return {"cleanup.policy": "compact"}
    return {"cleanup.policy": "compact,delete", "retention.ms": str(retention_ms)}


def changelog_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """The changelogs of the worker's tables, named as faust names them, with their configs."""
    names = settings.topics
    tables = {
        f"{names.events}-{OPEN_TABLE}": _compact(),
        f"{names.events}-{CLOSED_TABLE}": _compact(CLOSED_RETENTION_MS),
        f"{names.events}-{PARKED_TABLE}": _compact(),
        f"{names.events}-{SKETCH_TABLE}": _compact(),
        f"{names.alerts}-{DELIVERED_TABLE}": _compact(DELIVERED_RETENTION_MS),
    }
    return {changelog_topic(settings.app_id, table): c for table, c in tables.items()}


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the engine's topics if missing; return the names created now."""
    names = settings.topics
    admin = KafkaAdminClient(
        **settings.kafka_python("engine"),
        client_id=f"{settings.app_id}-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        existing = set(admin.list_topics())
        configs = {getattr(names, logical): c for logical, c in TOPIC_CONFIGS.items()}
        # The tables' changelogs too: if faust creates them while a worker is already
        # being assigned partitions, an agent can start before its changelog exists
        # (PartitionsMismatch) and faust restarts it, acking what it held.
        configs.update(changelog_topics(settings))
        wanted = [
            NewTopic(
                name=name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=config,
            )
            for name, config in configs.items()
            if name not in existing
        ]
        if not wanted:
            return []
        try:
            admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000), wait_for_metadata=True)
        except TopicAlreadyExistsError:
            log.info("topics created concurrently by another worker")
        created = [t.name for t in wanted]
        log.info("created topics %s", ", ".join(created))
        return created
    finally:
        admin.close()
