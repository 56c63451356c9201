"""The series an expression may read, with their labels, and the checks every PromQL
expression of the spec goes through (alerts, recording rules, dashboard panels)."""

from __future__ import annotations

import difflib

from .model import Model, RecordingRule
from .problems import Path, Problem
import promql_parser as pp

from .promql import Analysis, LabelSet, PromQLSyntaxError, analyse, parse

# Series Prometheus makes itself for every scrape target.
BUILTIN_SERIES = {name: frozenset({"job", "instance"}) for name in (
    "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
    "scrape_series_added")}
# Functions that read a counter correctly; anything else sees its resets.
COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase", "resets", "absent", "absent_over_time"})


def suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Catalogue:
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
        self._alerts_labels: LabelSet | None = None

    def labels(self, name: str) -> LabelSet:
        if name in self.series:
            return self.series[name]
        if name == "ALERTS":
            return self._labels_of_alerts()
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

    def _labels_of_alerts(self) -> LabelSet:
        """Prometheus's ALERTS series: every alert's labels, its name, state and severity."""
        if self._alerts_labels is None:
            found = {"alertname", "alertstate", "severity"}
            for rule in self.model.alert_rules:
                found |= {k for k, _ in rule.labels}
                try:
                    found |= analyse(rule.expr, self.labels).output_labels or set()
                except PromQLSyntaxError:
                    pass
            self._alerts_labels = frozenset(found)
        return self._alerts_labels

    def known_names(self) -> list[str]:
        return sorted(set(self.series) | set(self.recorded))


def lint_expression(expr: str, path: Path, catalogue: Catalogue, model: Model) -> tuple[Analysis | None, list[Problem]]:
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
                                          + suggest(name, catalogue.known_names())))
        elif name in catalogue.counters and (not selector.functions or selector.functions[-1] not in COUNTER_FUNCTIONS):
            problems.append(Problem(path, f"counter '{name}' must be read through rate() or increase(), not on its own"))
        for label, op, value in selector.matchers:
            if label == "job" and op == "=" and value != model.scrape.job:
                problems.append(Problem(path, f"job '{value}' is not scraped: the scrape job is '{model.scrape.job}'"))
    problems += [Problem(path, text) for text in analysis.label_problems]
    return analysis, problems


def parse_series_selector(text: str, path: Path, catalogue: Catalogue) -> tuple[pp.VectorSelector | None, LabelSet, list[Problem]]:
    """A plain `metric{label="value"}` selector (test series, label_values): the node, the
    series' labels, and what is wrong with it (not a selector, unknown metric, unknown label)."""
    try:
        node = parse(text)
    except PromQLSyntaxError as exc:
        return None, None, [Problem(path, f"invalid PromQL: {exc}")]
    if not isinstance(node, pp.VectorSelector) or node.name is None:
        return None, None, [Problem(path, "write a series selector such as metric{label=\"value\"}")]
    labels = catalogue.labels(node.name)
    if labels is None:
        return node, None, [Problem(path, f"unknown metric '{node.name}'" + suggest(node.name, catalogue.known_names()))]
    return node, labels, [Problem(path, f"label '{m.name}' does not exist on {node.name}")
                          for m in node.matchers.matchers if m.name not in labels]
