"""An agency's inbox and the province report, computed from records and states."""

from __future__ import annotations

from datetime import datetime, timedelta

from agents.tools.inbox import current_assignments, render
from events import (
    InboundEvent,
    ResultReady,
    StepCompleted,
    encode,
)
from workflows.calendar import VN_TZ
from workflows.report import province_report, render_markdown, render_text
from workflows.routing import RoutingContext, apply
from workflows.state import DossierState

from support.context import routing_context
from support.dossiers import receipt
from support.fold import fold_state
from support.outbound import make_assignment

AT = datetime(2026, 6, 1, 8, tzinfo=VN_TZ)  # Monday


def assignment(dossier: str, step: str, agency: str, due_days: int, cause: str) -> bytes:
    due = AT + timedelta(days=due_days)
    return encode(
        make_assignment(
            assignment_id=f"{dossier}/{step}/{cause}",
            dossier=dossier,
            procedure="SAMPLE-XB-01",
            step=step,
            agency=agency,
            assigned_at=AT,
            step_due_at=due,
            dossier_due_in=timedelta(days=5),
            cause=cause,
        )
    )


def test_inbox_shows_each_dossier_where_it_is_now_newest_due_first() -> None:
    records = [
        assignment("D1", "review", "SVHTTDL", 2, "e1"),
        assignment("D2", "review", "SVHTTDL", 4, "e2"),
        assignment("D1", "sign", "UBND-TINH", 3, "e3"),  # D1 moved on: no longer at SVHTTDL
        assignment("D3", "review", "SVHTTDL", 1, "e4"),
        assignment("D2", "review", "SVHTTDL", 4, "e2"),  # a re-sent duplicate
        b"not an assignment",
    ]
    inbox = current_assignments(records, "SVHTTDL")
    assert [a.dossier_id for a in inbox] == ["D2", "D3"]
    assert [a.dossier_id for a in current_assignments(records, "UBND-TINH")] == ["D1"]
    line = render(inbox[0])
    assert line.startswith("due 2026-06-05 08:00  D2  SAMPLE-XB-01  step review")
    assert "dossier due 2026-06-10 08:00" in line


def lifecycle(ctx: RoutingContext, dossier: str, channel: str, finish_hours: float) -> DossierState:
    """A 2.001610 dossier (3 working days: desk 0.5, STC 1.5 + 0.5, desk 0.5)."""
    events: list[InboundEvent] = [
        receipt(dossier, f"{dossier}-1", AT, channel=channel),
        StepCompleted(
            event_id=f"{dossier}-2",
            dossier_id=dossier,
            occurred_at=AT + timedelta(hours=1),
            agency="MOTCUA",
            step="receive",
        ),
        ResultReady(
            event_id=f"{dossier}-3",
            dossier_id=dossier,
            occurred_at=ctx.calendar.add_working_time(AT, timedelta(hours=finish_hours)),
            agency="STC",
            outcome="approved",
        ),
    ]
    return fold_state(events, ctx)


def test_province_report_counts_and_rates() -> None:
    ctx = routing_context()
    early = lifecycle(ctx, "R1", "online", 8)  # done Tue 08:00, due Thu: early
    late = lifecycle(ctx, "R2", "in_person", 40)  # 5 working days: late
    waiting, _ = apply(
        None,
        receipt("R3", "R3-1", AT),
        ctx,
    )
    assert waiting is not None
    now = AT + timedelta(days=10)  # R3 (3 working days) is long overdue by then
    report = province_report([early, late, waiting], ctx.catalog, now)
    assert (report.received, report.completed, report.open, report.overdue) == (3, 2, 1, 1)
    assert (report.early, report.on_time, report.late) == (1, 0, 1)
    accounted = report.completed + report.open + report.paused + report.withdrawn + report.rejected
    assert accounted == report.received
    assert report.on_time_rate == 0.5
    assert report.online_share == 2 / 3
    # statutory 3 days: 3 - 1 = 2 saved by R1, 3 - 5 = -2 by R2
    assert round(report.working_days_saved, 4) == 0.0
    (sector,) = report.sectors
    assert (sector.sector, sector.completed, sector.on_time, sector.late) == (
        "business-registration",
        2,
        1,
        1,
    )
    assert report.top_overdue_agencies == (("MOTCUA", 1),)
    assert report.reduced_procedures == 8 and report.procedures == 27
    text = render_text(report)
    assert "On-time rate                    50.0%" in text
    assert "| on-time rate | 50.0% |" in render_markdown(report)
    assert report.as_dict()["dossiers"]["overdue"] == 1
