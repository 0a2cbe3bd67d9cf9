"""``dossierflow report``: the province report from the engine's own state.

Reads the open- and closed-dossier tables through their changelog topics
(compacted: the latest state of every dossier), so it needs no worker running
and sees every partition.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from agents.settings import Settings
from agents.tools.printable import json_escape, printable
from events.topics import CLOSED_TABLE, OPEN_TABLE
from events.topics import changelog_topic as table_changelog
from workflows.catalog import Catalog
from workflows.report import ProvinceReport, province_report, render_markdown, render_text
from workflows.state import DossierState


def changelog_topic(settings: Settings, table: str) -> str:
    """The changelog faust keeps for one of the router's tables (see agents/runtime/app.py)."""
    return table_changelog(settings.app_id, f"{settings.topics.events}-{table}")


def latest_values(
    bootstrap: list[str], topic: str, timeout_s: float = 60.0, **security: Any
) -> dict[bytes, bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **security)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return {}
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        latest: dict[bytes, bytes | None] = {}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} did not reach its end in {timeout_s:.0f}s")
            for batch in consumer.poll(timeout_ms=500, max_records=10_000).values():
                for record in batch:
                    latest[record.key] = record.value
        return {k: v for k, v in latest.items() if v is not None}
    finally:
        consumer.close()


def engine_states(settings: Settings) -> list[DossierState]:
    login = settings.kafka_security("reader").kafka_python_kwargs()
    servers = settings.bootstrap_servers
    opened = latest_values(servers, changelog_topic(settings, OPEN_TABLE), **login)
    closed = latest_values(servers, changelog_topic(settings, CLOSED_TABLE), **login)
    merged = {**opened, **closed}  # a closed dossier's latest state is in the closed table
    return [DossierState.from_bytes(raw) for raw in merged.values()]


def build_report(settings: Settings, catalog: Catalog, now: datetime) -> ProvinceReport:
    from agents.runtime.context import build_calendar

    # The lateness section counts working time: the deployment's office hours, not the default.
    calendar = build_calendar(settings)
    return province_report(engine_states(settings), catalog, now, calendar=calendar)


def render(report: ProvinceReport, fmt: str) -> str:
    """The report as text, Markdown or JSON, with anything unprintable escaped."""
    if fmt == "json":
        text = json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
        return printable(text, keep_newlines=True, escape=json_escape)
    text = render_markdown(report) if fmt == "markdown" else render_text(report)
    return printable(text, keep_newlines=True)
