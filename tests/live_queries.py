"""What the live stack tests ask of the running Prometheus and of the local receivers:
Prometheus's HTTP API, the dashboards' queries as Grafana sends them, waiting for alerts, and
reading the Slack/PagerDuty notifications (tests/test_live_stack.py)."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from observability import native_stack as ns
from observability import spec as s
from observability.lint_dashboards import grafana_to_promql
from observability.model import Model

try:  # tests/ as a package, or the repository root on sys.path
    from tests import live
except ImportError:  # pytest's default rootdir/tests on sys.path
    import live

ROOT = live.ROOT
POLL = 0.5  # seconds between two polls of an API

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::\w+)?\}|([A-Za-z_]\w*))")
_LABEL_VALUES = re.compile(r"^label_values\(\s*(?P<selector>.+?)\s*,\s*(?P<label>[A-Za-z_]\w*)\s*\)$")


# --- Prometheus's HTTP API ---------------------------------------------------------------------

def api(prometheus: ns.Service, path: str, **params: Any) -> dict[str, Any]:
    """The JSON body of GET /api/v1/<path>, errors included (a bad query answers 400 with
    {"status": "error", "error": ...}, which the caller reports)."""
    response = prometheus.session.get(f"{prometheus.url}/api/v1/{path}", params=params, timeout=10)
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        raise AssertionError(f"GET /api/v1/{path} {params}: {response.status_code} {response.text[:500]}") from None
    return body


def query(prometheus: ns.Service, expr: str) -> dict[str, Any]:
    return api(prometheus, "query", query=expr)


def prometheus_alerts(prometheus: ns.Service) -> list[dict[str, Any]]:
    body = api(prometheus, "alerts")
    assert body.get("status") == "success", body
    return list(body["data"]["alerts"])


# --- evaluating queries --------------------------------------------------------------------

def evaluate(prometheus: ns.Service, queries: dict[str, str], allowed_empty: dict[str, str]) -> list[str]:
    """Run each query (where -> PromQL) as an instant query; one line per problem: an error
    (status not success), an empty result (unless allowed), a result with no finite sample, or an
    allowed-empty query that is not empty (the allow-list must not hide a working query)."""
    problems = []
    for where, expr in queries.items():
        answer = query(prometheus, expr)
        if answer.get("status") != "success":
            problems.append(f"{where}: {expr}\n    error: {answer.get('errorType')}: {answer.get('error')}")
            continue
        result = answer["data"]["result"]
        if answer["data"]["resultType"] == "scalar":
            result = [{"metric": {}, "value": result}]
        values = [float(sample["value"][1]) for sample in result]
        if expr in allowed_empty:
            if values:
                problems.append(f"{where}: {expr}\n    is allowed to be empty ({allowed_empty[expr]}) "
                                f"but returned {result}: take it off the allow-list")
        elif not values:
            problems.append(f"{where}: {expr}\n    returned no samples")
        elif not any(math.isfinite(v) for v in values):
            problems.append(f"{where}: {expr}\n    returned only non-finite values: {result}")
    return problems


def dashboard_files() -> list[Path]:
    files = sorted((ROOT / "dashboards").glob("*.json"))
    assert files, "no dashboards/*.json: run `make generate`"
    return files


def _all_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """Variable name -> the value it takes with "All" selected (its allValue)."""
    out = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            assert variable.get("includeAll") and variable.get("allValue"), \
                f"{dashboard['uid']}: variable {variable['name']} has no All value"
            out[variable["name"]] = variable["allValue"]
    return out


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def as_promql(expr: str, variables: dict[str, str], where: str) -> str:
    """A panel query as Prometheus gets it from Grafana with every variable on All: the interval
    macros through grafana_to_promql (the dashboard lint's own translation: $__rate_interval ->
    5m), then $agent, ${model}, ${status:regex}... replaced by their allValue `.*`."""
    query = grafana_to_promql(expr)

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"{where}: {expr} uses ${name}, which is not a query variable of its dashboard"
        return variables[name]

    return _VARIABLE.sub(one, query)


def panel_queries() -> dict[str, str]:
    """Every target of every panel of the committed dashboards: "uid / panel title / refId" -> PromQL."""
    out = {}
    for file in dashboard_files():
        dashboard = json.loads(file.read_text(encoding="utf-8"))
        variables = _all_values(dashboard)
        for panel in _panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                if "expr" in target:
                    where = f"{file.name} / {panel.get('title')} / {target.get('refId')}"
                    out[where] = as_promql(target["expr"], variables, where)
    return out


def variable_queries() -> list[tuple[str, str, str]]:
    """(where, metric selector, label) of each label_values(metric, label) variable."""
    out = []
    for file in dashboard_files():
        dashboard = json.loads(file.read_text(encoding="utf-8"))
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") != "query":
                continue
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = _LABEL_VALUES.match(query.strip())
            assert match, f"{file.name}: variable {variable['name']}: {query!r} is not label_values(metric, label)"
            out.append((f"{file.name} / ${variable['name']}", match.group("selector"), match.group("label")))
    return out


def recording_queries(model: Model) -> dict[str, str]:
    """Each recording rule's series, selected by its name and static labels."""
    out = {}
    for rule in model.recording_rules:
        labels = ", ".join(f'{k}="{v}"' for k, v in rule.labels)
        selector = f"{rule.record}{{{labels}}}" if labels else rule.record
        out[f"recording rule {selector}"] = selector
    return out


