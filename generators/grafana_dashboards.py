"""dashboards/<uid>.json: Grafana dashboards built with grafanalib from the model.

grafanalib still writes some legacy keys and nulls; `grafana_normalise.normalise` turns
its output into current Grafana JSON in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from observability import stack
from observability.model_dashboards import DATASOURCE_VARIABLE, Dashboard, Panel, Variable

from .grafana_normalise import normalise

if TYPE_CHECKING:  # no pydantic at run time: generators.dashboards_worker imports this module alone
    from observability.model import Model

DASHBOARD_DIR = stack.DASHBOARD_DIR
DATASOURCE = {"type": "prometheus", "uid": f"${{{DATASOURCE_VARIABLE}}}"}


def render(model: Model) -> dict[str, Any]:
    return render_dashboards(model.dashboards)


def render_dashboards(dashboards: Iterable[Dashboard]) -> dict[str, Any]:
    return {f"{DASHBOARD_DIR}/{d.uid}.json": dashboard(d) for d in dashboards}


def dashboard(d: Dashboard) -> dict[str, Any]:
    panels: list[Any] = []
    for row in d.rows:
        panels.append(g.RowPanel(title=row.title, id=row.id, gridPos=g.GridPos(h=1, w=24, x=0, y=row.y)))
        panels.extend(panel(p) for p in row.panels)
    built = g.Dashboard(
        title=d.title,
        uid=d.uid,
        description=d.description or "",
        tags=list(d.tags),
        refresh=d.refresh,
        time=g.Time(d.time_from, "now"),
        timezone="browser",
        panels=panels,
        templating=g.Templating(list=[_datasource_variable()] + [_variable(v) for v in d.variables]),
        editable=False,
    )
    return normalise(json.loads(json.dumps(built.to_json_data(), cls=DashboardEncoder)), d)


def _datasource_variable() -> g.Template:
    prometheus = stack.GRAFANA_DATASOURCES["prometheus"]
    return g.Template(name=DATASOURCE_VARIABLE, label="Data source", query="prometheus", type="datasource",
                      default=prometheus["uid"], hide=0)


def _variable(v: Variable) -> g.Template:
    return g.Template(name=v.name, label=v.label, query=v.query, dataSource=DATASOURCE, type="query",
                      multi=v.multi, includeAll=v.include_all, allValue=".*" if v.include_all else None,
                      default="$__all" if v.include_all else None, refresh=2, sort=1)


def _thresholds(p: Panel) -> list[g.Threshold]:
    # The normaliser writes the final steps (with Grafana's null base); grafanalib needs floats.
    steps = p.thresholds or (("green", None),)
    return [g.Threshold(color, i, float(value or 0)) for i, (color, value) in enumerate(steps)]


def _targets(p: Panel) -> list[g.Target]:
    return [g.Target(expr=q.expr, legendFormat=q.legend or "", refId=q.ref_id, instant=q.instant,
                     datasource=DATASOURCE, format="table" if p.type == "table" else "time_series")
            for q in p.queries]


def panel(p: Panel) -> Any:
    common: dict[str, Any] = dict(
        id=p.id,
        title=p.title,
        description=p.description or "",
        dataSource=DATASOURCE,
        targets=_targets(p),
        gridPos=g.GridPos(h=p.grid.h, w=p.grid.w, x=p.grid.x, y=p.grid.y),
    )
    thresholds = _thresholds(p)
    if p.type == "timeseries":
        built = g.TimeSeries(unit=p.unit, thresholds=thresholds, thresholdsStyleMode="off",
                             stacking={"mode": "normal" if p.stack else "none", "group": "A"},
                             legendDisplayMode="list", legendPlacement="bottom", tooltipMode="multi",
                             **common)
    elif p.type == "stat":
        built = g.Stat(format=p.unit, thresholds=thresholds, reduceCalc="lastNotNull", graphMode="area", **common)
    elif p.type == "gauge":
        built = g.GaugePanel(format=p.unit, thresholdType="absolute", thresholds=thresholds, calc="lastNotNull",
                             min=p.min if p.min is not None else 0, max=p.max if p.max is not None else 100, **common)
    elif p.type == "bargauge":
        built = g.BarGauge(format=p.unit, thresholds=thresholds, calc="lastNotNull", orientation="horizontal",
                           displayMode="gradient", min=p.min if p.min is not None else 0,
                           max=p.max if p.max is not None else 100, **common)
    elif p.type == "piechart":
        built = g.PieChartv2(unit=p.unit, reduceOptionsCalcs=["lastNotNull"], pieType="donut", **common)
    else:
        built = g.Table(unit=p.unit, **common)
    return built
