"""House style: one place for units, legends, descriptions and query shapes.

Every panel of every netviz dashboard is built through these helpers, so they all share the
datasource variable, units, legend placement, and the rule that no panel ships without a
description (`ValueError` otherwise). Modules per dashboard only say *what* to show.
"""

from __future__ import annotations

import json
from typing import Iterable, Optional

from grafana_foundation_sdk.builders import bargauge as bargauge_builder
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.builders import nodegraph as nodegraph_builder
from grafana_foundation_sdk.builders import piechart as piechart_builder
from grafana_foundation_sdk.builders import prometheus as prometheus_builder
from grafana_foundation_sdk.builders import stat as stat_builder
from grafana_foundation_sdk.builders import table as table_builder
from grafana_foundation_sdk.builders import timeseries as timeseries_builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, dashboard, prometheus
from grafana_foundation_sdk.models import nodegraph as nodegraph_model
from grafana_foundation_sdk.models import piechart as piechart_model

# Grafana unit ids (Standard options > Unit).
BYTES = "bytes"  # IEC: KiB, MiB, GiB
BITS_PER_SECOND = "bps"  # SI: kb/s, Mb/s
PACKETS_PER_SECOND = "pps"
RECORDS_PER_SECOND = "recps"
PER_SECOND = "cps"  # counts per second
COUNT = "short"
SECONDS = "s"

DATASOURCE_VARIABLE = "datasource"
DATASOURCE = common.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VARIABLE + "}")

# What the node-graph contract calls its frames (FACTS.md, Grafana Node Graph).
NODES_REF = "nodes"
EDGES_REF = "edges"


def _require(description: str, title: str) -> str:
    if not description or not description.strip():
        raise ValueError(f"panel {title!r} needs a description (what question it answers), but none was provided")
    return description


# ---- queries ---------------------------------------------------------------------------------


def _query(expr: str, ref_id: str) -> prometheus_builder.Dataquery:
    """What every query has: the expression in code mode, its refId, the datasource variable."""
    return (
        prometheus_builder.Dataquery()
        .expr(expr)
        .editor_mode(prometheus.QueryEditorMode.CODE)
        .ref_id(ref_id)
        .datasource(DATASOURCE)
    )


def range_query(expr: str, legend: str, ref_id: str = "A") -> prometheus_builder.Dataquery:
    """A time-series query over the dashboard range, one line per series named by `legend`."""
    return _query(expr, ref_id).legend_format(legend).range().format(prometheus.PromQueryFormat.TIME_SERIES)


def table_query(expr: str, ref_id: str = "A") -> prometheus_builder.Dataquery:
    """An instant query in table format: one row per series, one column per label plus `Value`."""
    return _query(expr, ref_id).instant().format(prometheus.PromQueryFormat.TABLE)


def instant_query(expr: str, legend: str, ref_id: str = "A") -> prometheus_builder.Dataquery:
    """An instant query whose series are named by `legend` (bar gauges, pie charts, stats)."""
    return _query(expr, ref_id).legend_format(legend).instant().format(prometheus.PromQueryFormat.TIME_SERIES)


# ---- variables -------------------------------------------------------------------------------


def datasource_variable() -> dashboard_builder.DatasourceVariable:
    return (
        dashboard_builder.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("Data source")
        .type("prometheus")
        .description("The Prometheus that scrapes netviz's exporters.")
    )


def query_variable(
    name: str, label: str, query: str, *, description: str, regex: str = "", depends_on: str = ""
) -> dashboard_builder.QueryVariable:
    """A multi-select variable with an All option matching everything (`.*`).

    `query` is a Grafana Prometheus variable query: `label_values(<selector>, <label>)` or
    `query_result(<PromQL>)` with a `regex` that picks the value out of each result line.
    """
    variable = (
        dashboard_builder.QueryVariable(name)
        .label(label)
        .description(_require(description, name))
        .datasource(DATASOURCE)
        .query(query)
        .definition(query)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dashboard.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard.VariableSort.ALPHABETICAL_ASC)
    )
    if regex:
        variable = variable.regex(regex)
    return variable


