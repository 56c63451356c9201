"""alert_rules/tests/*.test.yml: promtool unit tests from the examples in the spec.

Each alert example becomes an alert_rule_test whose expected annotations are rendered
from the rule's templates, so promtool checks the text Prometheus sends as well.
"""

from __future__ import annotations

from typing import Any

from observability import gotemplate
from observability.model import Alert, Example, Model, RecordingRule

from .prometheus_rules import ALERTING_FILE, RECORDING_FILE, alert_labels

ALERT_TESTS_FILE = "alert_rules/tests/alerts.test.yml"
RECORDING_TESTS_FILE = "alert_rules/tests/recording.test.yml"
_RULE_FILES = [f"../{RECORDING_FILE.rsplit('/', 1)[1]}", f"../{ALERTING_FILE.rsplit('/', 1)[1]}"]


def render(model: Model) -> dict[str, Any]:
    return {
        ALERT_TESTS_FILE: _suite([t for alert in model.alerts for t in alert_tests(alert)]),
        RECORDING_TESTS_FILE: _suite([t for rule in model.recording_rules for t in recording_tests(rule)]),
    }


def _suite(tests: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rule_files": _RULE_FILES, "evaluation_interval": "1m", "tests": tests}


def _inputs(example: Example) -> list[dict[str, str]]:
    return [{"series": series, "values": values} for series, values in example.series]


def alert_tests(alert: Alert) -> list[dict[str, Any]]:
    by_severity = {rule.severity: rule for rule in alert.rules}
    tests = []
    for example in alert.examples:
        expected = []
        for labels, value, severity in example.expect:
            rule = by_severity[severity or alert.severity]
            series_labels = dict(labels)
            expected.append({
                "exp_labels": {**series_labels, **alert_labels(rule)},
                "exp_annotations": {
                    "summary": gotemplate.render(rule.summary, series_labels, value),
                    "description": gotemplate.render(rule.description, series_labels, value),
                    "runbook_url": rule.runbook_url,
                },
            })
        tests.append({
            "name": f"{alert.name}: {example.name}",
            "interval": example.interval,
            "input_series": _inputs(example),
            "alert_rule_test": [{"eval_time": example.at, "alertname": alert.name, "exp_alerts": expected}],
        })
    return tests


def series_text(name: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def recording_tests(rule: RecordingRule) -> list[dict[str, Any]]:
    selector = series_text(rule.record, dict(rule.labels)) if rule.labels else rule.record
    tests = []
    for example in rule.examples:
        tests.append({
            "name": f"{selector}: {example.name}",
            "interval": example.interval,
            "input_series": _inputs(example),
            "promql_expr_test": [{
                "expr": selector,
                "eval_time": example.at,
                "exp_samples": [{"labels": series_text(rule.record, dict(labels)), "value": value}
                                for labels, value, _ in example.expect],
            }],
        })
    return tests
