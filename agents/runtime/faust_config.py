"""The faust options every dossierflow app is built with, from one Settings object."""

from __future__ import annotations

from typing import Any

from agents.settings import Settings


def app_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``faust.App(settings.app_id, **app_options(settings))``."""
    return {
        "broker": settings.faust_broker,
        "store": settings.store,
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "processing_guarantee": "at_least_once",
        "producer_acks": -1,
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": settings.session_timeout_seconds,
        "broker_heartbeat_interval": settings.heartbeat_interval_seconds,
        "broker_rebalance_timeout": settings.rebalance_timeout_seconds,
        "consumer_group_instance_id": settings.group_instance_id,
        "web_enabled": True,
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "web_bind": settings.web_host,
        # faust's own views are off: /router/ and /table/ would show the cluster's layout
        # and every table's content to anyone who reaches the port (docs/security.md
        # "Reads"); the index, stats, graph and performance pages add nothing we need.
        "web_router_enabled": False,
        "web_tables_enabled": False,
        "web_stats_enabled": False,
        "web_graph_enabled": False,
        "web_metrics_enabled": False,
        # forwards a status-API request to the dossier's owner with the caller's address
        "Router": "agents.runtime.forwarding:ForwardingRouter",
        "autodiscover": False,
        "key_serializer": "raw",
        "value_serializer": "raw",
        # faust reads its settings from the environment too (BROKER_SESSION_TIMEOUT,
        # WEB_PORT, ...) and those win over the arguments above: Settings is the one source.
        "env": {},
        # TLS and SASL/SCRAM as the engine principal (Settings.kafka_security)
        **settings.kafka_security("engine").faust_app_kwargs(),
    }
