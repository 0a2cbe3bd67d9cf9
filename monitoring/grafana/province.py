"""Dashboard "province overview": on-time rate, completions, working days saved, open and overdue dossiers."""

from __future__ import annotations

from monitoring.grafana.panels import (
    ON_TIME,
    Board,
    Query,
    Row,
    bar_panel,
    on_time_colours,
    ratio,
    stat_panel,
    sum_by,
    trend_panel,
    zero_is_good,
)
from monitoring.metrics import (
    COMPLETIONS,
    OPEN_DOSSIERS,
    OPEN_OVERDUE,
    WORKING_DAYS_OVERRUN,
    WORKING_DAYS_SAVED,
)


def province_overview() -> Board:
    return Board(
        uid="dossierflow-province",
        title="Dossierflow: province overview",
        description="On-time rate, completions, working days saved, open and overdue dossiers.",
        panels=(
            Row("Selected period"),
            stat_panel(
                "On-time rate",
                "Completed early or on time, as a share of all dossiers whose processing ended in the period (Decision 766: supplement time excluded).",
                Query(
                    ratio(
                        f"sum(increase({COMPLETIONS}{{{ON_TIME}}}[$__range]))",
                        f"sum(increase({COMPLETIONS}[$__range]))",
                    )
                ),
                unit="percentunit",
                configure=on_time_colours,
            ),
            stat_panel(
                "Completed dossiers",
                "Dossiers whose result was ready in the period.",
                Query(f"sum(increase({COMPLETIONS}[$__range]))"),
            ),
            stat_panel(
                "Working days saved",
                "Statutory working days minus working days used, summed over the dossiers completed in the period.",
                Query(f"sum(increase({WORKING_DAYS_SAVED}[$__range]))"),
            ),
            stat_panel(
                "Working days overrun",
                "Working days used beyond the statutory time, summed over the dossiers completed in the period.",
                Query(f"sum(increase({WORKING_DAYS_OVERRUN}[$__range]))"),
                configure=zero_is_good,
            ),
            Row("Now"),
            stat_panel(
                "Open dossiers",
                "Received and not closed yet, in every status (summed over workers).",
                Query(f"sum({OPEN_DOSSIERS})"),
            ),
            stat_panel(
                "Waiting for a supplement",
                "Open dossiers back with the applicant: their clock is stopped.",
                Query(f'sum({OPEN_DOSSIERS}{{status="paused"}})'),
            ),
            stat_panel(
                "Overdue dossiers",
                "Open dossiers past their committed due date (reported by the deadline watcher).",
                Query(f'sum({OPEN_OVERDUE}{{scope="dossier"}})'),
                configure=zero_is_good,
            ),
            stat_panel(
                "Overdue steps",
                "Open dossiers whose current step is past its allotment.",
                Query(f'sum({OPEN_OVERDUE}{{scope="step"}})'),
                configure=zero_is_good,
            ),
            Row("Since the workers started"),
            stat_panel(
                "On-time rate (running workers)",
                "The same share from the running workers' own counters: exact, but it starts again when a worker restarts.",
                Query(ratio(f"sum({COMPLETIONS}{{{ON_TIME}}})", f"sum({COMPLETIONS})")),
                unit="percentunit",
                configure=on_time_colours,
            ),
            stat_panel(
                "Completed (running workers)",
                "Completions counted by the running workers since they started, by class.",
                sum_by("completion", COMPLETIONS),
                width=10,
            ),
            stat_panel(
                "Working days saved (running workers)",
                "Working days saved, counted by the running workers since they started.",
                Query(f"sum({WORKING_DAYS_SAVED})"),
                width=8,
            ),
            Row("Trends"),
            trend_panel(
                "On-time rate, trailing 24 hours",
                "Early and on-time completions as a share of all completions in the 24 hours before each point.",
                Query(
                    ratio(
                        f"sum(increase({COMPLETIONS}{{{ON_TIME}}}[1d]))",
                        f"sum(increase({COMPLETIONS}[1d]))",
                    ),
                    "on-time rate",
                ),
                unit="percentunit",
                configure=lambda p: p.min(0).max(1),
            ),
            trend_panel(
                "Completions per hour by class",
                "Dossiers completed in the hour before each point: early, on time, late.",
                sum_by("completion", f"increase({COMPLETIONS}[1h])"),
            ),
            trend_panel(
                "Open and overdue dossiers",
                "Open dossiers by status, and those past their committed due date.",
                sum_by("status", OPEN_DOSSIERS),
                Query(f'sum({OPEN_OVERDUE}{{scope="dossier"}})', "overdue"),
            ),
            bar_panel(
                "On-time rate by sector (selected period)",
                "Per sector (lĩnh vực), the share of completions that were early or on time.",
                Query(
                    ratio(
                        f"sum by (sector) (increase({COMPLETIONS}{{{ON_TIME}}}[$__range]))",
                        f"sum by (sector) (increase({COMPLETIONS}[$__range]))",
                    ),
                    "{{sector}}",
                ),
                unit="percentunit",
                configure=lambda p: on_time_colours(p).max(1),
            ),
            bar_panel(
                "Working days saved by sector (selected period)",
                "Statutory minus used working days, summed per sector over the period's completions.",
                Query(
                    f"sort_desc(sum by (sector) (increase({WORKING_DAYS_SAVED}[$__range])))",
                    "{{sector}}",
                ),
                width=24,
            ),
        ),
    )
