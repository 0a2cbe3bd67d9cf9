"""The building blocks every dossierflow dashboard shares: a board, a query, panel styles.

A dashboard is a ``Board`` whose panels are a list of ``Row`` headers and panels made by
``stat_panel``, ``trend_panel``, ``bar_panel`` and ``table_panel``: the panel's type sets how
its queries read (range or instant, as a table) and its size unless the panel gives one.

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
from dataclasses import dataclass
from functools import partial
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
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

#: Every panel and variable reads the data source the ``datasource`` variable holds, so a
#: dashboard imported into a Grafana of its own (Dashboards > Import) works with any
#: Prometheus there. The import form asks for ``DS_PROMETHEUS`` (``__inputs``) and writes
#: the choice into the variable; provisioned (docker-compose), the placeholder matches no
#: data source and Grafana picks the first Prometheus: the provisioned one.
DATASOURCE_VARIABLE = "datasource"
DATASOURCE_INPUT = "DS_PROMETHEUS"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
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


@dataclass(frozen=True)
class Style:
    """A panel type, the query mode it reads and the size it has unless a panel says."""

    make: Callable[[], Any]
    #: one value per series at the end of the range (stats, bar gauges, tables)
    instant: bool
    table: bool = False
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Row:
    """A row header: the panels after it, up to the next row, sit under it."""

    title: str


@dataclass(frozen=True)
class Panel:
    """One panel's spec: ``Board`` builds it with its id, ref ids A, B... for its queries."""

    style: Style
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str | None
    width: int
    height: int
    configure: Callable[[Any], Any] | None

    def build(self, panel_id: int) -> Any:
        panel = (
            self.style.make()
            .id(panel_id)
            .title(self.title)
            .description(self.description)
            .datasource(DATASOURCE)
            .span(self.width)
            .height(self.height)
        )
        for ref, query in zip("ABCDEFGH", self.queries, strict=False):
            target = (
                prom.Dataquery()
                .expr(query.expr)
                .ref_id(ref)
                .datasource(DATASOURCE)
                .legend_format(query.legend or "__auto")
            )
            target = target.instant() if self.style.instant else target.range()
            if self.style.table:
                target = target.format(PromQueryFormat.TABLE)
            panel = panel.with_target(target)
        if self.unit is not None:
            panel = panel.unit(self.unit)
        if self.configure is not None:
            panel = self.configure(panel)
        return panel


def panel(
    style: Style,
    title: str,
    description: str,
    *queries: Query,
    unit: str | None = "short",
    width: int | None = None,
    height: int | None = None,
    configure: Callable[[Any], Any] | None = None,
) -> Panel:
    """A panel of ``style``: its queries read the style's way, its size the style's unless given."""
    return Panel(
        style,
        title,
        description,
        queries,
        unit,
        style.width if width is None else width,
        style.height if height is None else height,
        configure,
    )


@dataclass(frozen=True)
class Board:
    """One dashboard: its panels and rows get ids in the order given, from 1."""

    uid: str
    title: str
    description: str
    panels: Sequence[Row | Panel]
    time_from: str = "now-7d"
    #: after the ``datasource`` variable, which every board has first
    variables: Sequence[db.QueryVariable] = ()

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
        board = board.with_variable(datasource_variable())
        for variable in self.variables:
            board = board.with_variable(variable)
        for panel_id, item in enumerate(self.panels, start=1):
            if isinstance(item, Row):
                board = board.with_row(db.Row(item.title).id(panel_id))
            else:
                board = board.with_panel(item.build(panel_id))
        encoded: dict[str, Any] = json.loads(JSONEncoder().encode(board.build()))
        return {**IMPORT_HEADER, **encoded}


#: What Grafana's import form reads (as in its "Export for sharing externally"): the data
#: source to ask for, and the plugin it must be.
IMPORT_HEADER: dict[str, Any] = {
    "__inputs": [
        {
            "name": DATASOURCE_INPUT,
            "label": "Prometheus",
            "description": "the Prometheus that scrapes the dossierflow workers",
            "type": "datasource",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
        }
    ],
    "__requires": [
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}
    ],
}


def datasource_variable() -> db.DatasourceVariable:
    """The ``datasource`` variable: any Prometheus data source, the import form's by default."""
    placeholder = f"${{{DATASOURCE_INPUT}}}"
    return (
        db.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("Data source")
        .type("prometheus")
        .current(VariableOption(selected=False, text=placeholder, value=placeholder))
    )


# --- panel styles -------------------------------------------------------------------------


def _stat() -> stat.Panel:
    return (
        stat.Panel()
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def _bar_gauge() -> bargauge.Panel:
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


# The panel types of every dashboard; each dashboard is a list of these and of rows.
stat_panel = partial(panel, Style(_stat, instant=True, width=6, height=4))
trend_panel = partial(panel, Style(timeseries.Panel, instant=False))
bar_panel = partial(panel, Style(_bar_gauge, instant=True))
table_panel = partial(panel, Style(table.Panel, instant=True, table=True))


def sum_by(labels: str, series: str) -> Query:
    """``series`` summed per value of ``labels`` (``"agency"``, ``"channel, result"``), each
    line named by its values."""
    legend = " ".join(f"{{{{{label}}}}}" for label in labels.split(", "))
    return Query(f"sum by ({labels}) ({series})", legend)


def ratio(numerator: str, denominator: str) -> str:
    return f"{numerator}\n  /\n{denominator}"
