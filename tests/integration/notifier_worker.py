"""A worker that runs only the notifier, for tests/integration/test_notifier_kafka.py.

Run as ``python tests/integration/notifier_worker.py`` with the usual ``DOSSIERFLOW_*``
environment. The app is configured as ``agents.runtime.app.create_app`` configures it (same
faust options, raw-bytes topics) but holds nothing except ``register_notifier`` and a
``/health`` page, so the test exercises the delivery path alone, without the router or
its tables. Recipients come from the catalog ``DOSSIERFLOW_CATALOG_PATH`` names, as in
the worker.
"""

from __future__ import annotations

from typing import Any

import faust

from agents.notify.agent import register_notifier
from agents.runtime.faust_config import app_options
from agents.runtime.kafka_admin import ensure_topics
from agents.settings import Settings
from workflows.catalog import load_catalog


def build(settings: Settings) -> faust.App:
    # The same faust options as the worker (plain faust consumer: no router here).
    app = faust.App(settings.app_id, **app_options(settings))
    names = settings.topics
    topics = {
        logical: app.topic(getattr(names, logical), key_serializer="raw", value_serializer="raw")
        for logical in ("alerts", "alerts_failed")
    }
    register_notifier(app, settings, topics, load_catalog(settings.catalog_path))

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
