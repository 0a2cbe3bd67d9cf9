"""The province report: the figures a provincial administrative-reform report quotes.

Pure: computed from dossier states (open and closed) and the catalog at a given
``now``. ``agents/report.py`` reads the states from the engine's tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from workflows.alerts import is_overdue
from workflows.attribution import Contributor, Lateness, attribute_all, lateness
from workflows.calendar import WorkingCalendar
from workflows.catalog import Catalog, summarize
from workflows.deadlines import Completion, working_days_in
from workflows.state import DossierState, Status


@dataclass(frozen=True)
class SectorFigures:
    sector: str
    name: str
    completed: int
    on_time: int  # early + on time
    late: int
    working_days_saved: float

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.completed if self.completed else None


@dataclass(frozen=True)
class ProvinceReport:
    generated_at: datetime
    procedures: int
    reduced_procedures: int
    reduced_share: float
    mean_reduction_percent: float
    received: int
    completed: int
    open: int
    paused: int
    overdue: int
    withdrawn: int
    rejected: int
    early: int
    on_time: int
    late: int
    working_days_saved: float
    online: int
    sectors: tuple[SectorFigures, ...] = ()
    top_overdue_agencies: tuple[tuple[str, int], ...] = ()
    agency_names: dict[str, str] = field(default_factory=dict)
    #: Where lateness comes from (workflows.attribution, docs/attribution.md).
    lateness: Lateness | None = None

    @property
    def on_time_rate(self) -> float | None:
        return (self.early + self.on_time) / self.completed if self.completed else None

    @property
    def online_share(self) -> float | None:
        return self.online / self.received if self.received else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "procedures": self.procedures,
            "reduced_procedures": self.reduced_procedures,
            "reduced_share": self.reduced_share,
            "mean_reduction_percent": self.mean_reduction_percent,
            "dossiers": {
                "received": self.received,
                "completed": self.completed,
                "open": self.open,
                "paused": self.paused,
                "overdue": self.overdue,
                "withdrawn": self.withdrawn,
                "rejected": self.rejected,
            },
            "completion": {"early": self.early, "on_time": self.on_time, "late": self.late},
            "on_time_rate": self.on_time_rate,
            "working_days_saved": round(self.working_days_saved, 2),
            "online_share": self.online_share,
            "sectors": [
                {
                    "sector": s.sector,
                    "name": s.name,
                    "completed": s.completed,
                    "on_time": s.on_time,
                    "late": s.late,
                    "on_time_rate": s.on_time_rate,
                    "working_days_saved": round(s.working_days_saved, 2),
                }
                for s in self.sectors
            ],
            "top_overdue_agencies": [
                {"agency": a, "name": self.agency_names.get(a, a), "overdue": n}
                for a, n in self.top_overdue_agencies
            ],
            **({"lateness": _lateness_dict(self)} if self.lateness is not None else {}),
        }


def province_report(
    states: Iterable[DossierState],
    catalog: Catalog,
    now: datetime,
    top: int = 5,
    *,
    calendar: WorkingCalendar | None = None,
    rescheduled_counts_late: bool = True,
) -> ProvinceReport:
    """The figures at ``now``; ``calendar`` (default office hours when None) and
    ``rescheduled_counts_late`` must be the router's, for the lateness section."""
    states = list(states)
    summary = summarize(catalog)
    status: Counter[Status] = Counter()
    classes: Counter[Completion] = Counter()
    saved = 0.0
    online = 0
    overdue_by_agency: Counter[str] = Counter()
    by_sector: dict[str, list[DossierState]] = {}
    received = 0
    for state in states:
        received += 1
        # Every dossier counts once: completed (has an outcome, returned or not), or open,
        # paused, withdrawn, rejected.
        if state.outcome is None:
            status[state.status] += 1
        online += state.channel == "online"
        if state.outcome is not None:
            classes[state.outcome.completion] += 1
            saved += state.outcome.saved_days
            by_sector.setdefault(state.sector, []).append(state)
        elif state.status is Status.OPEN and is_overdue(state.committed_due_at, now):
            overdue_by_agency[state.current_agency or "-"] += 1
    sectors = tuple(
        SectorFigures(
            sector=sector,
            name=summary.sector_names.get(sector, sector),
            completed=len(done),
            on_time=sum(s.outcome.completion is not Completion.LATE for s in done if s.outcome),
            late=sum(s.outcome.completion is Completion.LATE for s in done if s.outcome),
            working_days_saved=sum(s.outcome.saved_days for s in done if s.outcome),
        )
        for sector, done in sorted(by_sector.items())
    )
    return ProvinceReport(
        generated_at=now,
        procedures=summary.procedures,
        reduced_procedures=summary.reduced,
        reduced_share=float(summary.reduced_share),
        mean_reduction_percent=float(summary.mean_reduction_percent),
        received=received,
        completed=sum(classes.values()),
        open=status[Status.OPEN],
        paused=status[Status.PAUSED],
        overdue=sum(overdue_by_agency.values()),
        withdrawn=status[Status.WITHDRAWN],
        rejected=status[Status.REJECTED],
        early=classes[Completion.EARLY],
        on_time=classes[Completion.ON_TIME],
        late=classes[Completion.LATE],
        working_days_saved=saved,
        online=online,
        sectors=sectors,
        top_overdue_agencies=tuple(overdue_by_agency.most_common(top)),
        agency_names={code: a.name for code, a in catalog.agencies.items()},
        lateness=lateness(
            attribute_all(
                states,
                calendar or WorkingCalendar(),
                now,
                rescheduled_counts_late=rescheduled_counts_late,
            ),
            top,
        ),
    )


