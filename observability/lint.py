"""Cross-checks of the model: every expression read as a PromQL syntax tree and checked
against the metric catalogue; every name that one section uses and another defines."""

from __future__ import annotations

from datetime import datetime, timezone

from . import gotemplate
from .catalogue import Catalogue, lint_expression, parse_series_selector, suggest
from .lint_dashboards import lint_dashboards
from .model import Alert, AlertRule, Example, Model
from .problems import Path, Problem, format_path
from .promql import Analysis

# Labels whose values are unique per task or request: one series each would never end.
PER_REQUEST_LABELS = frozenset({
    "task_id", "session_id", "trace_id", "span_id", "correlation_id", "request_id",
    "parent_task", "parent_task_id", "batch_id", "user_id", "file_path", "path_name",
})
def lint(model: Model) -> list[Problem]:
    catalogue = Catalogue(model)
    problems: list[Problem] = []
    problems += _lint_catalogue(model, catalogue)
    for rule in model.recording_rules:
        problems += lint_expression(rule.expr, rule.path + ("expr",), catalogue, model)[1]
        if not rule.examples:
            problems.append(Problem(rule.path, f"recording rule '{rule.record}' needs an example (a promtool promql_expr_test)"))
        for example in rule.examples:
            problems += _lint_example(example, catalogue)
    problems += _lint_alerts(model, catalogue)
    problems += _lint_delivery(model)
    problems += _lint_kpis(model, catalogue)
    problems += lint_dashboards(model, catalogue)
    return problems


def _lint_catalogue(model: Model, catalogue: Catalogue) -> list[Problem]:
    problems = []
    for metric in model.metrics.values():
        for i, label in enumerate(metric.labels):
            if label in PER_REQUEST_LABELS:
                problems.append(Problem(metric.path + ("labels", i),
                                        f"'{label}' is a per-task or per-request label: each value would make a new series; log it or put it on a trace instead"))
            if label in ("job", "instance", "le", "quantile"):
                problems.append(Problem(metric.path + ("labels", i), f"'{label}' is set by Prometheus or the client library, not by the metric"))
        if len(set(metric.labels)) != len(metric.labels):
            problems.append(Problem(metric.path + ("labels",), "a label is listed twice"))
        if metric.type == "counter" and not metric.name.endswith("_total"):
            problems.append(Problem(metric.path, f"counter '{metric.name}' should end in _total", "warning"))
        if metric.source == "recording" and metric.name not in catalogue.recorded:
            problems.append(Problem(metric.path + ("source",), f"'{metric.name}' is marked source: recording but no recording rule records it"))
        if metric.source != "recording" and metric.name in catalogue.recorded:
            problems.append(Problem(metric.path + ("source",),
                                    f"'{metric.name}' is recorded by a rule, so the exporter must not export it too: mark it source: recording"))
    return problems


def _lint_alerts(model: Model, catalogue: Catalogue) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[str, Path] = {}
    watches_exporter = False
    for alert in model.alerts:
        if alert.name in first_seen:
            problems.append(Problem(alert.path + ("name",), f"duplicate alert name '{alert.name}' (first defined at {format_path(first_seen[alert.name])})"))
        first_seen.setdefault(alert.name, alert.path)
        for rule in alert.rules:
            analysis, found = lint_expression(rule.expr, alert.path + ("expr",), catalogue, model)
            if not rule.escalated:
                problems += found
                problems += _lint_annotations(rule, analysis)
            if analysis is not None and _reads_up(analysis, model):
                watches_exporter = True
            if analysis is not None and alert.name.endswith("_down") and not _reads_up(analysis, model):
                problems.append(Problem(alert.path + ("expr",),
                                        f"'{alert.name}' reads only series that the exporter itself serves, so it cannot fire when the exporter is gone: use up{{job=\"{model.scrape.job}\"}} == 0 or absent(...)"))
        problems += _lint_alert_examples(alert, catalogue)
    if model.alerts and not watches_exporter:
        problems.append(Problem(("alerts",), f"no alert reads up{{job=\"{model.scrape.job}\"}} or absent(): nothing would page when the exporter dies"))
    return problems


def _reads_up(analysis: Analysis, model: Model) -> bool:
    return any(s.metric == "up" or "absent" in s.functions or "absent_over_time" in s.functions for s in analysis.selectors)


def _lint_annotations(rule: AlertRule, analysis: Analysis | None) -> list[Problem]:
    problems = []
    for field_name in ("summary", "description"):
        text = getattr(rule, field_name)
        path = rule.path + (field_name,)
        try:
            used = gotemplate.labels_used(text)
        except gotemplate.TemplateError as exc:
            problems.append(Problem(path, str(exc)))
            continue
        have = analysis.output_labels if analysis is not None else None
        for label in sorted(used):
            if have is not None and label not in have:
                problems.append(Problem(path, f"$labels.{label} is not a label of this alert (it has: {', '.join(sorted(have)) or 'no labels'})"))
    return problems


