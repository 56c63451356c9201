"""alert_rules/*.rules.yml: the recording rules and the alerting rules."""

from __future__ import annotations

from typing import Any

from observability.model import AlertRule, Model, RecordingRule

RECORDING_FILE = "alert_rules/recording.rules.yml"
ALERTING_FILE = "alert_rules/alerts.rules.yml"


def render(model: Model) -> dict[str, Any]:
    return {
        RECORDING_FILE: {"groups": [{"name": "orchestrator.recording",
                                     "rules": [recording_rule(r) for r in model.recording_rules]}]},
        ALERTING_FILE: {"groups": [{"name": "orchestrator.alerts",
                                    "rules": [alerting_rule(r) for r in model.alert_rules]}]},
    }


def recording_rule(rule: RecordingRule) -> dict[str, Any]:
    out: dict[str, Any] = {"record": rule.record, "expr": rule.expr.strip()}
    if rule.labels:
        out["labels"] = dict(rule.labels)
    return out


def alert_labels(rule: AlertRule) -> dict[str, str]:
    return {**dict(rule.labels), "severity": rule.severity}


def alerting_rule(rule: AlertRule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "alert": rule.name,
        "expr": rule.expr.strip(),
        "labels": alert_labels(rule),
        "annotations": {"summary": rule.summary, "description": rule.description, "runbook_url": rule.runbook_url},
    }
    if rule.for_ not in ("0s", "0m", "0h"):
        out["for"] = rule.for_
    return out
