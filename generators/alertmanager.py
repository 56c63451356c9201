"""provisioning/alertmanager/: routing, receivers, inhibition, time intervals, message
templates, and the silences that `orchestrator alerts silence apply` creates.

Secrets are referenced by file (`api_url_file`, `routing_key_file`) in the secrets
directory; Alertmanager reads them itself and never sees them in this config.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from observability import spec as s
from observability.model import Model, Route, Window

CONFIG_FILE = "provisioning/alertmanager/alertmanager.yml"
TEMPLATE_FILE = "provisioning/alertmanager/templates/orchestrator.tmpl"
SILENCES_FILE = "provisioning/alertmanager/silences.yml"

# §5.1 colours as Slack attachment colours.
SLACK_COLORS = {"red": "#d72c2c", "orange": "#f2811d", "yellow": "#e8c547", "blue": "#3a7bd5", "green": "#2eb67d"}
# PagerDuty Events v2 knows critical, error, warning and info.
PAGERDUTY_SEVERITY = {"CRITICAL": "critical", "HIGH": "error", "MEDIUM": "warning", "LOW": "info", "INFO": "info"}


def render(model: Model) -> dict[str, Any]:
    return {
        CONFIG_FILE: config(model),
        TEMPLATE_FILE: templates(model),
        SILENCES_FILE: silences(model),
    }


def _matcher(label: str, values: list[str] | tuple[str, ...]) -> str:
    if len(values) == 1:
        return f'{label}="{values[0]}"'
    return f'{label}=~"{"|".join(values)}"'


def config(model: Model) -> dict[str, Any]:
    routing = model.routing
    out: dict[str, Any] = {
        "global": {"resolve_timeout": routing.resolve_timeout},
        "templates": ["templates/*.tmpl"],
        "route": {
            "receiver": routing.default_receiver,
            "group_by": list(routing.group_by),
            "routes": [severity_route(route) for route in model.routes],
        },
        "receivers": [receiver(name, r, routing.secrets_dir) for name, r in sorted(model.receivers.items())],
    }
    if model.inhibitions:
        out["inhibit_rules"] = [inhibit_rule(i) for i in model.inhibitions]
    if model.windows:
        out["time_intervals"] = [time_interval(w) for w in model.windows]
    return out


def severity_route(route: Route) -> dict[str, Any]:
    """One route per severity; below it one leaf per receiver, all but the last continuing."""
    leaves = []
    for i, name in enumerate(route.receivers):
        leaf: dict[str, Any] = {"receiver": name}
        if i < len(route.receivers) - 1:
            leaf["continue"] = True
        # Alertmanager does not inherit mute_time_intervals: each leaf carries them.
        if route.mute_time_intervals:
            leaf["mute_time_intervals"] = list(route.mute_time_intervals)
        leaves.append(leaf)
    out: dict[str, Any] = {
        "matchers": [_matcher("severity", [route.severity])],
        "receiver": route.receivers[0],
        "group_wait": route.group_wait,
        "group_interval": route.group_interval,
        "repeat_interval": route.repeat_interval,
        "routes": leaves,
    }
    return out


def receiver(name: str, r: s.SlackReceiver | s.PagerDutyReceiver | s.LogReceiver, secrets_dir: str) -> dict[str, Any]:
    secrets = secrets_dir.rstrip("/")
    if isinstance(r, s.SlackReceiver):
        return {"name": name, "slack_configs": [{
            "api_url_file": f"{secrets}/{r.webhook_url_file}",
            "channel": r.channel,
            "send_resolved": True,
            "title": '{{ template "orchestrator.slack.title" . }}',
            "text": '{{ template "orchestrator.slack.text" . }}',
            "color": '{{ template "orchestrator.slack.color" . }}',
        }]}
    if isinstance(r, s.PagerDutyReceiver):
        return {"name": name, "pagerduty_configs": [{
            "routing_key_file": f"{secrets}/{r.routing_key_file}",
            "send_resolved": True,
            "severity": '{{ template "orchestrator.pagerduty.severity" . }}',
            "description": '{{ template "orchestrator.pagerduty.description" . }}',
            "details": {
                "alertname": "{{ .CommonLabels.alertname }}",
                "severity": "{{ .CommonLabels.severity }}",
                "summary": '{{ template "orchestrator.summary" . }}',
                "runbook_url": "{{ .CommonAnnotations.runbook_url }}",
                "firing": '{{ template "pagerduty.default.instances" .Alerts.Firing }}',
            },
        }]}
    # log_only: a receiver with no integration; Alertmanager logs and notifies nobody.
    return {"name": name}


def inhibit_rule(inhibition: s.InhibitionSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source_matchers": [_matcher(label, values) for label, values in sorted(inhibition.source.items())],
        "target_matchers": [_matcher(label, values) for label, values in sorted(inhibition.target.items())],
    }
    if inhibition.equal:
        out["equal"] = list(inhibition.equal)
    return out


def time_interval(window: Window) -> dict[str, Any]:
    if window.weekdays:
        ranges = [{"weekdays": list(window.weekdays),
                   "times": [{"start_time": window.start_time, "end_time": window.end_time}],
                   "location": window.location}]
    else:
        assert window.start is not None and window.end is not None
        ranges = _one_off(window.start, window.end)
    return {"name": window.name, "time_intervals": ranges}


def _one_off(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """A window between two instants as one time interval per calendar day it touches (UTC)."""
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    ranges = []
    day = start.date()
    while (day_start := datetime(day.year, day.month, day.day, tzinfo=timezone.utc)) < end:
        lo, hi = max(start, day_start), min(end, day_start + timedelta(days=1))
        ranges.append({
            "years": [str(day.year)],
            "months": [lo.strftime("%B").lower()],
            "days_of_month": [str(day.day)],
            "times": [{"start_time": lo.strftime("%H:%M"),
                       "end_time": "24:00" if hi - day_start == timedelta(days=1) else hi.strftime("%H:%M")}],
            "location": "UTC",
        })
        day += timedelta(days=1)
    return ranges


def _by_severity(choices: dict[str, str], default: str) -> str:
    """A Go template choosing a value by the group's severity label."""
    branches = "".join(f'{{{{ {"if" if i == 0 else "else if"} eq .CommonLabels.severity "{name}" }}}}{value}'
                       for i, (name, value) in enumerate(choices.items()))
    return f"{branches}{{{{ else }}}}{default}{{{{ end }}}}"


