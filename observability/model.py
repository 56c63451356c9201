"""The model the generators see: the spec with defaults applied, thresholds filled in and
escalations expanded into rules. Built once by `build_model`; generators never read the spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from . import spec as s
from .model_dashboards import Dashboard, build_dashboards
from .problems import Path, Problem

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
SCRAPE_LABELS = frozenset({"job", "instance"})


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] | None
    source: str
    path: Path

    def series(self) -> dict[str, frozenset[str]]:
        """The series Prometheus stores for this metric, with their labels."""
        labels = frozenset(self.labels) | (SCRAPE_LABELS if self.source != "recording" else frozenset())
        if self.type == "histogram":
            return {f"{self.name}_bucket": labels | {"le"}, f"{self.name}_sum": labels, f"{self.name}_count": labels}
        return {self.name: labels}


@dataclass(frozen=True)
class Example:
    name: str
    series: tuple[tuple[str, str], ...]
    at: str
    interval: str
    # (labels, value, severity or None): firing alerts or expected samples.
    expect: tuple[tuple[tuple[tuple[str, str], ...], float, str | None], ...]
    path: Path


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: tuple[tuple[str, str], ...]
    examples: tuple[Example, ...]
    path: Path


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alerting rule; an escalated alert gives two with the same name."""

    name: str
    severity: str
    expr: str
    for_: str
    labels: tuple[tuple[str, str], ...]
    summary: str
    description: str
    runbook_url: str
    path: Path
    escalated: bool = False


@dataclass(frozen=True)
class Alert:
    """An alert as the spec defines it: its rules and the examples that test them."""

    name: str
    severity: str
    rules: tuple[AlertRule, ...]
    examples: tuple[Example, ...]
    path: Path


@dataclass(frozen=True)
class Route:
    severity: str
    receivers: tuple[str, ...]
    group_wait: str
    group_interval: str
    repeat_interval: str
    mute_time_intervals: tuple[str, ...]
    path: Path


@dataclass(frozen=True)
class Window:
    name: str
    severities: tuple[str, ...]
    reason: str
    path: Path
    start: datetime | None = None
    end: datetime | None = None
    weekdays: tuple[str, ...] = ()
    start_time: str = ""
    end_time: str = ""
    location: str = "UTC"


@dataclass(frozen=True)
class Model:
    thresholds: dict[str, float]
    metrics: dict[str, Metric]
    recording_rules: tuple[RecordingRule, ...]
    alerts: tuple[Alert, ...]
    kpis: tuple[s.KpiSpec, ...]
    receivers: dict[str, s.SlackReceiver | s.PagerDutyReceiver | s.LogReceiver]
    routing: s.RoutingSpec
    routes: tuple[Route, ...]
    inhibitions: tuple[s.InhibitionSpec, ...]
    windows: tuple[Window, ...]
    silences: tuple[s.SilenceSpec, ...]
    scrape: s.ScrapeSpec
    runtime: s.RuntimeSpec
    severity_info: dict[str, s.SeverityInfo]
    dashboards: tuple[Dashboard, ...] = ()

    @property
    def alert_rules(self) -> list[AlertRule]:
        return [rule for alert in self.alerts for rule in alert.rules]


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def fill_thresholds(text: str, thresholds: dict[str, float], path: Path, problems: list[Problem],
                    rename: dict[str, str] | None = None) -> str:
    """Replace each ${name} with its threshold; report unknown names at `path`."""

    def one(match: re.Match[str]) -> str:
        name = (rename or {}).get(match.group(1), match.group(1))
        if name not in thresholds:
            problems.append(Problem(path, f"unknown threshold '${{{name}}}': define it under thresholds"))
            return match.group(0)
        return format_number(thresholds[name])

    return _PLACEHOLDER.sub(one, text)


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def _example(example: s.RecordingExample | s.AlertExample, path: Path, index: int) -> Example:
    if isinstance(example, s.AlertExample):
        expect = tuple((tuple(sorted(f.labels.items())), f.value, f.severity) for f in example.fires)
    else:
        expect = tuple((tuple(sorted(e.labels.items())), e.value, None) for e in example.expect)
    return Example(example.name or f"example {index + 1}", tuple(example.series.items()), example.at,
                   example.interval, expect, path)


