"""Dashboard "agencies and steps": work routed to each agency, what it holds, overdue steps; sectors."""

from __future__ import annotations

from monitoring.grafana.panels import (
    Board,
    Query,
    Row,
    bar_panel,
    label_variable,
    sum_by,
    table_panel,
    trend_panel,
    zero_is_good,
)
from monitoring.metrics import (
    ASSIGNMENTS,
    COMPLETIONS,
    EVENTS_CONSUMED,
    OPEN_DOSSIERS,
    OPEN_OVERDUE,
    PROCESSING_DAYS,
    WORKING_DAYS_OVERRUN,
    WORKING_DAYS_SAVED,
    WORKING_DAYS_USED,
)

AGENCY = 'agency=~"$agency"'
SECTOR = 'sector=~"$sector"'


def overdue_held(scope: str) -> Query:
    """Open dossiers overdue in ``scope`` (step or dossier), by the agency holding them."""
    return Query(
        f'sort_desc(sum by (agency) ({OPEN_OVERDUE}{{{AGENCY}, scope="{scope}"}}))', "{{agency}}"
    )


def processing_days(quantile: str) -> str:
    return f"histogram_quantile({quantile}, sum by (le) (increase({PROCESSING_DAYS}_bucket[$__range])))"


def agency_drilldown() -> Board:
    return Board(
        uid="dossierflow-agency",
        title="Dossierflow: agencies and steps",
        description="Work routed to each agency, what it holds now, overdue steps; completions and processing time per sector.",
        variables=(
            label_variable("agency", "Agency", ASSIGNMENTS),
            label_variable("sector", "Sector", COMPLETIONS),
        ),
        panels=(
            Row("Agencies"),
            trend_panel(
                "Assignments per hour",
                "Dossiers routed to each agency's inbox (one per step) in the hour before each point.",
                sum_by("agency", f"increase({ASSIGNMENTS}{{{AGENCY}}}[1h])"),
            ),
            trend_panel(
                "Events applied per hour by type",
                "Hand-off events the selected agencies published and the router applied.",
                sum_by("type", f"increase({EVENTS_CONSUMED}{{{AGENCY}}}[1h])"),
            ),
            table_panel(
                "Dossiers held now",
                "Open dossiers whose current step is at the agency, by status.",
                Query(f"sum by (agency, status) ({OPEN_DOSSIERS}{{{AGENCY}}})"),
                width=8,
            ),
            bar_panel(
                "Overdue steps held now",
                "Open dossiers whose current step, at this agency, is past its allotment.",
                overdue_held("step"),
                width=8,
                configure=zero_is_good,
            ),
            bar_panel(
                "Overdue dossiers held now",
                "Open dossiers past their committed due date whose current step is at this agency.",
                overdue_held("dossier"),
                width=8,
                configure=zero_is_good,
            ),
            trend_panel(
                "Overdue at the agency over time",
                "Overdue steps and dossiers held by each selected agency.",
                sum_by("agency, scope", f"{OPEN_OVERDUE}{{{AGENCY}}}"),
                width=24,
            ),
            Row("Sectors"),
            table_panel(
                "Completions by sector and class (selected period)",
                "Dossiers completed early, on time and late, per sector.",
                Query(
                    f"sum by (sector, completion) (increase({COMPLETIONS}{{{SECTOR}}}[$__range]))"
                ),
            ),
            bar_panel(
                "Mean processing time by sector (selected period)",
                "Working days from receipt to result, supplement pauses excluded: used / completed.",
                Query(
                    f"sum by (sector) (increase({WORKING_DAYS_USED}{{{SECTOR}}}[$__range])) / "
                    f"sum by (sector) (increase({COMPLETIONS}{{{SECTOR}}}[$__range]))",
                    "{{sector}}",
                ),
                unit="suffix: working days",
                width=6,
            ),
            bar_panel(
                "Median and 90th percentile processing time, all sectors (selected period)",
                "The distribution is kept without a sector label (series budget, docs/metrics.md).",
                Query(processing_days("0.5"), "median"),
                Query(processing_days("0.9"), "p90"),
                unit="suffix: working days",
                width=6,
            ),
            table_panel(
                "Working days saved and overrun by sector (selected period)",
                "Saved: statutory minus used days. Overrun: days beyond the statutory time.",
                Query(
                    f"sum by (sector) (increase({WORKING_DAYS_SAVED}{{{SECTOR}}}[$__range]))",
                    "saved",
                ),
                Query(
                    f"sum by (sector) (increase({WORKING_DAYS_OVERRUN}{{{SECTOR}}}[$__range]))",
                    "overrun",
                ),
                width=24,
            ),
        ),
    )
