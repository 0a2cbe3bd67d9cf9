"""The demo's "who makes dossiers late" chart (issue 16.3): drawn from the report's
lateness section, with the inbox wait and the work apart where agencies reported them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from agents.demo.charts import LATE, late_phases, write_charts
from workflows.attribution import Contributor, Lateness
from workflows.report import ProvinceReport, province_report

from support.context import sample_catalog
from support.time import vn

NOW = vn("2026-06-30 08:00")
HOUR = timedelta(hours=1)


def report_with(*agencies: Contributor) -> ProvinceReport:
    overrun = sum((c.overrun for c in agencies), timedelta(0))
    late = Lateness(completed=3, open=0, overrun=overrun, agencies=agencies, steps=())
    return replace(province_report([], sample_catalog(), NOW), lateness=late)


def test_the_chart_is_written_with_the_phases(tmp_path: Path) -> None:
    # STC: 16 h over, 4.8 h of it waiting and 3.2 h working where step.started was reported
    stc = Contributor("STC", None, None, 16 * HOUR, 2, 0.8, 4.8 * HOUR, 3.2 * HOUR)
    desk = Contributor("MOTCUA", None, None, 4 * HOUR, 1, 0.2)  # nothing reported
    # working days (8 h): 0.6 waiting, 0.4 working, 1.0 of the step as a whole
    assert late_phases(stc) == (0.6, 0.4, 1.0)
    assert late_phases(desk) == (0.0, 0.0, 0.5)
    paths = write_charts(report_with(stc, desk), [], NOW, tmp_path)
    chart = tmp_path / LATE
    assert chart in paths and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_province_with_nothing_late_still_gets_the_chart(tmp_path: Path) -> None:
    write_charts(report_with(), [], NOW, tmp_path)
    assert (tmp_path / LATE).stat().st_size > 0