def build_model(spec: s.Spec) -> tuple[Model, list[Problem]]:
    problems: list[Problem] = []
    thresholds = dict(spec.thresholds)
    metrics = {}
    for name, m in spec.metrics.items():
        buckets = None
        if m.type == "histogram":
            if isinstance(m.buckets, str):
                if m.buckets not in spec.buckets:
                    problems.append(Problem(("metrics", name, "buckets"), f"unknown bucket set '{m.buckets}': define it under buckets"))
                buckets = tuple(spec.buckets.get(m.buckets, ()))
            elif m.buckets is None:
                problems.append(Problem(("metrics", name), "a histogram needs buckets"))
            else:
                buckets = tuple(m.buckets)
            if buckets and list(buckets) != sorted(set(buckets)):
                problems.append(Problem(("metrics", name, "buckets"), "buckets must increase strictly"))
        elif m.buckets is not None:
            problems.append(Problem(("metrics", name, "buckets"), f"only a histogram has buckets, not a {m.type}"))
        metrics[name] = Metric(name, m.type, m.help, tuple(m.labels), buckets, m.source, ("metrics", name))

    recording = []
    for i, r in enumerate(spec.recording_rules):
        path = ("recording_rules", i)
        expr = fill_thresholds(r.expr, thresholds, path + ("expr",), problems)
        examples = tuple(_example(e, path + ("examples", j), j) for j, e in enumerate(r.examples))
        recording.append(RecordingRule(r.record, expr, tuple(sorted(r.labels.items())), examples, path))

    alerts = []
    for i, a in enumerate(spec.alerts):
        path = ("alerts", i)
        rules = [_alert_rule(a, a.severity, thresholds, path, problems, None, escalated=False)]
        if a.escalate is not None:
            for old, new in a.escalate.thresholds.items():
                where = path + ("escalate", "thresholds", old)
                if old not in placeholders(a.expr):
                    problems.append(Problem(where, f"the expression does not use '${{{old}}}', so there is nothing to escalate"))
                if new not in thresholds:
                    problems.append(Problem(where, f"unknown threshold '{new}': define it under thresholds"))
            rules.append(_alert_rule(a, a.escalate.severity, thresholds, path, problems,
                                     dict(a.escalate.thresholds), escalated=True))
        examples = tuple(_example(e, path + ("examples", j), j) for j, e in enumerate(a.examples))
        alerts.append(Alert(a.name, a.severity, tuple(rules), examples, path))

    mutes: dict[str, list[str]] = {}
    windows = []
    for i, w in enumerate(spec.suppressions.maintenance_windows):
        wpath = ("suppressions", "maintenance_windows", i)
        if w.start is not None and w.end is not None and w.end <= w.start:
            problems.append(Problem(wpath + ("end",), "the window ends before it starts"))
        windows.append(Window(w.name, tuple(w.severities), w.reason, wpath, w.start, w.end,
                              tuple(w.weekdays or ()), w.start_time or "", w.end_time or "", w.location))
        for severity in w.severities:
            mutes.setdefault(severity, []).append(w.name)
    routes = tuple(
        Route(r.severity, tuple(r.receivers), r.group_wait, r.group_interval, r.repeat_interval,
              tuple(mutes.get(r.severity, ())), ("routing", "routes", i))
        for i, r in enumerate(spec.routing.routes)
    )
    model = Model(
        thresholds=thresholds,
        metrics=metrics,
        recording_rules=tuple(recording),
        alerts=tuple(alerts),
        kpis=tuple(spec.kpis),
        receivers=dict(spec.receivers),
        routing=spec.routing,
        routes=routes,
        inhibitions=tuple(spec.inhibitions),
        windows=tuple(windows),
        silences=tuple(spec.suppressions.silences),
        scrape=spec.scrape,
        runtime=spec.runtime,
        severity_info=dict(spec.severities),
        dashboards=build_dashboards(spec.dashboards, thresholds, problems),
    )
    return model, problems


def _alert_rule(a: s.AlertSpec, severity: str, thresholds: dict[str, float], path: Path,
                problems: list[Problem], rename: dict[str, str] | None, escalated: bool) -> AlertRule:
    # Report unknown thresholds once, from the base rule.
    sink: list[Problem] = problems if not escalated else []
    return AlertRule(
        name=a.name,
        severity=severity,
        expr=fill_thresholds(a.expr, thresholds, path + ("expr",), sink, rename),
        for_=a.for_,
        labels=tuple(sorted(a.labels.items())),
        summary=fill_thresholds(a.summary, thresholds, path + ("summary",), sink, rename),
        description=fill_thresholds(a.description, thresholds, path + ("description",), sink, rename),
        runbook_url=a.runbook_url,
        path=path,
        escalated=escalated,
    )
