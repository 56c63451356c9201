"""Dashboard checks: each panel query goes through the same PromQL lint as alerts, with
Grafana's `$variables` and `$__rate_interval` understood, and each variable is applied
wherever the series it filters carries its label."""

from __future__ import annotations

import re

from .catalogue import Catalogue, lint_expression, parse_series_selector, suggest
from .model import Model
from .model_dashboards import DATASOURCE_VARIABLE, Dashboard, Panel
from .problems import Problem
from .promql import Analysis

# Grafana's interval macros; each becomes a duration before the query is parsed, as Grafana does.
_MACRO = re.compile(r"\$\{?__(rate_interval|interval|range)(?::\w+)?\}?")
_OTHER_MACRO = re.compile(r"\$\{?(__\w+)")
# A variable in a label matcher value: $name, ${name} or ${name:format}.
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::\w+)?\}|([A-Za-z_]\w*))")
_LEGEND_LABEL = re.compile(r"{{\s*([A-Za-z_]\w*)\s*}}")
_LABEL_VALUES = re.compile(r"^label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>[A-Za-z_]\w*)\s*\)$")


def grafana_to_promql(expr: str) -> str:
    """The query as Prometheus will see it for a 5-minute interval."""
    return _MACRO.sub("5m", expr)


def lint_dashboards(model: Model, catalogue: Catalogue) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for dashboard in model.dashboards:
        if dashboard.uid in seen:
            problems.append(Problem(dashboard.path + ("uid",), f"duplicate dashboard uid '{dashboard.uid}'"))
        seen.setdefault(dashboard.uid, 0)
        problems += _lint_variables(dashboard, catalogue)
        for panel in dashboard.panels:
            problems += _lint_panel(panel, dashboard, catalogue, model)
    homes = [d for d in model.dashboards if d.home]
    if len(homes) > 1:
        problems.append(Problem(homes[1].path + ("home",), f"only one dashboard can be Grafana's home; '{homes[0].uid}' already is"))
    return problems


def _lint_variables(dashboard: Dashboard, catalogue: Catalogue) -> list[Problem]:
    problems = []
    names = set()
    for variable in dashboard.variables:
        if variable.name in names or variable.name == DATASOURCE_VARIABLE:
            problems.append(Problem(variable.path + ("name",), f"variable '{variable.name}' is defined twice (the datasource variable is built in)"))
        names.add(variable.name)
        match = _LABEL_VALUES.match(variable.query.strip())
        path = variable.path + ("query",)
        if match is None:
            problems.append(Problem(path, "write the query as label_values(metric{...}, label) or label_values(label)"))
            continue
        label, selector = match.group("label"), match.group("selector")
        if selector is None:
            continue
        node, labels, found = parse_series_selector(selector, path, catalogue)
        problems += found
        if node is not None and labels is not None and label not in labels:
            problems.append(Problem(path, f"label '{label}' does not exist on {node.name} (it has: {', '.join(sorted(labels))})"))
    return problems


def _lint_panel(panel: Panel, dashboard: Dashboard, catalogue: Catalogue, model: Model) -> list[Problem]:
    problems = []
    defined = {v.name for v in dashboard.variables} | {DATASOURCE_VARIABLE}
    for query in panel.queries:
        for match in _OTHER_MACRO.finditer(_MACRO.sub("", query.expr)):
            problems.append(Problem(query.path, f"unknown Grafana variable '${match.group(1)}': use $__rate_interval, $__interval or $__range"))
        analysis, found = lint_expression(grafana_to_promql(query.expr), query.path, catalogue, model)
        problems += found
        if analysis is None:
            continue
        problems += _lint_variable_use(analysis, dashboard, defined, query.path, catalogue)
        if query.legend and analysis.output_labels is not None:
            for label in _LEGEND_LABEL.findall(query.legend):
                if label not in analysis.output_labels:
                    problems.append(Problem(query.path[:-1] + ("legend",),
                                            f"legend uses {{{{{label}}}}}, which the query's result does not have "
                                            f"(it has: {', '.join(sorted(analysis.output_labels)) or 'no labels'})"))
    return problems


def _lint_variable_use(analysis: Analysis, dashboard: Dashboard, defined: set[str], path: tuple,
                       catalogue: Catalogue) -> list[Problem]:
    problems = []
    for selector in analysis.selectors:
        used: dict[str, set[str]] = {}
        for label, _, value in selector.matchers:
            for braced, plain in _VARIABLE.findall(value):
                name = braced or plain
                used.setdefault(name, set()).add(label)
                if name not in defined:
                    problems.append(Problem(path, f"unknown variable '${name}'" + suggest(name, sorted(defined))))
        if selector.metric is None:
            continue
        series_labels = catalogue.labels(selector.metric) or frozenset()
        for variable in dashboard.variables:
            filtered = set(variable.applies_to) & series_labels
            # A matcher of its own on the label (status="failed") is a deliberate choice.
            matched = {label for label, _, _ in selector.matchers}
            if filtered and not (used.get(variable.name, set()) & filtered) and not (matched & filtered):
                label = sorted(filtered)[0]
                problems.append(Problem(path, f"{selector.metric} has label '{label}' but the query does not apply "
                                              f"${variable.name}: add {label}=~\"${variable.name}\""))
    return problems
