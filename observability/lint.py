"""Cross-checks of the model: every expression read as a PromQL syntax tree and checked
against the metric catalogue; every name that one section uses and another defines."""

from __future__ import annotations

import difflib
from datetime import datetime, timezone

import promql_parser as pp

from . import gotemplate
from .model import Alert, AlertRule, Example, Model, RecordingRule
from .problems import Path, Problem, format_path
from .promql import Analysis, LabelSet, PromQLSyntaxError, analyse, parse

# Labels whose values are unique per task or request: one series each would never end.
PER_REQUEST_LABELS = frozenset({
    "task_id", "session_id", "trace_id", "span_id", "correlation_id", "request_id",
    "parent_task", "parent_task_id", "batch_id", "user_id", "file_path", "path_name",
})
# Series Prometheus makes itself for every scrape target.
BUILTIN_SERIES = {name: frozenset({"job", "instance"}) for name in (
    "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
    "scrape_series_added")}
# Functions that read a counter correctly; anything else sees its resets.
COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase", "resets", "absent", "absent_over_time"})


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Catalogue:
    """Series names with their labels: the catalogue, Prometheus's own, and recorded ones."""

    def __init__(self, model: Model):
        self.model = model
        self.series: dict[str, frozenset[str]] = dict(BUILTIN_SERIES)
        self.counters: set[str] = set()
        self.histograms = {m.name for m in model.metrics.values() if m.type == "histogram"}
        for metric in model.metrics.values():
            if metric.source == "recording":
                continue
            self.series.update(metric.series())
            if metric.type in ("counter", "histogram"):
                self.counters.update(metric.series())
        self.recorded: dict[str, list[RecordingRule]] = {}
        for rule in model.recording_rules:
            self.recorded.setdefault(rule.record, []).append(rule)
        self._recorded_labels: dict[str, LabelSet] = {}
        self._resolving: set[str] = set()

    def labels(self, name: str) -> LabelSet:
        if name in self.series:
            return self.series[name]
        if name in self.recorded:
            return self._labels_of_record(name)
        return None

    def _labels_of_record(self, name: str) -> LabelSet:
        if name in self._recorded_labels:
            return self._recorded_labels[name]
        if name in self._resolving:
            return None
        self._resolving.add(name)
        found: set[str] = set()
        for rule in self.recorded[name]:
            try:
                out = analyse(rule.expr, self.labels).output_labels
            except PromQLSyntaxError:
                out = None
            if out is None:
                self._resolving.discard(name)
                self._recorded_labels[name] = None
                return None
            found |= out | {k for k, _ in rule.labels}
        self._resolving.discard(name)
        self._recorded_labels[name] = frozenset(found)
        return self._recorded_labels[name]

    def known_names(self) -> list[str]:
        return sorted(set(self.series) | set(self.recorded))


def lint(model: Model) -> list[Problem]:
    catalogue = _Catalogue(model)
    problems: list[Problem] = []
    problems += _lint_catalogue(model, catalogue)
    for rule in model.recording_rules:
        problems += _lint_expression(rule.expr, rule.path + ("expr",), catalogue, model)[1]
        if not rule.examples:
            problems.append(Problem(rule.path, f"recording rule '{rule.record}' needs an example (a promtool promql_expr_test)"))
        for example in rule.examples:
            problems += _lint_example(example, catalogue)
    problems += _lint_alerts(model, catalogue)
    problems += _lint_delivery(model)
    problems += _lint_kpis(model, catalogue)
    return problems


def _lint_catalogue(model: Model, catalogue: _Catalogue) -> list[Problem]:
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


def _lint_expression(expr: str, path: Path, catalogue: _Catalogue, model: Model) -> tuple[Analysis | None, list[Problem]]:
    try:
        analysis = analyse(expr, catalogue.labels)
    except PromQLSyntaxError as exc:
        return None, [Problem(path, f"invalid PromQL: {exc}")]
    problems = []
    for selector in analysis.selectors:
        name = selector.metric
        if name is None:
            problems.append(Problem(path, "every selector must name its metric"))
            continue
        if name in catalogue.histograms:
            problems.append(Problem(path, f"'{name}' is a histogram: it has no series of its own; use {name}_bucket, {name}_sum or {name}_count"))
        elif catalogue.labels(name) is None and name not in catalogue.recorded:
            problems.append(Problem(path, f"unknown metric '{name}': it is not in the metric catalogue and no recording rule records it"
                                          + _suggest(name, catalogue.known_names())))
        elif name in catalogue.counters and (not selector.functions or selector.functions[-1] not in COUNTER_FUNCTIONS):
            problems.append(Problem(path, f"counter '{name}' must be read through rate() or increase(), not on its own"))
        for label, op, value in selector.matchers:
            if label == "job" and op == "=" and value != model.scrape.job:
                problems.append(Problem(path, f"job '{value}' is not scraped: the scrape job is '{model.scrape.job}'"))
    problems += [Problem(path, text) for text in analysis.label_problems]
    return analysis, problems


