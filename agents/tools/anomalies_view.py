"""``dossierflow anomalies``: events that were applied but are not what the route says.

They are not lost and not refused (that is the DLQ): the dossier is tracked where it
really is, and these lines tell a supervisor which hand-offs went off the route.
"""

from __future__ import annotations

from collections.abc import Iterable

from agents.tools.printable import printable
from events import AnomalyReport, ContractError, decode
from workflows.calendar import VN_TZ


def parse_anomalies(records: Iterable[bytes | None]) -> list[AnomalyReport]:
    """The anomaly reports among ``records``, each once (re-sent copies share their id)."""
    seen: dict[str, AnomalyReport] = {}
    for raw in records:
        try:
            report = decode(AnomalyReport, raw or b"")
        except ContractError:
            continue  # not a v1 anomaly report: not for this view
        seen.setdefault(report.anomaly_id, report)
    return sorted(seen.values(), key=lambda r: (r.detected_at, r.dossier_id, r.anomaly_id))


def select(reports: Iterable[AnomalyReport], dossier: str | None) -> list[AnomalyReport]:
    return [r for r in reports if dossier is None or r.dossier_id == dossier]


def render(report: AnomalyReport) -> str:
    """One line: detected (local time), kind, dossier, event, what happened, where it was read.

    ``2026-03-09 10:30  off_route  XB-1  e-17  hand-off to 'SKHCN' ... (dossier-events 2@41)``
    """
    at = report.detected_at.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M")
    where = f"{report.source_topic} {report.source_partition}@{report.source_offset}"
    return printable(
        f"{at}  {report.kind.value}  {report.dossier_id}  {report.event_id}  "
        f"{report.message}  ({where})"
    )
