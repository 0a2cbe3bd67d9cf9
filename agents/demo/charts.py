"""PNG charts for the province report: on-time rate and working days saved by sector,
overdue by agency, who makes dossiers late. Drawn with matplotlib's Agg backend (no
display needed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from workflows.alerts import is_overdue
from workflows.attribution import Contributor
from workflows.deadlines import Completion, working_days_in
from workflows.report import ProvinceReport
from workflows.state import DossierState, Status

ON_TIME = "on-time-by-sector.png"
OVERDUE = "overdue-by-agency.png"
SAVED = "days-saved-by-sector.png"
LATE = "late-by-agency.png"

_GREEN, _RED, _AMBER, _BLUE, _GREY = "#2e7d32", "#c62828", "#ef8f00", "#1565c0", "#9e9e9e"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def overdue_by_agency(states: Sequence[DossierState], now: datetime) -> dict[str, tuple[int, int]]:
    """agency -> (open dossiers past their committed due at ``now``, steps it finished late)."""
    held: Counter[str] = Counter()
    late_steps: Counter[str] = Counter()
    for s in states:
        if s.status is Status.OPEN and is_overdue(s.committed_due_at, now):
            held[s.current_agency or "-"] += 1
        for row in s.sheet:
            if row.result is Completion.LATE:
                late_steps[row.agency] += 1
    return {a: (held[a], late_steps[a]) for a in set(held) | set(late_steps)}


def write_charts(
    report: ProvinceReport, states: Sequence[DossierState], now: datetime, out_dir: Path
) -> list[Path]:
    """Draw the four charts into ``out_dir``; returns their paths."""
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        _on_time(plt, report, out_dir / ON_TIME),
        _overdue(plt, report, overdue_by_agency(states, now), out_dir / OVERDUE),
        _saved(plt, report, out_dir / SAVED),
        _late(plt, report, out_dir / LATE),
    ]
    return paths


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,") + "…"


def _sector_label(name: str, sector: str) -> str:
    return f"{_short(name)} ({sector})" if name != sector else sector


def _on_time(plt: Any, report: ProvinceReport, path: Path) -> Path:
    sectors = sorted(
        (s for s in report.sectors if s.completed), key=lambda s: s.on_time_rate or 0.0
    )
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(sectors) + 1.6))
    labels = [_sector_label(s.name, s.sector) for s in sectors]
    rates = [100 * (s.on_time_rate or 0.0) for s in sectors]
    colors = [_GREEN if r >= 95 else _AMBER if r >= 85 else _RED for r in rates]
    bars = ax.barh(labels, rates, color=colors)
    for bar, s in zip(bars, sectors, strict=True):
        ax.text(
            bar.get_width() + 0.5,
            bar.get_y() + bar.get_height() / 2,
            f"{bar.get_width():.1f}%  ({s.on_time:,}/{s.completed:,})",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, 135)
    ax.set_xticks(range(0, 101, 20))
    overall = report.on_time_rate
    if overall is not None:
        ax.axvline(100 * overall, color="#555555", linestyle="--", linewidth=1)
        ax.set_title(
            f"On-time rate by sector (province: {overall:.1%} of {report.completed:,} completed)"
        )
    ax.set_xlabel("completed early or on time, %")
    return _save(plt, fig, path)


def _overdue(
    plt: Any, report: ProvinceReport, by_agency: dict[str, tuple[int, int]], path: Path
) -> Path:
    rows = sorted(by_agency.items(), key=lambda kv: (kv[1][0] + kv[1][1], kv[0]))[-14:]
    fig, ax = plt.subplots(figsize=(11, 0.42 * max(len(rows), 1) + 1.6))
    labels = [f"{_short(report.agency_names.get(a, a))} ({a})" for a, _ in rows]
    held = [h for _, (h, _) in rows]
    late = [n for _, (_, n) in rows]
    ax.barh(labels, held, color=_RED, label="open and past the committed date at the end")
    ax.barh(labels, late, left=held, color=_AMBER, label="steps finished after their allotment")
    for y, (h, n) in enumerate(zip(held, late, strict=True)):
        ax.text(h + n + 0.3, y, f"{h:,} + {n:,}", va="center", fontsize=8)
    ax.set_xlim(0, max([1, *(h + n for h, n in zip(held, late, strict=True))]) * 1.2)
    ax.set_title(f"Overdue by agency at {report.generated_at:%d/%m/%Y %H:%M}")
    ax.set_xlabel("dossiers / steps")
    ax.legend(loc="lower right", fontsize=8)
    if not rows:
        ax.text(0.5, 0.5, "nothing overdue", transform=ax.transAxes, ha="center")
    return _save(plt, fig, path)


def _saved(plt: Any, report: ProvinceReport, path: Path) -> Path:
    sectors = sorted((s for s in report.sectors if s.completed), key=lambda s: s.working_days_saved)
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(sectors) + 1.6))
    labels = [_sector_label(s.name, s.sector) for s in sectors]
    saved = [s.working_days_saved for s in sectors]
    bars = ax.barh(labels, saved, color=[_BLUE if v >= 0 else _RED for v in saved])
    for bar, s in zip(bars, sectors, strict=True):
        ax.text(
            max(bar.get_width(), 0) + 0.5,
            bar.get_y() + bar.get_height() / 2,
            f"{s.working_days_saved:,.0f} d ({s.working_days_saved / s.completed:.1f} per dossier)",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(min(0, *saved) * 1.1 if saved else 0, max([1.0, *saved]) * 1.5)
    ax.set_title(
        f"Working days saved against statutory times ({report.working_days_saved:,.0f} in all)"
    )
    ax.set_xlabel("working days saved, summed over completed dossiers")
    return _save(plt, fig, path)


def late_phases(c: Contributor) -> tuple[float, float, float]:
    """An agency's attributed overrun in working days: (waiting, working, step as a whole)."""
    waiting, working = working_days_in(c.waiting), working_days_in(c.working)
    return float(waiting), float(working), float(working_days_in(c.overrun) - waiting - working)


def _late(plt: Any, report: ProvinceReport, path: Path) -> Path:
    agencies = report.lateness.agencies if report.lateness is not None else ()
    rows = list(reversed(agencies))  # the most at the top
    fig, ax = plt.subplots(figsize=(11, 0.42 * max(len(rows), 1) + 1.6))
    labels = [f"{_short(report.agency_names.get(c.agency, c.agency))} ({c.agency})" for c in rows]
    phases = [late_phases(c) for c in rows]
    left = [0.0] * len(rows)
    for i, (name, color) in enumerate(
        (("waiting in the inbox", _AMBER), ("working", _RED), ("step.started not reported", _GREY))
    ):
        widths = [p[i] for p in phases]
        if any(widths):
            ax.barh(labels, widths, left=left, color=color, label=name)
            left = [a + w for a, w in zip(left, widths, strict=True)]
    for y, c in enumerate(rows):
        ax.text(
            left[y] * 1.01 + 0.1, y, f"{left[y]:,.1f} d ({c.share:.0%})", va="center", fontsize=8
        )
    ax.set_xlim(0, max([1.0, *left]) * 1.25)
    late = report.lateness
    total = float(working_days_in(late.overrun)) if late is not None else 0.0
    ax.set_title(
        f"Who makes dossiers late: working days over the committed times ({total:,.1f} in all)"
    )
    ax.set_xlabel("working days of overrun attributed (docs/attribution.md)")
    if rows:
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no late dossier", transform=ax.transAxes, ha="center")
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
