"""``dossierflow export``: the process control sheets as an event log for process-mining
tools (PM4Py, Disco, Celonis), as CSV or IEEE 1849 XES."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import quoteattr

from workflows.calendar import VN_TZ
from workflows.state import DossierState

__all__ = ["CSV_COLUMNS", "LogEvent", "log_events", "to_csv", "to_xes"]


@dataclass(frozen=True)
class LogEvent:
    """One lifecycle transition of one step instance: the agency got it, or finished it."""

    case: str  # the dossier
    activity: str  # the step
    resource: str  # the agency
    lifecycle: str  # "start" or "complete"
    timestamp: datetime
    instance: int  # the sheet row: pairs a step's start with its complete (re-visits)
    procedure: str
    sector: str
    off_route: bool


#: The CSV header: a case id, an activity, a resource, a timestamp and the lifecycle, the
#: columns every tool asks to be mapped on import; the rest are case and event attributes.
CSV_COLUMNS = (
    "case_id",
    "activity",
    "resource",
    "lifecycle",
    "timestamp",
    "instance",
    "procedure",
    "sector",
    "off_route",
)


def log_events(states: Iterable[DossierState]) -> list[LogEvent]:
    """Every sheet row as a start (when the agency got the dossier) and, once finished, a
    complete; by case, then in time order (a row's complete before the next row's start)."""
    out: list[LogEvent] = []
    for state in sorted(states, key=lambda s: s.dossier_id):
        trace: list[tuple[datetime, int, int, LogEvent]] = []
        for index, row in enumerate(state.sheet):
            ends = [("start", row.started_at)]
            if row.finished_at is not None:
                ends.append(("complete", row.finished_at))
            for lifecycle, at in ends:
                event = LogEvent(
                    case=state.dossier_id,
                    activity=row.step,
                    resource=row.agency,
                    lifecycle=lifecycle,
                    timestamp=at.astimezone(VN_TZ),
                    instance=index,
                    procedure=state.procedure,
                    sector=state.sector,
                    off_route=row.off_route,
                )
                trace.append((at, lifecycle == "start", index, event))
        out += [event for *_, event in sorted(trace, key=lambda t: t[:3])]
    return out


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


def to_csv(events: Iterable[LogEvent]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow(
            [
                e.case,
                e.activity,
                e.resource,
                e.lifecycle,
                _iso(e.timestamp),
                e.instance,
                e.procedure,
                e.sector,
                str(e.off_route).lower(),
            ]
        )
    return buffer.getvalue()


_XES_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xes.features="" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
  <extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
  <global scope="trace">
    <string key="concept:name" value="UNKNOWN"/>
  </global>
  <global scope="event">
    <string key="concept:name" value="UNKNOWN"/>
    <date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>
    <string key="lifecycle:transition" value="complete"/>
    <string key="org:resource" value="UNKNOWN"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
  <classifier name="Activity and lifecycle" keys="concept:name lifecycle:transition"/>
"""


def _attr(kind: str, key: str, value: str) -> str:
    return f"<{kind} key={quoteattr(key)} value={quoteattr(value)}/>"


def to_xes(events: Iterable[LogEvent]) -> str:
    """The events as an XES log: one trace per dossier, in the order ``log_events`` gives."""
    lines = [_XES_HEAD.rstrip("\n")]
    case: str | None = None
    for e in events:
        if e.case != case:
            if case is not None:
                lines.append("  </trace>")
            case = e.case
            lines += [
                "  <trace>",
                "    " + _attr("string", "concept:name", e.case),
                "    " + _attr("string", "procedure", e.procedure),
                "    " + _attr("string", "sector", e.sector),
            ]
        lines += [
            "    <event>",
            "      " + _attr("string", "concept:name", e.activity),
            "      " + _attr("string", "org:resource", e.resource),
            "      " + _attr("string", "lifecycle:transition", e.lifecycle),
            "      " + _attr("date", "time:timestamp", _iso(e.timestamp)),
            "      " + _attr("string", "concept:instance", str(e.instance)),
            "      " + _attr("boolean", "off_route", str(e.off_route).lower()),
            "    </event>",
        ]
    if case is not None:
        lines.append("  </trace>")
    lines.append("</log>")
    return "\n".join(lines) + "\n"
