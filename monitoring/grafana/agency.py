"""Dashboard "agencies and steps": work routed to each agency, what it holds, overdue steps; sectors."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table, timeseries

from monitoring.grafana.panels import (
    Board,
    Query,
    bars,
    label_variable,
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


def agency_drilldown() -> Board:
    agency = 'agency=~"$agency"'
    sector = 'sector=~"$sector"'
    b = Board(
        uid="dossierflow-agency",
        title="Dossierflow: agencies and steps",
        description="Work routed to each agency, what it holds now, overdue steps; completions and processing time per sector.",
        variables=(
            label_variable("agency", "Agency", ASSIGNMENTS),
            label_variable("sector", "Sector", COMPLETIONS),
        ),
    )
    b.row("Agencies")
    b.add(
        timeseries.Panel,
        "Assignments per hour",
        "Dossiers routed to each agency's inbox (one per step) in the hour before each point.",
        Query(f"sum by (agency) (increase({ASSIGNMENTS}{{{agency}}}[1h]))", "{{agency}}"),
        unit="short",
        width=12,
    )
    b.add(
        timeseries.Panel,
        "Events applied per hour by type",
        "Hand-off events the selected agencies published and the router applied.",
        Query(f"sum by (type) (increase({EVENTS_CONSUMED}{{{agency}}}[1h]))", "{{type}}"),
        unit="short",
        width=12,
    )
    b.add(
        table.Panel,
        "Dossiers held now",
        "Open dossiers whose current step is at the agency, by status.",
        Query(f"sum by (agency, status) ({OPEN_DOSSIERS}{{{agency}}})", instant=True, table=True),
        unit="short",
        width=8,
    )
    b.add(
        bars,
        "Overdue steps held now",
        "Open dossiers whose current step, at this agency, is past its allotment.",
        Query(
            f'sort_desc(sum by (agency) ({OPEN_OVERDUE}{{{agency}, scope="step"}}))',
            "{{agency}}",
            True,
        ),
        unit="short",
        width=8,
        configure=zero_is_good,
    )
    b.add(
        bars,
        "Overdue dossiers held now",
        "Open dossiers past their committed due date whose current step is at this agency.",
        Query(
            f'sort_desc(sum by (agency) ({OPEN_OVERDUE}{{{agency}, scope="dossier"}}))',
            "{{agency}}",
            True,
        ),
        unit="short",
        width=8,
        configure=zero_is_good,
    )
    b.add(
        timeseries.Panel,
        "Overdue at the agency over time",
        "Overdue steps and dossiers held by each selected agency.",
        Query(f"sum by (agency, scope) ({OPEN_OVERDUE}{{{agency}}})", "{{agency}} {{scope}}"),
        unit="short",
        width=24,
    )

    b.row("Sectors")
    b.add(
        table.Panel,
        "Completions by sector and class (selected period)",
        "Dossiers completed early, on time and late, per sector.",
        Query(
            f"sum by (sector, completion) (increase({COMPLETIONS}{{{sector}}}[$__range]))",
            instant=True,
            table=True,
        ),
        unit="short",
        width=12,
    )
    b.add(
        bars,
        "Mean processing time by sector (selected period)",
        "Working days from receipt to result, supplement pauses excluded: used / completed.",
        Query(
            f"sum by (sector) (increase({WORKING_DAYS_USED}{{{sector}}}[$__range])) / "
            f"sum by (sector) (increase({COMPLETIONS}{{{sector}}}[$__range]))",
            "{{sector}}",
            True,
        ),
        unit="suffix: working days",
        width=6,
    )
    b.add(
        bars,
        "Median and 90th percentile processing time, all sectors (selected period)",
        "The distribution is kept without a sector label (series budget, docs/metrics.md).",
        Query(
            f"histogram_quantile(0.5, sum by (le) (increase({PROCESSING_DAYS}_bucket[$__range])))",
            "median",
            True,
        ),
        Query(
            f"histogram_quantile(0.9, sum by (le) (increase({PROCESSING_DAYS}_bucket[$__range])))",
            "p90",
            True,
        ),
        unit="suffix: working days",
        width=6,
    )
    b.add(
        table.Panel,
        "Working days saved and overrun by sector (selected period)",
        "Saved: statutory minus used days. Overrun: days beyond the statutory time.",
        Query(
            f"sum by (sector) (increase({WORKING_DAYS_SAVED}{{{sector}}}[$__range]))",
            "saved",
            True,
            True,
        ),
        Query(
            f"sum by (sector) (increase({WORKING_DAYS_OVERRUN}{{{sector}}}[$__range]))",
            "overrun",
            True,
            True,
        ),
        unit="short",
        width=24,
    )
    return b