def _lint_alert_examples(alert: Alert, catalogue: Catalogue) -> list[Problem]:
    problems = []
    fires = any(example.expect for example in alert.examples)
    quiet = any(not example.expect for example in alert.examples)
    if not (fires and quiet):
        problems.append(Problem(alert.path, f"alert '{alert.name}' needs an example where it fires and one where it stays quiet"))
    severities = {rule.severity for rule in alert.rules}
    shown = {severity or alert.severity for example in alert.examples for _, _, severity in example.expect}
    for severity in sorted(severities - shown):
        problems.append(Problem(alert.path, f"alert '{alert.name}' needs an example where its {severity} rule fires"))
    for example in alert.examples:
        problems += _lint_example(example, catalogue)
        for i, (_, _, severity) in enumerate(example.expect):
            if severity is not None and severity not in severities:
                problems.append(Problem(example.path + ("fires", i, "severity"), f"'{alert.name}' has no rule of severity {severity}"))
    return problems


def _lint_example(example: Example, catalogue: Catalogue) -> list[Problem]:
    return [problem for series, _ in example.series
            for problem in parse_series_selector(series, example.path + ("series", series), catalogue)[2]]


def _lint_delivery(model: Model) -> list[Problem]:
    problems = []
    receivers = sorted(model.receivers)
    routed = set()
    for route in model.routes:
        if route.severity in routed:
            problems.append(Problem(route.path + ("severity",), f"severity {route.severity} is routed twice"))
        routed.add(route.severity)
        for i, name in enumerate(route.receivers):
            if name not in model.receivers:
                problems.append(Problem(route.path + ("receivers", i), f"unknown receiver '{name}'" + suggest(name, receivers)))
    for severity in model.severity_info:
        if severity not in routed:
            problems.append(Problem(("severities", severity), f"severity {severity} has no route under routing.routes"))
    if model.routing.default_receiver not in model.receivers:
        problems.append(Problem(("routing", "default_receiver"), f"unknown receiver '{model.routing.default_receiver}'" + suggest(model.routing.default_receiver, receivers)))
    for alert in model.alerts:
        for rule in alert.rules:
            if rule.severity not in routed:
                where = alert.path + (("escalate", "severity") if rule.escalated else ("severity",))
                problems.append(Problem(where, f"severity {rule.severity} has no route under routing.routes, so nobody would hear of '{alert.name}'"))
    alert_names = {a.name for a in model.alerts}
    for i, inhibition in enumerate(model.inhibitions):
        for side in ("source", "target"):
            for j, name in enumerate(getattr(inhibition, side).get("alertname", [])):
                if name not in alert_names:
                    problems.append(Problem(("inhibitions", i, side, "alertname", j), f"unknown alert '{name}'" + suggest(name, sorted(alert_names))))
    now = datetime.now(timezone.utc)
    for i, silence in enumerate(model.silences):
        path = ("suppressions", "silences", i)
        name = silence.matchers.get("alertname")
        if name is not None and name not in alert_names:
            problems.append(Problem(path + ("matchers", "alertname"), f"unknown alert '{name}'" + suggest(name, sorted(alert_names))))
        if silence.expires <= now:
            problems.append(Problem(path + ("expires",), f"the silence expired on {silence.expires:%Y-%m-%d}; it will not be applied", "warning"))
    for window in model.windows:
        if window.end is not None and window.end <= now:
            problems.append(Problem(window.path + ("end",), f"the maintenance window ended on {window.end:%Y-%m-%d}; it mutes nothing any more", "warning"))
        for severity in window.severities:
            if severity not in routed:
                problems.append(Problem(window.path + ("severities",), f"severity {severity} has no route to mute"))
    return problems


def _lint_kpis(model: Model, catalogue: Catalogue) -> list[Problem]:
    problems = []
    alert_names = {a.name for a in model.alerts}
    for i, kpi in enumerate(model.kpis):
        path = ("kpis", i)
        if catalogue.labels(kpi.measure) is None and kpi.measure not in catalogue.recorded:
            problems.append(Problem(path + ("measure",), f"unknown metric '{kpi.measure}'" + suggest(kpi.measure, catalogue.known_names())))
        target = kpi.target
        names = [target.above, target.below] + list(target.between or [])
        for name in filter(None, names):
            if name not in model.thresholds:
                problems.append(Problem(path + ("target",), f"unknown threshold '{name}'" + suggest(name, sorted(model.thresholds))))
        for j, name in enumerate(kpi.alerts):
            if name not in alert_names:
                problems.append(Problem(path + ("alerts", j), f"unknown alert '{name}'" + suggest(name, sorted(alert_names))))
    return problems

