"""The building blocks every dossierflow dashboard shares: a board, a query, panel styles.

PromQL conventions for the dashboards built from these:

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

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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

#: Fixed in provisioning/datasources/prometheus.yml: every panel names it.
DATASOURCE_UID = "dossierflow-prometheus"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
#: The scrape job of the workers (monitoring/prometheus/prometheus.yml, rules.yml).
WORKER_JOB = "dossierflow-worker"
TAG = "dossierflow"
TIMEZONE = "Asia/Ho_Chi_Minh"

#: Early or on time: the completions Decision 766/QĐ-TTg counts as on time.
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