def templates(model: Model) -> str:
    """Go templates for Slack and PagerDuty messages: alert name, severity, summary, runbook."""
    colors = {name: SLACK_COLORS.get(info.color, info.color) for name, info in model.severity_info.items()}
    pagerduty = {name: PAGERDUTY_SEVERITY[name] for name in model.severity_info}
    return "\n".join([
        "{{/* generated from observability.yaml — do not edit; run `make generate` */}}",
        '{{ define "orchestrator.slack.title" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
        "{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }}){{ end }}",
        '{{ define "orchestrator.slack.text" }}{{ range .Alerts }}'
        "*Alert:* {{ .Labels.alertname }} · *Severity:* {{ .Labels.severity }}\n"
        "*Summary:* {{ .Annotations.summary }}\n"
        "*Description:* {{ .Annotations.description }}\n"
        "*Runbook:* <{{ .Annotations.runbook_url }}|{{ .Annotations.runbook_url }}>\n"
        "{{ end }}{{ end }}",
        '{{ define "orchestrator.slack.color" }}{{ if eq .Status "resolved" }}' + SLACK_COLORS["green"]
        + "{{ else }}" + _by_severity(colors, SLACK_COLORS["orange"]) + "{{ end }}{{ end }}",
        '{{ define "orchestrator.pagerduty.severity" }}' + _by_severity(pagerduty, "warning") + "{{ end }}",
        # A group's alerts may differ in summary (two unhealthy components): then the first one's, counted.
        '{{ define "orchestrator.summary" }}{{ with .CommonAnnotations.summary }}{{ . }}{{ else }}'
        "{{ (index .Alerts 0).Annotations.summary }} (1 of {{ len .Alerts }}){{ end }}{{ end }}",
        '{{ define "orchestrator.pagerduty.description" }}[{{ .CommonLabels.severity }}] {{ .CommonLabels.alertname }}: '
        '{{ template "orchestrator.summary" . }}{{ end }}',
        "",
    ])


def silences(model: Model) -> dict[str, Any]:
    """Silence definitions in the Alertmanager API v2 shape, less the start time set on apply."""
    return {"silences": [{
        "name": silence.name,
        "matchers": [{"name": label, "value": value, "isRegex": False, "isEqual": True}
                     for label, value in sorted(silence.matchers.items())],
        "comment": f"{silence.comment} [{silence.name}]",
        "createdBy": silence.created_by,
        "endsAt": silence.expires.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    } for silence in model.silences]}
