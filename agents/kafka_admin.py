"""Topic creation with the partition counts and configs the engine relies on."""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from agents.settings import Settings

log = logging.getLogger(__name__)

_WEEK_MS = 7 * 24 * 3600 * 1000

#: Per-topic configs. The dead-letter topic keeps records long enough for a person to look.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    "events": {"retention.ms": str(4 * _WEEK_MS)},
    "dlq": {"retention.ms": str(8 * _WEEK_MS)},
    "assignments": {"retention.ms": str(4 * _WEEK_MS)},
    "alerts": {"retention.ms": str(4 * _WEEK_MS)},
    "alerts_failed": {"retention.ms": str(8 * _WEEK_MS)},
    "ticks": {"retention.ms": str(24 * 3600 * 1000)},
}


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the engine's topics if missing; return the names created now."""
    names = settings.topics
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.app_id}-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=getattr(names, logical),
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=config,
            )
            for logical, config in TOPIC_CONFIGS.items()
            if getattr(names, logical) not in existing
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