def _lint_alerts(model: Model, catalogue: _Catalogue) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[str, Path] = {}
    watches_exporter = False
    for alert in model.alerts:
        if alert.name in first_seen:
            problems.append(Problem(alert.path + ("name",), f"duplicate alert name '{alert.name}' (first defined at {format_path(first_seen[alert.name])})"))
        first_seen.setdefault(alert.name, alert.path)
        for rule in alert.rules:
            analysis, found = _lint_expression(rule.expr, alert.path + ("expr",), catalogue, model)
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


def _lint_alert_examples(alert: Alert, catalogue: _Catalogue) -> list[Problem]:
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


def _lint_example(example: Example, catalogue: _Catalogue) -> list[Problem]:
    problems = []
    for series, _ in example.series:
        path = example.path + ("series", series)
        try:
            node = parse(series)
        except PromQLSyntaxError as exc:
            problems.append(Problem(path, f"not a series selector: {exc}"))
            continue
        if not isinstance(node, pp.VectorSelector) or node.name is None:
            problems.append(Problem(path, "write a series as metric{label=\"value\", ...}"))
            continue
        labels = catalogue.labels(node.name)
        if labels is None:
            problems.append(Problem(path, f"unknown series '{node.name}'" + _suggest(node.name, catalogue.known_names())))
            continue
        for matcher in node.matchers.matchers:
            if matcher.name not in labels:
                problems.append(Problem(path, f"label '{matcher.name}' does not exist on {node.name}"))
    return problems


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
                problems.append(Problem(route.path + ("receivers", i), f"unknown receiver '{name}'" + _suggest(name, receivers)))
    for severity in model.severity_info:
        if severity not in routed:
            problems.append(Problem(("severities", severity), f"severity {severity} has no route under routing.routes"))
    if model.routing.default_receiver not in model.receivers:
        problems.append(Problem(("routing", "default_receiver"), f"unknown receiver '{model.routing.default_receiver}'" + _suggest(model.routing.default_receiver, receivers)))
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
                    problems.append(Problem(("inhibitions", i, side, "alertname", j), f"unknown alert '{name}'" + _suggest(name, sorted(alert_names))))
    now = datetime.now(timezone.utc)
    for i, silence in enumerate(model.silences):
        path = ("suppressions", "silences", i)
        name = silence.matchers.get("alertname")
        if name is not None and name not in alert_names:
            problems.append(Problem(path + ("matchers", "alertname"), f"unknown alert '{name}'" + _suggest(name, sorted(alert_names))))
        if silence.expires <= now:
            problems.append(Problem(path + ("expires",), f"the silence expired on {silence.expires:%Y-%m-%d}; it will not be applied", "warning"))
    for window in model.windows:
        if window.end is not None and window.end <= now:
            problems.append(Problem(window.path + ("end",), f"the maintenance window ended on {window.end:%Y-%m-%d}; it mutes nothing any more", "warning"))
        for severity in window.severities:
            if severity not in routed:
                problems.append(Problem(window.path + ("severities",), f"severity {severity} has no route to mute"))
    return problems


def _lint_kpis(model: Model, catalogue: _Catalogue) -> list[Problem]:
    problems = []
    alert_names = {a.name for a in model.alerts}
    for i, kpi in enumerate(model.kpis):
        path = ("kpis", i)
        if catalogue.labels(kpi.measure) is None and kpi.measure not in catalogue.recorded:
            problems.append(Problem(path + ("measure",), f"unknown metric '{kpi.measure}'" + _suggest(kpi.measure, catalogue.known_names())))
        target = kpi.target
        names = [target.above, target.below] + list(target.between or [])
        for name in filter(None, names):
            if name not in model.thresholds:
                problems.append(Problem(path + ("target",), f"unknown threshold '{name}'" + _suggest(name, sorted(model.thresholds))))
        for j, name in enumerate(kpi.alerts):
            if name not in alert_names:
                problems.append(Problem(path + ("alerts", j), f"unknown alert '{name}'" + _suggest(name, sorted(alert_names))))
    return problems


