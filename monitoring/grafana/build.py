"""dossierflow's Grafana dashboards, generated with grafana-foundation-sdk.

The JSON under ``monitoring/grafana/dashboards/`` is what Grafana provisions; it is
generated from this file, never edited by hand::

    python -m monitoring.grafana.build          # rewrite the JSON after changing a panel
    python -m monitoring.grafana.build --check  # exit 1 if the committed JSON is stale

``tests/unit/test_monitoring_config.py`` makes the same comparison, and
``tests/integration/test_prometheus.py`` runs every panel's query against a real
Prometheus that scraped a real worker. What each dashboard is for: docs/monitoring.md.

PromQL conventions here:

* Gauges carry a ``worker`` label (each worker counts its own partitions): always
  ``sum`` them, never read one worker's series.
* "Selected period" panels use ``increase(...[$__range])``; "since the workers
  started" panels read the counters themselves (exact, but they restart at zero
  with a worker). ``increase`` cannot see what a series counted before its first
  scrape (a sector's first completion after a worker start), so a period figure
  can be short by about one per series and worker restart.
* Trends use trailing one-hour or one-day windows: dossiers complete a few times
  an hour per sector, so per-minute rates would be mostly zero.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BarGaugeDisplayMode, BigValueGraphMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

HERE = Path(__file__).resolve().parent
DASHBOARDS_DIR = HERE / "dashboards"

#: Fixed in provisioning/datasources/prometheus.yml: every panel names it.
DATASOURCE_UID = "dossierflow-prometheus"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
#: The scrape job of the workers (monitoring/prometheus/prometheus.yml, rules.yml).
WORKER_JOB = "dossierflow-worker"
TAG = "dossierflow"
TIMEZONE = "Asia/Ho_Chi_Minh"

# Metric names (monitoring/metrics.py), spelled once.
COMPLETIONS = "dossierflow_completions_total"
SAVED = "dossierflow_working_days_saved_total"
USED = "dossierflow_working_days_used_total"
OVERRUN = "dossierflow_working_days_overrun_total"
PROCESSING_BUCKET = "dossierflow_processing_working_days_bucket"
OPEN = "dossierflow_open_dossiers"
OVERDUE = "dossierflow_open_overdue"
ASSIGNMENTS = "dossierflow_assignments_total"
CONSUMED = "dossierflow_events_consumed_total"
ALERTS_RAISED = "dossierflow_alerts_raised_total"
DELIVERIES = "dossierflow_alert_deliveries_total"
DEAD_LETTERS = "dossierflow_dead_letters_total"
ROUTER_RECORDS = "dossierflow_router_records_total"
BATCH_SECONDS = "dossierflow_router_batch_seconds"
WATCHED = "dossierflow_watched_dossiers"
LAG = "dossierflow_consumer_lag"

ON_TIME = 'completion=~"early|on_time"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    #: One value per series at the end of the range (stats, bar gauges, tables).
    instant: bool = False
    table: bool = False


PanelBuilder = (
    timeseries.Panel | stat.Panel | bargauge.Panel | table.Panel | db.Row  # rows share ids
)


@dataclass
class Board:
    """One dashboard under construction: panels get ids and ref ids in the order added."""

    uid: str
    title: str
    description: str
    time_from: str = "now-7d"
    variables: Sequence[db.QueryVariable] = ()
    _items: list[PanelBuilder] = field(default_factory=list)

    def row(self, title: str) -> None:
        self._items.append(db.Row(title).id(len(self._items) + 1))

    def add(
        self,
        kind: Callable[[], Any],
        title: str,
        description: str,
        *queries: Query,
        unit: str | None = None,
        width: int = 6,
        height: int | None = None,
        configure: Callable[[Any], Any] | None = None,
    ) -> None:
        panel = (
            kind()
            .id(len(self._items) + 1)
            .title(title)
            .description(description)
            .datasource(DATASOURCE)
            .span(width)
            .height(height if height is not None else (4 if kind is stat_panel else 8))
        )
        for ref, query in zip("ABCDEFGH", queries, strict=False):
            target = (
                prom.Dataquery()
                .expr(query.expr)
                .ref_id(ref)
                .datasource(DATASOURCE)
                .legend_format(query.legend or "__auto")
            )
            target = target.instant() if query.instant else target.range()
            if query.table:
                target = target.format(PromQueryFormat.TABLE)
            panel = panel.with_target(target)
        if unit is not None:
            panel = panel.unit(unit)
        if configure is not None:
            panel = configure(panel)
        self._items.append(panel)

    def build(self) -> dict[str, Any]:
        board = (
            db.Dashboard(self.title)
            .uid(self.uid)
            .description(self.description)
            .tags([TAG])
            .timezone(TIMEZONE)
            .time(self.time_from, "now")
            .refresh("1m")
            .tooltip(DashboardCursorSync.CROSSHAIR)
            .readonly()
            .link(
                db.DashboardLink("Dossierflow dashboards")
                .type(DashboardLinkType.DASHBOARDS)
                .tags([TAG])
                .as_dropdown(True)
                .include_vars(False)
                .keep_time(True)
            )
        )
        for variable in self.variables:
            board = board.with_variable(variable)
        for item in self._items:
            board = board.with_row(item) if isinstance(item, db.Row) else board.with_panel(item)
        encoded: dict[str, Any] = json.loads(JSONEncoder().encode(board.build()))
        return encoded


# --- panel styles -------------------------------------------------------------------------


def stat_panel() -> stat.Panel:
    return (
        stat.Panel()
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def bars() -> bargauge.Panel:
    return (
        bargauge.Panel()
        .display_mode(BarGaugeDisplayMode.BASIC)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def on_time_colours(panel: Any) -> Any:
    # Decision 766/QĐ-TTg scores provinces on the on-time share: below 90% is a problem.
    return panel.thresholds(thresholds((None, "red"), (0.9, "orange"), (0.95, "green"))).min(0)


def zero_is_good(panel: Any) -> Any:
    return panel.thresholds(thresholds((None, "green"), (1, "red")))


def label_variable(name: str, label: str, metric: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({"query": f"label_values({metric}, {name})", "refId": f"{name}-values"})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def ratio(numerator: str, denominator: str) -> str:
    return f"{numerator}\n  /\n{denominator}"


# --- the dashboards -----------------------------------------------------------------------


def province_overview() -> Board:
    b = Board(
        uid="dossierflow-province",
        title="Dossierflow: province overview",
        description="On-time rate, completions, working days saved, open and overdue dossiers.",
    )
    b.row("Selected period")
    b.add(
        stat_panel,
        "On-time rate",
        "Completed early or on time, as a share of all dossiers whose processing ended in the period (Decision 766: supplement time excluded).",
        Query(
            ratio(
                f"sum(increase({COMPLETIONS}{{{ON_TIME}}}[$__range]))",
                f"sum(increase({COMPLETIONS}[$__range]))",
            ),
            instant=True,
        ),
        unit="percentunit",
        configure=on_time_colours,
    )
    b.add(
        stat_panel,
        "Completed dossiers",
        "Dossiers whose result was ready in the period.",
        Query(f"sum(increase({COMPLETIONS}[$__range]))", instant=True),
        unit="short",
    )
    b.add(
        stat_panel,
        "Working days saved",
        "Statutory working days minus working days used, summed over the dossiers completed in the period.",
        Query(f"sum(increase({SAVED}[$__range]))", instant=True),
        unit="short",
    )
    b.add(
        stat_panel,
        "Working days overrun",
        "Working days used beyond the statutory time, summed over the dossiers completed in the period.",
        Query(f"sum(increase({OVERRUN}[$__range]))", instant=True),
        unit="short",
        configure=zero_is_good,
    )

    b.row("Now")
    b.add(
        stat_panel,
        "Open dossiers",
        "Received and not closed yet, in every status (summed over workers).",
        Query(f"sum({OPEN})", instant=True),
        unit="short",
    )
    b.add(
        stat_panel,
        "Waiting for a supplement",
        "Open dossiers back with the applicant: their clock is stopped.",
        Query(f'sum({OPEN}{{status="paused"}})', instant=True),
        unit="short",
    )
    b.add(
        stat_panel,
        "Overdue dossiers",
        "Open dossiers past their committed due date (reported by the deadline watcher).",
        Query(f'sum({OVERDUE}{{scope="dossier"}})', instant=True),
        unit="short",
        configure=zero_is_good,
    )
    b.add(
        stat_panel,
        "Overdue steps",
        "Open dossiers whose current step is past its allotment.",
        Query(f'sum({OVERDUE}{{scope="step"}})', instant=True),
        unit="short",
        configure=zero_is_good,
    )

    b.row("Since the workers started")
    b.add(
        stat_panel,
        "On-time rate (running workers)",
        "The same share from the running workers' own counters: exact, but it starts again when a worker restarts.",
        Query(
            ratio(f"sum({COMPLETIONS}{{{ON_TIME}}})", f"sum({COMPLETIONS})"),
            instant=True,
        ),
        unit="percentunit",
        configure=on_time_colours,
    )
    b.add(
        stat_panel,
        "Completed (running workers)",
        "Completions counted by the running workers since they started, by class.",
        Query(f"sum by (completion) ({COMPLETIONS})", legend="{{completion}}", instant=True),
        unit="short",
        width=10,
    )
    b.add(
        stat_panel,
        "Working days saved (running workers)",
        "Working days saved, counted by the running workers since they started.",
        Query(f"sum({SAVED})", instant=True),
        unit="short",
        width=8,
    )

    b.row("Trends")
    b.add(
        timeseries.Panel,
        "On-time rate, trailing 24 hours",
        "Early and on-time completions as a share of all completions in the 24 hours before each point.",
        Query(
            ratio(
                f"sum(increase({COMPLETIONS}{{{ON_TIME}}}[1d]))",
                f"sum(increase({COMPLETIONS}[1d]))",
            ),
            legend="on-time rate",
        ),
        unit="percentunit",
        width=12,
        configure=lambda p: p.min(0).max(1),
    )
    b.add(
        timeseries.Panel,
        "Completions per hour by class",
        "Dossiers completed in the hour before each point: early, on time, late.",
        Query(f"sum by (completion) (increase({COMPLETIONS}[1h]))", legend="{{completion}}"),
        unit="short",
        width=12,
    )
    b.add(
        timeseries.Panel,
        "Open and overdue dossiers",
        "Open dossiers by status, and those past their committed due date.",
        Query(f"sum by (status) ({OPEN})", legend="{{status}}"),
        Query(f'sum({OVERDUE}{{scope="dossier"}})', legend="overdue"),
        unit="short",
        width=12,
    )
    b.add(
        bars,
        "On-time rate by sector (selected period)",
        "Per sector (lĩnh vực), the share of completions that were early or on time.",
        Query(
            ratio(
                f"sum by (sector) (increase({COMPLETIONS}{{{ON_TIME}}}[$__range]))",
                f"sum by (sector) (increase({COMPLETIONS}[$__range]))",
            ),
            legend="{{sector}}",
            instant=True,
        ),
        unit="percentunit",
        width=12,
        configure=lambda p: on_time_colours(p).max(1),
    )
    b.add(
        bars,
        "Working days saved by sector (selected period)",
        "Statutory minus used working days, summed per sector over the period's completions.",
        Query(f"sort_desc(sum by (sector) (increase({SAVED}[$__range])))", "{{sector}}", True),
        unit="short",
        width=24,
    )
    return b


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
        Query(f"sum by (type) (increase({CONSUMED}{{{agency}}}[1h]))", "{{type}}"),
        unit="short",
        width=12,
    )
    b.add(
        table.Panel,
        "Dossiers held now",
        "Open dossiers whose current step is at the agency, by status.",
        Query(f"sum by (agency, status) ({OPEN}{{{agency}}})", instant=True, table=True),
        unit="short",
        width=8,
    )
    b.add(
        bars,
        "Overdue steps held now",
        "Open dossiers whose current step, at this agency, is past its allotment.",
        Query(
            f'sort_desc(sum by (agency) ({OVERDUE}{{{agency}, scope="step"}}))',
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
            f'sort_desc(sum by (agency) ({OVERDUE}{{{agency}, scope="dossier"}}))',
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
        Query(f"sum by (agency, scope) ({OVERDUE}{{{agency}}})", "{{agency}} {{scope}}"),
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
            f"sum by (sector) (increase({USED}{{{sector}}}[$__range])) / "
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
            f"histogram_quantile(0.5, sum by (le) (increase({PROCESSING_BUCKET}[$__range])))",
            "median",
            True,
        ),
        Query(
            f"histogram_quantile(0.9, sum by (le) (increase({PROCESSING_BUCKET}[$__range])))",
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
        Query(f"sum by (sector) (increase({SAVED}{{{sector}}}[$__range]))", "saved", True, True),
        Query(
            f"sum by (sector) (increase({OVERRUN}{{{sector}}}[$__range]))", "overrun", True, True
        ),
        unit="short",
        width=24,
    )
    return b


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
        Query(f'sort_desc(sum by (agency) ({OVERDUE}{{scope="dossier"}}))', "{{agency}}", True),
        unit="short",
        width=8,
        configure=zero_is_good,
    )
    b.add(
        table.Panel,
        "Top 10 agencies by overdue steps",
        "Agencies holding the most steps past their allotment.",
        Query(f'topk(10, sum by (agency) ({OVERDUE}{{scope="step"}}))', instant=True, table=True),
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
                f'  sum by (agency) ({OVERDUE}{{scope="dossier"}})',
                f"  sum by (agency) ({OPEN})",
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
        Query(f"sum by (scope) ({OVERDUE})", "{{scope}}"),
        unit="short",
        width=12,
    )
    b.add(
        bars,
        "Working days overrun by sector (selected period)",
        "Working days beyond the statutory time, summed per sector.",
        Query(
            f"sort_desc(sum by (sector) (increase({OVERRUN}[$__range])) > 0)", "{{sector}}", True
        ),
        unit="short",
        width=12,
    )
    return b


def engine_health() -> Board:
    job = f'job="{WORKER_JOB}"'
    b = Board(
        uid="dossierflow-engine",
        title="Dossierflow: engine health",
        description="Workers, router throughput and batch latency, dead letters, alert delivery, deadline index.",
        time_from="now-6h",
    )
    b.row("Workers")
    b.add(
        stat_panel,
        "Workers up",
        "Workers Prometheus scraped successfully last time.",
        Query(f"sum(up{{{job}}})", instant=True),
        unit="short",
        width=4,
        configure=lambda p: p.thresholds(thresholds((None, "red"), (1, "green"))),
    )
    b.add(
        stat_panel,
        "Workers down",
        "Workers discovered but not answering /metrics.",
        Query(f"count(up{{{job}}} == 0) or vector(0)", instant=True),
        unit="short",
        width=4,
        configure=zero_is_good,
    )
    b.add(
        timeseries.Panel,
        "Scrape status by worker",
        "1 = answering, 0 = down.",
        Query(f"up{{{job}}}", "{{instance}}"),
        unit="short",
        width=8,
    )
    b.add(
        table.Panel,
        "Firing engine alerts",
        "Prometheus alerts from monitoring/prometheus/rules.yml that fire now.",
        Query('ALERTS{alertstate="firing", alertname=~"Dossierflow.*"}', instant=True, table=True),
        width=8,
    )

    b.row("Router")
    rate_interval = "$__rate_interval"
    b.add(
        timeseries.Panel,
        "Router throughput",
        "Records the router reads per second: agencies' events and the watcher's deadline ticks.",
        Query(f"sum by (kind) (rate({ROUTER_RECORDS}[{rate_interval}]))", "{{kind}}"),
        unit="rps",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Router throughput by worker",
        "Events read per second by each worker: uneven numbers mean uneven partitions.",
        Query(
            f'sum by (instance) (rate({ROUTER_RECORDS}{{kind="events"}}[{rate_interval}]))',
            "{{instance}}",
        ),
        unit="rps",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Records per batch",
        "Average records per router batch: batching is what makes the router fast.",
        Query(
            ratio(
                f"sum(rate({ROUTER_RECORDS}[{rate_interval}]))",
                f"sum(rate({BATCH_SECONDS}_count[{rate_interval}]))",
            ),
            "records per batch",
        ),
        unit="short",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Batch latency",
        "Wall time of one router batch, outputs and changelog included: median, p90, p99.",
        *(
            Query(
                f"histogram_quantile({q}, sum by (le) (rate({BATCH_SECONDS}_bucket[{rate_interval}])))",
                name,
            )
            for q, name in (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"))
        ),
        unit="s",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Dead letters by reason",
        "Records sent to the dead-letter topic per second, by reason kind.",
        Query(f"sum by (reason) (rate({DEAD_LETTERS}[{rate_interval}]))", "{{reason}}"),
        unit="cps",
        width=8,
    )
    b.add(
        table.Panel,
        "Dead letters since the workers started",
        "Counted by the running workers, by reason: processing_error is a bug of ours.",
        Query(f"sum by (reason) ({DEAD_LETTERS})", instant=True, table=True),
        unit="short",
        width=8,
    )
    b.add(
        timeseries.Panel,
        "Consumer lag by topic",
        "Records not yet committed by the workers' group, end offset minus committed, set "
        "at each scrape: a backlog drains to 0; a line that only grows is a stuck worker.",
        Query(f"sum by (topic) ({LAG})", "{{topic}}"),
        unit="short",
        width=12,
    )
    b.add(
        timeseries.Panel,
        "Consumer lag by worker",
        "The same by worker: after a restart the restarted worker's lag falls as it catches up.",
        Query(f"sum by (worker) ({LAG})", "{{worker}}"),
        unit="short",
        width=12,
    )

    b.row("Alert delivery and deadline index")
    b.add(
        timeseries.Panel,
        "Alert deliveries by channel and result",
        "Deliveries to supervisors per second: delivered, failed (after retries).",
        Query(
            f"sum by (channel, result) (rate({DELIVERIES}[{rate_interval}]))",
            "{{channel}} {{result}}",
        ),
        unit="cps",
        width=10,
    )
    b.add(
        stat_panel,
        "Failed deliveries (selected period)",
        "Alerts that did not reach a supervisor after every retry.",
        Query(
            f'sum(increase({DELIVERIES}{{result="failed"}}[$__range])) or vector(0)', instant=True
        ),
        unit="short",
        width=4,
        height=8,
        configure=zero_is_good,
    )
    b.add(
        timeseries.Panel,
        "Watched dossiers by worker",
        "Dossiers in each worker's deadline index.",
        Query(f"sum by (worker) ({WATCHED})", "{{worker}}"),
        unit="short",
        width=10,
    )
    b.add(
        timeseries.Panel,
        "Open dossiers by worker",
        "Open dossiers on each worker's partitions: they move with a rebalance.",
        Query(f"sum by (worker) ({OPEN})", "{{worker}}"),
        unit="short",
        width=24,
    )
    return b


BOARDS: dict[str, Callable[[], Board]] = {
    "province-overview.json": province_overview,
    "agency-drilldown.json": agency_drilldown,
    "sla.json": sla,
    "engine-health.json": engine_health,
}


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed (sorted keys, two-space indent)."""
    return {
        name: json.dumps(make().build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, make in BOARDS.items()
    }


def stale(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """Names of dashboard files that differ from what this module generates (or are extra)."""
    wanted = render()
    present = {p.name for p in directory.glob("*.json")}
    differ = [
        name
        for name, text in wanted.items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]
    return sorted(differ + sorted(present - wanted.keys()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the JSON is stale")
    args = parser.parse_args(argv)
    if args.check:
        differ = stale()
        for name in differ:
            print(f"{DASHBOARDS_DIR / name} is stale: run python -m monitoring.grafana.build")
        return 1 if differ else 0
    DASHBOARDS_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (DASHBOARDS_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {DASHBOARDS_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
