"""Dashboard "deadlines (SLA)": due-soon, overdue and statutory-breach alerts; overdue by agency."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table, timeseries

from monitoring.grafana.panels import (
    Board,
    Query,
    bars,
    ratio,
    stat_panel,
    thresholds,
    zero_is_good,
)
from monitoring.metrics import (
    ALERTS_RAISED,
    COMPLETIONS,
    OPEN_DOSSIERS,
    OPEN_OVERDUE,
    WORKING_DAYS_OVERRUN,
)


def sla() -> Board:
    b = Board(
        uid="dossierflow-sla",
        title="Dossierflow: deadlines (SLA)",
        description="Due-soon, overdue and statutory-breach alerts; overdue dossiers by agency.",
    )

    def alerts_in_period(level: str) -> Query:
        return Query(f'sum(increase({ALERTS_RAISED}{{level="{level}"}}[$__range]))', instant=True)

    b.row("Selected period")
    b.add(
        stat_panel,
        "Due-soon alerts",
        "Steps and dossiers that used most of their time: supervisors were warned.",
        alerts_in_period("due_soon"),
        unit="short",
    )
    b.add(
        stat_panel,
        "Overdue alerts",
        "Steps and dossiers that passed their committed due date.",
        alerts_in_period("overdue"),
        unit="short",
        configure=zero_is_good,
    )
    b.add(
        stat_panel,
        "Statutory breaches",
        "Dossiers that passed the time the law allows.",
        alerts_in_period("statutory_breach"),
        unit="short",
        configure=zero_is_good,
    )
    b.add(
        stat_panel,
        "Late completions",
        "Share of the period's completions that ended after the due date.",
        Query(
            ratio(
                f'sum(increase({COMPLETIONS}{{completion="late"}}[$__range]))',
                f"sum(increase({COMPLETIONS}[$__range]))",
            ),
            instant=True,
        ),
        unit="percentunit",
        configure=lambda p: p.thresholds(
            thresholds((None, "green"), (0.05, "orange"), (0.1, "red"))
        ),
    )

    b.row("Alerts")
    b.add(
        timeseries.Panel,
        "Deadline alerts per hour by level",
        "Alerts raised in the hour before each point: due soon, overdue, statutory breach.",
        Query(f"sum by (level) (increase({ALERTS_RAISED}[1h]))", "{{level}}"),
        unit="short",
        width=12,
    )
    b.add(
        timeseries.Panel,
        "Deadline alerts per hour by scope",
        "Step alerts go to the agency holding the step; dossier alerts to the centre.",
        Query(f"sum by (level, scope) (increase({ALERTS_RAISED}[1h]))", "{{scope}} {{level}}"),
        unit="short",
        width=12,
    )

    b.row("Overdue now")
    b.add(
        bars,
        "Overdue dossiers by agency",
        "Open dossiers past their committed due date, by the agency holding them now.",
        Query(
            f'sort_desc(sum by (agency) ({OPEN_OVERDUE}{{scope="dossier"}}))', "{{agency}}", True
        ),
        unit="short",
        width=8,
        configure=zero_is_good,
    )
    b.add(
        table.Panel,
        "Top 10 agencies by overdue steps",
        "Agencies holding the most steps past their allotment.",
        Query(
            f'topk(10, sum by (agency) ({OPEN_OVERDUE}{{scope="step"}}))', instant=True, table=True
        ),
        unit="short",
        width=8,
    )
    b.add(
        table.Panel,
        "Top 10 agencies by overdue share",
        "Overdue dossiers as a share of the open dossiers each agency holds.",
        Query(
            "topk(10,\n"
            + ratio(
                f'  sum by (agency) ({OPEN_OVERDUE}{{scope="dossier"}})',
                f"  sum by (agency) ({OPEN_DOSSIERS})",
            )
            + "\n)",
            instant=True,
            table=True,
        ),
        unit="percentunit",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Overdue backlog",
        "What the DossierflowOverdueBacklogGrowing rule watches: overdue dossiers and steps.",
        Query(f"sum by (scope) ({OPEN_OVERDUE})", "{{scope}}"),
        unit="short",
        width=12,
    )
    b.add(
        bars,
        "Working days overrun by sector (selected period)",
        "Working days beyond the statutory time, summed per sector.",
        Query(
            f"sort_desc(sum by (sector) (increase({WORKING_DAYS_OVERRUN}[$__range])) > 0)",
            "{{sector}}",
            True,
        ),
        unit="short",
        width=12,
    )
    return b
