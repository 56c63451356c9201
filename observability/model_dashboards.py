"""Dashboards in the model: panels laid out on Grafana's 24-column grid, ids and refIds
assigned, threshold names replaced by their values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .problems import Path, Problem

if TYPE_CHECKING:  # at run time the specs arrive built: the dashboards renderer imports no pydantic
    from .spec_dashboards import DashboardSpec, PanelSpec

GRID_WIDTH = 24
# Grafana's data-source template variable that every dashboard gets and every panel reads from.
DATASOURCE_VARIABLE = "datasource"
ROW_HEIGHT = 1


@dataclass(frozen=True)
class Query:
    ref_id: str
    expr: str
    legend: str | None
    instant: bool
    path: Path


@dataclass(frozen=True)
class GridPos:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Panel:
    id: int
    title: str
    type: str
    unit: str
    description: str | None
    grid: GridPos
    queries: tuple[Query, ...]
    thresholds: tuple[tuple[str, float | None], ...]
    min: float | None
    max: float | None
    stack: bool
    path: Path


@dataclass(frozen=True)
class Row:
    id: int
    title: str
    y: int
    panels: tuple[Panel, ...]
    path: Path


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    query: str
    applies_to: tuple[str, ...]
    multi: bool
    include_all: bool
    path: Path


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str | None
    tags: tuple[str, ...]
    refresh: str
    time_from: str
    home: bool
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    path: Path

    @property
    def panels(self) -> list[Panel]:
        return [panel for row in self.rows for panel in row.panels]


def _ref_id(index: int) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[index] if index < 26 else f"Q{index}"


def _thresholds(panel: PanelSpec, thresholds: dict[str, float], path: Path,
                problems: list[Problem]) -> tuple[tuple[str, float | None], ...]:
    steps = []
    for i, step in enumerate(panel.thresholds):
        value = step.value
        if isinstance(value, str):
            if value not in thresholds:
                problems.append(Problem(path + ("thresholds", i, "value"), f"unknown threshold '{value}': define it under thresholds"))
                value = None
            else:
                value = thresholds[value]
        steps.append((step.color, value))
    numbers = [v for _, v in steps[1:] if v is not None]
    if numbers != sorted(numbers):
        problems.append(Problem(path + ("thresholds",), "threshold steps must increase"))
    return tuple(steps)


def build_dashboards(specs: list[DashboardSpec], thresholds: dict[str, float],
                     problems: list[Problem]) -> tuple[Dashboard, ...]:
    dashboards = []
    for d, spec in enumerate(specs):
        dpath: Path = ("dashboards", d)
        next_id = 1
        y = 0
        rows = []
        for r, row in enumerate(spec.rows):
            rpath = dpath + ("rows", r)
            row_id, next_id = next_id, next_id + 1
            row_y = y
            y += ROW_HEIGHT
            x, line_height, panels = 0, 0, []
            for p, panel in enumerate(row.panels):
                ppath = rpath + ("panels", p)
                if x + panel.width > GRID_WIDTH:
                    x, y, line_height = 0, y + line_height, 0
                grid = GridPos(x, y, panel.width, panel.height)
                x += panel.width
                line_height = max(line_height, panel.height)
                queries = tuple(Query(_ref_id(q), query.expr.strip(), query.legend, query.instant, ppath + ("queries", q, "expr"))
                                for q, query in enumerate(panel.queries))
                panels.append(Panel(next_id, panel.title, panel.type, panel.unit, panel.description, grid, queries,
                                    _thresholds(panel, thresholds, ppath, problems), panel.min, panel.max, panel.stack, ppath))
                next_id += 1
            y += line_height
            rows.append(Row(row_id, row.title, row_y, tuple(panels), rpath))
        variables = tuple(Variable(v.name, v.label or v.name, v.query, tuple(v.applies_to), v.multi, v.include_all,
                                   dpath + ("variables", i)) for i, v in enumerate(spec.variables))
        dashboards.append(Dashboard(spec.uid, spec.title, spec.description, tuple(spec.tags), spec.refresh,
                                    spec.time_from, spec.home, variables, tuple(rows), dpath))
    return tuple(dashboards)
