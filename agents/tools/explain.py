"""``dossierflow explain DOSSIER_ID``: one dossier's process control sheet with the share of
its overrun each step was given (workflows.attribution, docs/attribution.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from workflows.attribution import Attribution, Cause, Part, attribute
from workflows.calendar import WorkingCalendar
from workflows.deadlines import working_days_in
from workflows.state import DossierState

__all__ = ["render_explain"]

_HOUR = timedelta(hours=1)


def _at(value: datetime | None, cal: WorkingCalendar) -> str:
    return "-" if value is None else f"{value.astimezone(cal.tz):%Y-%m-%d %H:%M}"


def _share(part: Part | None, found: Attribution | None) -> str:
    if part is None or found is None or not part.share:
        return "-"
    days = working_days_in(part.share)
    return f"{days:.2f} d ({part.share / found.overrun:.0%})"


def _line(cells: tuple[str, ...]) -> str:
    widths = (3, 22, 18, 16, 16, 7, 7, 8, 16)
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def render_explain(
    state: DossierState,
    cal: WorkingCalendar,
    now: datetime,
    agency_names: Mapping[str, str] | None = None,
    *,
    rescheduled_counts_late: bool = True,
) -> str:
    """The sheet (allotted and used hours) and, for a late dossier, who was given its overrun."""
    names = agency_names or {}
    found = attribute(state, cal, now, rescheduled_counts_late=rescheduled_counts_late)
    yardstick = state.original_due_at if rescheduled_counts_late else state.committed_due_at
    lines = [
        f"Dossier {state.dossier_id}: procedure {state.procedure} ({state.sector}), "
        f"{state.channel}, {state.status}",
        f"Received {_at(state.received_at, cal)}, counted from {_at(state.start_at, cal)}; "
        f"first appointment {_at(yardstick, cal)}",
    ]
    if state.rescheduled_at is not None:
        lines.append(
            f"Apology on {_at(state.rescheduled_at, cal)}: new appointment "
            f"{_at(state.committed_due_at, cal)} (judged against the first)"
        )
    if state.outcome is not None:
        o = state.outcome
        lines.append(
            f"Result {_at(o.finished_at, cal)} ({o.decision}): {o.completion}, "
            f"{o.used_days:g} working days used"
        )
    lines += [
        "",
        _line(
            ("#", "step", "agency", "got it", "finished", "allot h", "used h", "result", "overrun")
        ),
    ]
    parts = found.parts if found is not None else ()
    for index, row in enumerate(state.sheet):
        own = next(
            (p for p in parts if p.row == index and p.cause is not Cause.AFTER_LAST_STEP), None
        )
        mark = {Cause.REVISIT: " (again)", Cause.OFF_ROUTE: " (off route)"}.get(
            own.cause if own else Cause.OVER_ALLOTMENT, ""
        )
        used = f"{row.used_hours:.2f}" if row.used_hours is not None else "open"
        cells = (
            str(index),
            row.step + mark,
            row.agency,
            _at(row.started_at, cal),
            _at(row.finished_at, cal),
            f"{row.allotted_hours:.2f}",
            used,
            str(row.result or "-"),
            _share(own, found),
        )
        lines.append(_line(cells))
        for wait in (p for p in parts if p.row == index and p.cause is Cause.AFTER_LAST_STEP):
            waited = f"{wait.used / _HOUR:.2f}"
            gap = ("", "(no step open)", wait.agency, "", "", "", waited, "", _share(wait, found))
            lines.append(_line(gap))
    lines.append("")
    lines += _verdict(found, cal, names)
    return "\n".join(lines)


def _verdict(
    found: Attribution | None, cal: WorkingCalendar, names: Mapping[str, str]
) -> list[str]:
    if found is None:
        return ["Not late: nothing to attribute."]
    so_far = " so far" if found.so_far else ""
    lines = [
        f"Overrun{so_far}: {working_days_in(found.overrun):.2f} working days after the first "
        f"appointment, up to {_at(found.end_at, cal)}; split by {found.basis.value} "
        "(hours are working hours; docs/attribution.md)."
    ]
    by_agency: dict[str, timedelta] = {}
    for p in found.parts:
        by_agency[p.agency] = by_agency.get(p.agency, timedelta(0)) + p.share
    for agency, share in sorted(by_agency.items(), key=lambda kv: (-kv[1], kv[0])):
        if share:
            lines.append(
                f"  {agency:18} {working_days_in(share):6.2f} d  {names.get(agency, '')}".rstrip()
            )
    return lines
