"""``dossierflow anomalies``: each report once, in time order, one printable line each."""

from __future__ import annotations

from datetime import datetime, timedelta

from agents.tools.anomalies_view import parse_anomalies, render, select
from events import AnomalyReport, ReasonKind, encode
from workflows.calendar import VN_TZ

AT = datetime(2026, 3, 9, 10, 30, tzinfo=VN_TZ)


def report(dossier: str, event: str, minutes: int = 0) -> AnomalyReport:
    return AnomalyReport(
        anomaly_id=f"{dossier}/{event}",
        kind=ReasonKind.OFF_ROUTE,
        message=f"hand-off to 'SKHCN' for step 'review' is off the route ({dossier})",
        dossier_id=dossier,
        event_id=event,
        source_topic="dossier-events",
        source_partition=2,
        source_offset=41,
        detected_at=AT + timedelta(minutes=minutes),
    )


def test_each_report_once_in_time_order_other_records_skipped() -> None:
    late, early = report("XB-2", "e-9", minutes=5), report("XB-1", "e-7")
    records = [encode(late), b"not json", encode(early), encode(late), None]
    assert parse_anomalies(records) == [early, late]
    assert select(parse_anomalies(records), "XB-2") == [late]


def test_one_line_with_where_it_was_read_and_nothing_unprintable() -> None:
    line = render(report("XB-1", "e-7"))
    assert line.startswith("2026-03-09 10:30  off_route  XB-1  e-7  hand-off to 'SKHCN'")
    assert line.endswith("(dossier-events 2@41)")
    hostile = report("XB-1", "e-7").model_copy(update={"message": "x\x1b[2Ky"})
    assert render(hostile).isprintable()
