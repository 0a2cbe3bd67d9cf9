"""A worker that runs only the notifier, for tests/integration/test_notifier_kafka.py.

Run as ``python tests/integration/notifier_worker.py`` with the usual ``DOSSIERFLOW_*``
environment. The app is configured as ``agents.app.create_app`` configures it (same
faust options, raw-bytes topics) but holds nothing except ``register_notifier`` and a
``/health`` page, so the test exercises the delivery path alone, without the catalog,
the router or its tables.
"""

from __future__ import annotations

from typing import Any

import faust

from agents.kafka_admin import ensure_topics
from agents.notify.agent import register_notifier
from agents.settings import Settings


def build(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=settings.faust_broker,
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        processing_guarantee="at_least_once",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    names = settings.topics
    topics = {
        logical: app.topic(getattr(names, logical), key_serializer="raw", value_serializer="raw")
        for logical in ("alerts", "alerts_failed")
    }
    register_notifier(app, settings, topics)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        tables: Any = app.tables  # typed as TableManagerT, which does not declare .recovery
        recovered = tables.recovery.completed.is_set()
        ready = recovered and not app.rebalancing
        return web.json({"ready": ready}, status=200 if ready else 503)

    return app


def main() -> None:
    settings = Settings()
    ensure_topics(settings)
    worker = faust.Worker(build(settings), loglevel="info", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
