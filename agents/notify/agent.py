"""The faust wiring: the ``notifier`` agent on the alerts topic and its table of handled ids.

Failure records are produced (and confirmed) before the handled ids are written, and the
batch is acked only after both (docs/alerts.md). The worker refuses to start when a
webhook the catalog names has no secret to be signed with.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agents.notify.batch import deliver_batch
from agents.notify.channel import DeliveryOutcome, masked_url
from agents.notify.delivery import Notifier
from agents.notify.secrets import keys_at_start
from agents.notify.webhook import destination_refused
from agents.runtime.kafka_admin import DELIVERED_RETENTION_MS
from agents.settings import Settings
from events import Alert
from workflows.catalog import Catalog

log = logging.getLogger(__name__)

#: Alerts per agent iteration, and how long the agent waits to fill a batch. Alerts are
#: few (one per dossier and level), so batches are small; the batch exists so that a
#: slow receiver delays only the alerts of its own batch, and those run concurrently.
BATCH_MAX = 64
BATCH_WITHIN_S = 0.2


@dataclass
class NotifierParts:
    """What ``register_notifier`` added to the app."""

    agent: Any
    delivered: Any  # the table of handled alert ids


OutcomeHook = Callable[[Alert, DeliveryOutcome], None]


def register_notifier(
    app: Any,
    settings: Settings,
    topics: dict[str, Any],
    catalog: Catalog,
    *,
    on_outcome: OutcomeHook | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> NotifierParts:
    """Add the ``notifier`` agent on ``topics["alerts"]`` and its delivered-ids table.

    ``topics`` are the app's raw-bytes topics (``alerts``, ``alerts_failed``); ``catalog``
    says who each alert goes to; ``on_outcome`` runs for every delivery outcome (metrics).
    Raises ``NotifierRefused`` (the process ends with its one-line message) when a
    webhook of the catalog has no secret and unsigned webhooks are not allowed.
    """
    # Imported here: faust is heavy, and the rest of agents.notify is usable without it.
    from agents.runtime.acks import exit_unacked, settle_or_withhold
    from agents.runtime.tables import BatchedChangelogTable

    keys_at_start(catalog, settings)
    for agency, supervisor in catalog.webhook_supervisors():
        assert supervisor.webhook is not None
        refused = destination_refused(supervisor.webhook, settings.webhook_allowed_hosts)
        if refused is not None:
            log.warning(
                "agency %s, supervisor %r: webhook %s will be %s",
                agency,
                supervisor.name,
                masked_url(supervisor.webhook),
                refused,
            )
    if not settings.smtp_host:
        log.warning(
            "DOSSIERFLOW_SMTP_HOST is empty: e-mail is off; recipients without a webhook "
            "see their alerts only on %s",
            settings.topics.alerts,
        )
    delivered = BatchedChangelogTable(
        app,
        name=f"{settings.topics.alerts}-delivered",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        beacon=app.tables.beacon,
        extra_topic_configs={
            "cleanup.policy": "compact,delete",
            "retention.ms": str(DELIVERED_RETENTION_MS),
        },
    )
    app.tables.add(delivered)
    failed_topic = topics["alerts_failed"]

    async def handle(batch: Sequence[Any], notifier: Notifier) -> None:
        records = [(e.message.key, e.message.value) for e in batch]
        result = await deliver_batch(notifier, records, lambda k: k in delivered, clock)
        if on_outcome is not None:
            for alert, outcome in result.outcomes:
                try:
                    on_outcome(alert, outcome)
                except Exception:
                    log.exception("on_outcome hook failed")
        # 1. failure records first, confirmed by the broker: an alert is never remembered
        #    as handled while the news of its failure could still be lost.
        name = failed_topic.get_topic_name()
        pending = [
            await app.producer.send(name, key, value, None, None, None)
            for key, value in result.failed
        ]
        await asyncio.gather(*pending)
        # 2. then the delivered ids; the changelog partition is the alert record's.
        for index, key, mark in result.handled:
            delivered.stage(key, mark, batch[index])
        await delivered.flush_changelog()
        # 3. take_events acks the batch when this returns.

    # One batch at a time, deliveries within it concurrent: the batch is acked only when
    # all of it is handled, so a slow receiver holds back the next batch (bounded by the
    # retry budget) but never the other alerts of its own batch.
    @app.agent(topics["alerts"], name="notifier")  # type: ignore[untyped-decorator]
    async def notify(stream: Any) -> None:
        notifier = Notifier(settings, catalog, clock=clock)
        try:
            async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
                # Unfinished (SIGTERM, a failed write): not acked, delivered again later.
                async with settle_or_withhold(batch):
                    try:
                        await handle(batch, notifier)
                    except Exception:
                        # failure records or delivered ids not written (broker gone)
                        exit_unacked("notifier")
        finally:
            await notifier.close()

    return NotifierParts(agent=notify, delivered=delivered)