def _days(value: timedelta) -> float:
    return float(working_days_in(value))


def _where(c: Contributor) -> str:
    """A step as people read it: ``1.013225 appraisal``, or the wait after its last step."""
    return f"{c.procedure} {c.step or '(after the last step)'}"


def _lateness_dict(report: ProvinceReport) -> dict[str, Any]:
    late = report.lateness
    assert late is not None

    def row(c: Contributor) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agency": c.agency,
            "name": report.agency_names.get(c.agency, c.agency),
        }
        if c.procedure is not None:
            out |= {"procedure": c.procedure, "step": c.step}
        out |= {
            "working_days": round(_days(c.overrun), 4),
            "late_dossiers": c.dossiers,
            "share": c.share,
        }
        if c.split_known:  # of working_days: the inbox wait and the work, where reported
            out["phases"] = {
                "waiting": round(_days(c.waiting), 4),
                "working": round(_days(c.working), 4),
            }
        return out

    return {
        "late_dossiers": late.dossiers,
        "completed_late": late.completed,
        "open_past_due": late.open,
        "working_days": round(_days(late.overrun), 4),
        "agencies": [row(c) for c in late.agencies],
        "steps": [row(c) for c in late.steps],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render_text(report: ProvinceReport) -> str:
    r = report
    lines = [
        f"Province report at {r.generated_at:%Y-%m-%d %H:%M %Z}",
        "",
        f"Procedures with reduced times   {r.reduced_procedures} of {r.procedures} "
        f"({_pct(r.reduced_share)}), mean reduction {r.mean_reduction_percent:.1f}%",
        f"Dossiers received               {r.received:,} ({_pct(r.online_share)} online)",
        f"  completed                     {r.completed:,}: early {r.early:,}, on time "
        f"{r.on_time:,}, late {r.late:,}",
        f"  open                          {r.open:,} (overdue {r.overdue:,}), waiting for "
        f"supplement {r.paused:,}",
        f"  withdrawn / rejected          {r.withdrawn:,} / {r.rejected:,}",
        f"On-time rate                    {_pct(r.on_time_rate)}",
        f"Working days saved              {r.working_days_saved:,.1f} (against statutory times)",
        "",
        f"{'sector':28} {'completed':>9} {'on time':>8} {'late':>5} {'rate':>7} {'days saved':>11}",
    ]
    for s in r.sectors:
        lines.append(
            f"{s.sector:28} {s.completed:9,} {s.on_time:8,} {s.late:5,} "
            f"{_pct(s.on_time_rate):>7} {s.working_days_saved:11,.1f}"
        )
    if r.top_overdue_agencies:
        lines += ["", "Agencies holding the most overdue dossiers:"]
        lines += [
            f"  {code:18} {n:5,}  {r.agency_names.get(code, '')}"
            for code, n in r.top_overdue_agencies
        ]
    if r.lateness is not None and r.lateness.dossiers:
        lines += ["", *_lateness_text(r, r.lateness)]
    return "\n".join(lines)


def _lateness_heading(late: Lateness) -> str:
    return (
        f"Where lateness comes from: {late.dossiers:,} late dossiers ({late.completed:,} "
        f"completed late, {late.open:,} open past due, so far), "
        f"{_days(late.overrun):,.1f} working days over the committed times"
    )


def _phase(c: Contributor, value: timedelta) -> str:
    """Days of a phase (waiting, working), or ``-`` when no row of it said ``step.started``."""
    return f"{_days(value):,.1f}" if c.split_known else "-"


def _lateness_text(r: ProvinceReport, late: Lateness) -> list[str]:
    head = f"{'days over':>10} {'waiting':>8} {'working':>8} {'dossiers':>8} {'share':>6}"
    lines = [_lateness_heading(late), f"  {'agency':28} {head}"]

    def figures(c: Contributor) -> str:
        return (
            f"{_days(c.overrun):10,.1f} {_phase(c, c.waiting):>8} {_phase(c, c.working):>8} "
            f"{c.dossiers:8,} {_pct(c.share):>6}"
        )

    lines += [
        f"  {c.agency:28} {figures(c)}  {r.agency_names.get(c.agency, '')}" for c in late.agencies
    ]
    lines.append(f"  {'step':28} {head}")
    lines += [f"  {_where(c):28} {figures(c)}  at {c.agency}" for c in late.steps]
    if any(c.split_known for c in (*late.agencies, *late.steps)):
        lines.append(_PHASES_NOTE)
    return lines


#: Under the lateness tables when some row reported ``step.started``.
_PHASES_NOTE = (
    "  waiting: in the inbox before step.started; working: after it; "
    "the rest of days over was on steps that did not report it"
)


def render_markdown(report: ProvinceReport) -> str:
    r = report
    out = [
        f"# Province report — {r.generated_at:%Y-%m-%d %H:%M}",
        "",
        "| figure | value |",
        "|---|---|",
        f"| procedures with reduced times | {r.reduced_procedures} of {r.procedures} "
        f"({_pct(r.reduced_share)}) |",
        f"| mean reduction | {r.mean_reduction_percent:.1f}% |",
        f"| dossiers received | {r.received:,} |",
        f"| online share | {_pct(r.online_share)} |",
        f"| completed | {r.completed:,} (early {r.early:,}, on time {r.on_time:,}, "
        f"late {r.late:,}) |",
        f"| on-time rate | {_pct(r.on_time_rate)} |",
        f"| open (overdue) | {r.open:,} ({r.overdue:,}) |",
        f"| waiting for supplement | {r.paused:,} |",
        f"| withdrawn / rejected | {r.withdrawn:,} / {r.rejected:,} |",
        f"| working days saved | {r.working_days_saved:,.1f} |",
        "",
        "## By sector",
        "",
        "| sector | completed | on time | late | on-time rate | days saved |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    out += [
        f"| {s.name} (`{s.sector}`) | {s.completed:,} | {s.on_time:,} | {s.late:,} | "
        f"{_pct(s.on_time_rate)} | {s.working_days_saved:,.1f} |"
        for s in r.sectors
    ]
    if r.top_overdue_agencies:
        out += [
            "",
            "## Agencies with the most overdue dossiers",
            "",
            "| agency | overdue |",
            "|---|---:|",
        ]
        out += [
            f"| {r.agency_names.get(code, code)} (`{code}`) | {n:,} |"
            for code, n in r.top_overdue_agencies
        ]
    if r.lateness is not None and r.lateness.dossiers:
        out += ["", *_lateness_markdown(r, r.lateness)]
    return "\n".join(out) + "\n"


def _lateness_markdown(r: ProvinceReport, late: Lateness) -> list[str]:
    out = ["## Where lateness comes from", "", _lateness_heading(late) + ".", ""]
    head = "working days over | waiting | working | late dossiers | share |"

    def figures(c: Contributor) -> str:
        return (
            f"{_days(c.overrun):,.1f} | {_phase(c, c.waiting)} | {_phase(c, c.working)} | "
            f"{c.dossiers:,} | {_pct(c.share)} |"
        )

    out += [f"| agency | {head}", "|---|---:|---:|---:|---:|---:|"]
    out += [
        f"| {r.agency_names.get(c.agency, c.agency)} (`{c.agency}`) | {figures(c)}"
        for c in late.agencies
    ]
    out += ["", f"| step | agency | {head}", "|---|---|---:|---:|---:|---:|---:|"]
    out += [f"| {_where(c)} | `{c.agency}` | {figures(c)}" for c in late.steps]
    if any(c.split_known for c in (*late.agencies, *late.steps)):
        out += ["", _PHASES_NOTE.strip() + "."]
    return out