# --- waiting for alerts and notifications ------------------------------------------------------

def alert_lines(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return "    (none)"
    return "\n".join(f"    {a['state']:8} {a['labels'].get('alertname')} {a['labels'].get('severity')} "
                     f"{ {k: v for k, v in a['labels'].items() if k not in ('alertname', 'severity')} } "
                     f"value={a.get('value')} since {a.get('activeAt')}" for a in alerts)


def wait_firing(prometheus: ns.Service, names: set[str], deadline: float) -> list[dict[str, Any]]:
    """Poll /api/v1/alerts until every alert in `names` has a firing instance; return the alerts.
    At the deadline, fail with what is firing and pending."""
    while True:
        alerts = prometheus_alerts(prometheus)
        firing = {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
        if names <= firing:
            return alerts
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {sorted(names - firing)} to fire "
                                 f"(expected {sorted(names)}); alerts on Prometheus now:\n{alert_lines(alerts)}")
        time.sleep(POLL)


def ever_fired(prometheus: ns.Service) -> dict[str, float]:
    """"alertname severity {labels}" -> evaluations in state firing, over Prometheus's whole life
    (the ALERTS series the rule manager writes at each evaluation)."""
    answer = query(prometheus, 'count_over_time(ALERTS{alertstate="firing"}[1h])')
    assert answer["status"] == "success", answer
    return {json.dumps(sample["metric"], sort_keys=True): float(sample["value"][1])
            for sample in answer["data"]["result"]}


def notification_of(path: str, body: dict[str, Any]) -> tuple[str, str]:
    """(alertname, "firing"/"resolved") of a Slack message or a PagerDuty event."""
    if path.startswith("/pagerduty/"):
        status = "resolved" if body["event_action"] == "resolve" else "firing"
        return body["payload"]["custom_details"]["alertname"], status
    title = body["attachments"][0]["title"]  # [FIRING:n] name (SEVERITY) or [RESOLVED] name (SEVERITY)
    return title.partition("] ")[2].rsplit(" (", 1)[0], "resolved" if title.startswith("[RESOLVED]") else "firing"


def notified(recorder: live.Recorder, alertname: str, status: str = "firing") -> dict[str, list[dict[str, Any]]]:
    """Path -> the notifications of `alertname` with `status` that arrived there."""
    out: dict[str, list[dict[str, Any]]] = {}
    for _, path, body in recorder.received():
        if notification_of(path, body) == (alertname, status):
            out.setdefault(path, []).append(body)
    return out


def receiver_path(model: Model, receiver: str) -> str | None:
    """Where the local receivers take this receiver's notifications; None: it notifies nobody."""
    spec = model.receivers[receiver]
    if isinstance(spec, s.SlackReceiver):
        return live.slack_path(receiver)
    if isinstance(spec, s.PagerDutyReceiver):
        return live.pagerduty_path(receiver)
    return None


def routed_receivers(model: Model, severities: set[str]) -> list[str]:
    """§5.3: the receivers the spec routes these severities to."""
    return sorted({r for route in model.routes if route.severity in severities for r in route.receivers})