# ---- panels ----------------------------------------------------------------------------------


def _legend_table(calcs: Iterable[str]) -> common_builder.VizLegendOptions:
    return (
        common_builder.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(list(calcs))
        .sort_by("Mean")
        .sort_desc(True)
    )


def _panel(builder, title: str, description: str, targets: list, width: int, height: int, unit: Optional[str] = None):
    """What every panel has: title, required description, the datasource variable, targets, size, unit."""
    panel = (
        builder.title(title)
        .description(_require(description, title))
        .datasource(DATASOURCE)
        .targets(targets)
        .span(width)
        .height(height)
    )
    return panel.unit(unit) if unit is not None else panel


def timeseries(
    title: str, description: str, unit: str, targets: list, *, width: int = 12, height: int = 8, stack: bool = False
) -> timeseries_builder.Panel:
    """Lines over time with a table legend (mean, max) sorted by mean."""
    panel = (
        _panel(timeseries_builder.Panel(), title, description, targets, width, height, unit)
        .min(0)
        .fill_opacity(10 if not stack else 40)
        .line_width(1)
        .legend(_legend_table(["mean", "max"]))
        .tooltip(common_builder.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING))
    )
    if stack:
        panel = panel.stacking(common_builder.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def table(
    title: str,
    description: str,
    unit: str,
    targets: list,
    *,
    width: int = 12,
    height: int = 8,
    transformations: Optional[list[dashboard.DataTransformerConfig]] = None,
    sort_by: str = "",
) -> table_builder.Panel:
    """A table of an instant query; the numeric columns take `unit`, the Time column is hidden."""
    panel = (
        _panel(table_builder.Panel(), title, description, targets, width, height, unit)
        .override_by_name("Time", [dashboard.DynamicConfigValue(id_val="custom.hidden", value=True)])
    )
    hide_time = dashboard.DataTransformerConfig(
        id_val="organize", options={"excludeByName": {"Time": True}, "indexByName": {}, "renameByName": {}}
    )
    panel = panel.transformations([hide_time, *(transformations or [])])
    if sort_by:
        panel = panel.sort_by([common_builder.TableSortByFieldState().display_name(sort_by).desc(True)])
    return panel


def bargauge(title: str, description: str, unit: str, targets: list, *, width: int = 12, height: int = 8) -> bargauge_builder.Panel:
    """Horizontal bars, one per series, for "top N" rankings at the end of the range."""
    return (
        _panel(bargauge_builder.Panel(), title, description, targets, width, height, unit)
        .min(0)
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def piechart(title: str, description: str, unit: str, targets: list, *, width: int = 8, height: int = 8) -> piechart_builder.Panel:
    """A donut of shares at the end of the range, legend with values and percentages."""
    return (
        _panel(piechart_builder.Panel(), title, description, targets, width, height, unit)
        .pie_type(piechart_model.PieChartType.DONUT)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .legend(
            piechart_builder.PieChartLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .show_legend(True)
            .values([piechart_model.PieChartLegendValues.VALUE, piechart_model.PieChartLegendValues.PERCENT])
        )
    )


def stat(title: str, description: str, unit: str, targets: list, *, width: int = 6, height: int = 4) -> stat_builder.Panel:
    """One big number per series (last value)."""
    return (
        _panel(stat_builder.Panel(), title, description, targets, width, height, unit)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def nodegraph(
    title: str, description: str, nodes_expr: str, edges_expr: str, *, node_unit: str, edge_unit: str, width: int = 24,
    height: int = 16, field_links: Optional[dict[str, list[dict]]] = None,
) -> nodegraph_builder.Panel:
    """A Node Graph fed by two instant table queries, refIds `nodes` and `edges`.

    The field names Grafana reads (id, title, subtitle, detail__*, source, target, thickness)
    must be the label names the queries produce: no rename transformation is used (FACTS).
    """
    panel = (
        _panel(
            nodegraph_builder.Panel(),
            title,
            description,
            [table_query(nodes_expr, NODES_REF), table_query(edges_expr, EDGES_REF)],
            width,
            height,
        )
        .nodes(nodegraph_builder.NodeOptions().main_stat_unit(node_unit))
        .edges(nodegraph_builder.EdgeOptions().main_stat_unit(edge_unit))
        .zoom_mode(nodegraph_model.ZoomMode.COOPERATIVE)
    )
    # `field_links`: {field name: data links}; a node's menu lists the links of its row's fields.
    for field_name, links in sorted((field_links or {}).items()):
        panel = panel.override_by_name(field_name, [dashboard.DynamicConfigValue(id_val="links", value=links)])
    return panel


# Alert list options (Grafana public/app/plugins/panel/alertlist/types.ts, UnifiedAlertListOptions).
ALERT_LIST_SORT_IMPORTANCE = 3  # SortOrder.Importance: firing before pending


def alert_list(title: str, description: str, name_filter: str, *, width: int = 24, height: int = 6) -> dashboard_builder.Panel:
    """Grafana's alert list of the firing and pending alerts whose name contains `name_filter`
    (case-insensitive), from every rules source: Prometheus' own rules reach it through each
    Prometheus datasource that manages alerts (jsonData.manageAlerts, on by default). The SDK has no
    builder for this panel: a generic panel with the options Grafana reads."""
    options = {
        "viewMode": "list",
        "groupMode": "default",
        "groupBy": [],
        "maxItems": 20,
        "sortOrder": ALERT_LIST_SORT_IMPORTANCE,
        "dashboardAlerts": False,
        "alertName": name_filter,
        "alertInstanceLabelFilter": "",
        "datasource": None,
        "folder": None,
        "showInstances": True,
        "showInactiveAlerts": False,
        "stateFilter": {
            "firing": True,
            "pending": True,
            "recovering": True,
            "noData": False,
            "normal": False,
            "error": True,
        },
    }
    return (
        dashboard_builder.Panel()
        .type("alertlist")
        .title(title)
        .description(_require(description, title))
        .span(width)
        .height(height)
        .options(options)
    )


def row(title: str) -> dashboard_builder.Row:
    """An expanded row: the panels that follow it on the dashboard belong to it."""
    return dashboard_builder.Row(title).collapsed(False)


# ---- dashboard -------------------------------------------------------------------------------


class Layout:
    """Adds rows and panels in reading order and numbers panels 1, 2, 3... so ids never churn."""

    def __init__(self, board: dashboard_builder.Dashboard):
        self.board = board
        self._next_id = 1

    def _id(self) -> int:
        value, self._next_id = self._next_id, self._next_id + 1
        return value

    def panel(self, panel, panel_id: Optional[int] = None) -> "Layout":
        """Add `panel`, numbered next, or `panel_id` (panels added above older ones take ids of their
        own so the older ones keep theirs, and links to them stay valid)."""
        self.board.with_panel(panel.id(self._id() if panel_id is None else panel_id))
        return self

    def row(self, title: str) -> "Layout":
        self.board.with_row(row(title).id(self._id()))
        return self


def new_dashboard(title: str, uid: str, description: str, config) -> dashboard_builder.Dashboard:
    return (
        dashboard_builder.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(list(config.tags))
        .editable()
        .time(config.default_time_from, "now")
        .refresh(config.refresh)
        .timezone("browser")
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
    )


def to_dict(board: dashboard_builder.Dashboard) -> dict:
    """The dashboard as plain JSON data (what Grafana imports)."""
    return json.loads(JSONEncoder(sort_keys=True).encode(board.build()))


def to_json(data: dict) -> str:
    """Stable text: sorted keys, 2-space indent, trailing newline, so diffs show only real changes."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
