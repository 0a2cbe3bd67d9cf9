"""Dashboard "deadlines (SLA)": due-soon, overdue and statutory-breach alerts; overdue by agency."""

from __future__ import annotations

from monitoring.grafana.panels import (
    Board,
    Query,
    Row,
    bar_panel,
    ratio,
    stat_panel,
    sum_by,
    table_panel,
    thresholds,
    trend_panel,
    zero_is_good,
)
from monitoring.metrics import (
    ALERTS_RAISED,
    COMPLETIONS,
    OPEN_DOSSIERS,
    OPEN_OVERDUE,
    OVERRUN_ATTRIBUTED,
    WORKING_DAYS_OVERRUN,
)


def alerts_in_period(level: str) -> Query:
    return Query(f'sum(increase({ALERTS_RAISED}{{level="{level}"}}[$__range]))')


def sla() -> Board:
    return Board(
        uid="dossierflow-sla",
        title="Dossierflow: deadlines (SLA)",
        description="Due-soon, overdue and statutory-breach alerts; overdue dossiers by agency.",
        panels=(
            Row("Selected period"),
            stat_panel(
                "Due-soon alerts",
                "Steps and dossiers that used most of their time: supervisors were warned.",
                alerts_in_period("due_soon"),
            ),
            stat_panel(
                "Overdue alerts",
                "Steps and dossiers that passed their committed due date.",
                alerts_in_period("overdue"),
                configure=zero_is_good,
            ),
            stat_panel(
                "Statutory breaches",
                "Dossiers that passed the time the law allows.",
                alerts_in_period("statutory_breach"),
                configure=zero_is_good,
            ),
            stat_panel(
                "Late completions",
                "Share of the period's completions that ended after the due date.",
                Query(
                    ratio(
                        f'sum(increase({COMPLETIONS}{{completion="late"}}[$__range]))',
                        f"sum(increase({COMPLETIONS}[$__range]))",
                    )
                ),
                unit="percentunit",
                configure=lambda p: p.thresholds(
                    thresholds((None, "green"), (0.05, "orange"), (0.1, "red"))
                ),
            ),
            Row("Alerts"),
            trend_panel(
                "Deadline alerts per hour by level",
                "Alerts raised in the hour before each point: due soon, overdue, statutory breach.",
                sum_by("level", f"increase({ALERTS_RAISED}[1h])"),
            ),
            trend_panel(
                "Deadline alerts per hour by scope",
                "Step alerts go to the agency holding the step; dossier alerts to the centre.",
                Query(
                    f"sum by (level, scope) (increase({ALERTS_RAISED}[1h]))", "{{scope}} {{level}}"
                ),
            ),
            Row("Overdue now"),
            bar_panel(
                "Overdue dossiers by agency",
                "Open dossiers past their committed due date, by the agency holding them now.",
                Query(
                    f'sort_desc(sum by (agency) ({OPEN_OVERDUE}{{scope="dossier"}}))', "{{agency}}"
                ),
                width=8,
                configure=zero_is_good,
            ),
            table_panel(
                "Top 10 agencies by overdue steps",
                "Agencies holding the most steps past their allotment.",
                Query(f'topk(10, sum by (agency) ({OPEN_OVERDUE}{{scope="step"}}))'),
                width=8,
            ),
            table_panel(
                "Top 10 agencies by overdue share",
                "Overdue dossiers as a share of the open dossiers each agency holds.",
                Query(
                    "topk(10,\n"
                    + ratio(
                        f'  sum by (agency) ({OPEN_OVERDUE}{{scope="dossier"}})',
                        f"  sum by (agency) ({OPEN_DOSSIERS})",
                    )
                    + "\n)"
                ),
                unit="percentunit",
                width=8,
            ),
            trend_panel(
                "Overdue backlog",
                "What the DossierflowOverdueBacklogGrowing rule watches: overdue dossiers and steps.",
                sum_by("scope", OPEN_OVERDUE),
            ),
            bar_panel(
                "Working days overrun by sector (selected period)",
                "Working days beyond the statutory time, summed per sector.",
                Query(
                    f"sort_desc(sum by (sector) (increase({WORKING_DAYS_OVERRUN}[$__range])) > 0)",
                    "{{sector}}",
                ),
            ),
            bar_panel(
                "Who makes dossiers late",
                "Top agencies by the working days late dossiers ran over their committed time "
                "in the selected period, as attributed to the steps that caused them "
                "(docs/attribution.md): waiting in the inbox and working together.",
                Query(
                    "sort_desc(topk(10, sum by (agency) "
                    f"(increase({OVERRUN_ATTRIBUTED}[$__range]))) > 0)",
                    "{{agency}}",
                ),
            ),
        ),
    )
