"""``dossierflow report``: the province report from the engine's own state.

Reads the open- and closed-dossier tables through their changelog topics
(compacted: the latest state of every dossier), so it needs no worker running
and sees every partition.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from agents.settings import Settings
from agents.tools.kafka_read import MissingTopicError, read_records
from agents.tools.printable import json_escape, printable
from events.topics import CLOSED_TABLE, OPEN_TABLE
from events.topics import changelog_topic as table_changelog
from workflows.calendar import VN_TZ
from workflows.catalog import Catalog
from workflows.report import ProvinceReport, province_report, render_markdown, render_text
from workflows.state import DossierState


def changelog_topic(settings: Settings, table: str) -> str:
    """The changelog faust keeps for one of the router's tables (see agents/runtime/app.py)."""
    return table_changelog(settings.app_id, f"{settings.topics.events}-{table}")


def latest_values(
    bootstrap: list[str], topic: str, timeout_s: float = 60.0, **security: Any
) -> dict[bytes, bytes]:
    """The latest value of every key of ``topic``; a ``MissingTopicError`` when it is not there."""
    latest: dict[bytes, bytes | None] = {}
    for record in read_records(bootstrap, topic, timeout_s, must_exist=True, **security):
        latest[record.key] = record.value
    return {k: v for k, v in latest.items() if v is not None}


class NoEngineStateError(LookupError):
    """Neither table changelog has a dossier: the settings point where no engine wrote."""


def engine_states(settings: Settings) -> list[DossierState]:
    """Every dossier's latest state; a ``NoEngineStateError`` (one line naming the topics
    looked at) when there is none, rather than a report of zeros nobody computed."""
    login = settings.kafka_security("reader").kafka_python_kwargs()
    merged: dict[bytes, bytes] = {}
    looked: list[str] = []
    # open first: a closed dossier's latest state is in the closed table
    for topic in (changelog_topic(settings, OPEN_TABLE), changelog_topic(settings, CLOSED_TABLE)):
        try:
            found = latest_values(settings.bootstrap_servers, topic, **login)
        except MissingTopicError:
            looked.append(f"{topic} (missing)")
            continue
        merged.update(found)
        looked.append(topic if found else f"{topic} (empty)")
    if not merged:
        raise NoEngineStateError(
            f"no engine state found on {settings.broker} in {', '.join(looked)}: check "
            f"DOSSIERFLOW_TOPIC_PREFIX ({settings.topic_prefix!r}) and DOSSIERFLOW_APP_ID "
            f"({settings.app_id!r}), or let a worker process some events first"
        )
    return [DossierState.from_bytes(raw) for raw in merged.values()]


def build_report(settings: Settings, catalog: Catalog, now: datetime) -> ProvinceReport:
    """The report as of ``now``, its times in the calendar's zone (as the demo prints them)."""
    from agents.runtime.context import build_calendar

    # The lateness section counts working time: the deployment's office hours, not the default.
    calendar = build_calendar(settings)
    return province_report(
        engine_states(settings), catalog, now.astimezone(VN_TZ), calendar=calendar
    )


def render(report: ProvinceReport, fmt: str) -> str:
    """The report as text, Markdown or JSON, with anything unprintable escaped."""
    if fmt == "json":
        text = json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
        return printable(text, keep_newlines=True, escape=json_escape)
    text = render_markdown(report) if fmt == "markdown" else render_text(report)
    return printable(text, keep_newlines=True)
