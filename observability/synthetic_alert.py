"""`orchestrator alerts test --severity HIGH`: post a synthetic alert to a running Alertmanager,
read back which receivers its routing tree put it in (GET /api/v2/alerts/groups: one group per
receiver the alert reached), and check whether each receiver got the notification.

Whether a receiver got it is known for sure only where the receivers can be asked: the local
Slack/PagerDuty stand-ins of `orchestrator stack up` (GET <receivers-url>/received). Elsewhere
the report gives Alertmanager's own count of notifications sent and failed per integration
(alertmanager_notifications_total / _failed_total), before and after.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import requests
import yaml

from .native_stack import http_session
from .receivers import pagerduty_path, slack_path

_SAMPLE = re.compile(r'^alertmanager_notifications(_failed)?_total\{integration="(\w+)"\} (\S+)$', re.M)


@dataclass
class Report:
    alertname: str
    severity: str
    routed: list[str]
    received: dict[str, bool] = field(default_factory=dict)   # receiver -> got it (local receivers only)
    integrations: dict[str, tuple[float, float]] = field(default_factory=dict)  # integration -> (sent, failed) delta
    local: bool = False  # the receivers were asked directly
    silent: list[str] = field(default_factory=list)  # routed receivers without an integration
    needed: set[str] = field(default_factory=set)    # integrations the routed receivers use

    def lines(self) -> list[str]:
        out = [f"posted {self.alertname} (severity {self.severity})",
               f"routed to: {', '.join(self.routed) or 'no receiver'}"]
        for receiver in self.routed:
            if receiver in self.received:
                out.append(f"  {receiver}: {'received' if self.received[receiver] else 'NOT received'}")
            elif receiver in self.silent:
                out.append(f"  {receiver}: has no integration (notifies nobody)")
            else:
                out.append(f"  {receiver}: not a local receiver; see Alertmanager's counts below")
        for integration, (sent, failed) in sorted(self.integrations.items()):
            out.append(f"  Alertmanager {integration}: {sent:g} notification(s) sent, {failed:g} failed")
        return out

    @property
    def ok(self) -> bool:
        sent = self.local or not self.needed or self.needed <= set(self.integrations)
        return (bool(self.routed) and sent and all(self.received.values())
                and not any(failed for _, failed in self.integrations.values()))


def _counts(session: requests.Session, url: str) -> dict[str, tuple[float, float]]:
    text = session.get(url + "/metrics", timeout=5).text
    counts: dict[str, list[float]] = {}
    for failed, integration, value in _SAMPLE.findall(text):
        counts.setdefault(integration, [0.0, 0.0])[1 if failed else 0] = float(value)
    return {k: (v[0], v[1]) for k, v in counts.items()}


def _delivered(body: Any, path: str, receiver: str, alertname: str) -> bool:
    if path == slack_path(receiver):
        return any(alertname in (a.get("title") or "") for a in body.get("attachments", []))
    if path == pagerduty_path(receiver):
        return (body.get("payload", {}).get("custom_details", {}).get("alertname") == alertname
                and body.get("event_action") == "trigger")
    return False


def send_test_alert(alertmanager_url: str, severity: str, *, receivers_url: str | None = None,
                    timeout: float = 60.0) -> Report:
    """Post the alert, wait until each routed receiver with an integration got it (local
    receivers) or until the integrations' counts moved, at most `timeout` seconds."""
    session = http_session()
    alertname = f"orchestrator_alerts_test_{uuid.uuid4().hex[:8]}"
    before = _counts(session, alertmanager_url)
    alert = {"labels": {"alertname": alertname, "severity": severity, "source": "orchestrator-alerts-test"},
             "annotations": {"summary": f"Synthetic {severity} alert from `orchestrator alerts test`",
                             "description": "Posted to check routing and delivery; it resolves by itself.",
                             "runbook_url": "https://runbooks.example.com/orchestrator/alerts-test"},
             "startsAt": datetime.now(timezone.utc).isoformat(),
             "endsAt": datetime.fromtimestamp(time.time() + 300, timezone.utc).isoformat()}
    response = session.post(alertmanager_url + "/api/v2/alerts", json=[alert], timeout=10)
    response.raise_for_status()
    deadline = time.monotonic() + timeout
    routed: list[str] = []
    while not routed and time.monotonic() < deadline:
        groups = session.get(alertmanager_url + "/api/v2/alerts/groups", timeout=5).json()
        routed = sorted({g["receiver"]["name"] for g in groups
                         if any(a["labels"].get("alertname") == alertname for a in g["alerts"])})
        if not routed:
            time.sleep(0.2)
    report = Report(alertname, severity, routed)
    config = session.get(alertmanager_url + "/api/v2/status", timeout=5).json()["config"]["original"]
    integrations = {r: _integrations(config, r) for r in routed}
    report.silent = [r for r in routed if not integrations[r]]
    with_integration = [r for r in routed if integrations[r]]
    needed = report.needed = {kind for r in with_integration for kind in integrations[r]}
    if receivers_url:
        report.local = True
        while True:
            received = session.get(receivers_url.rstrip("/") + "/received", timeout=5).json()
            report.received = {r: any(_delivered(x["body"], x["path"], r, alertname) for x in received)
                               for r in with_integration}
            if all(report.received.values()) or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    else:
        while True:
            after = _counts(session, alertmanager_url)
            report.integrations = {k: (v[0] - before.get(k, (0, 0))[0], v[1] - before.get(k, (0, 0))[1])
                                   for k, v in after.items() if v != before.get(k, (0.0, 0.0))}
            if needed <= set(report.integrations) or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
    session.close()
    return report


def _integrations(config_text: str, receiver: str) -> set[str]:
    """The integrations (slack, pagerduty, ...) of the named receiver of Alertmanager's loaded config."""
    config = yaml.safe_load(config_text)
    for entry in config.get("receivers", []):
        if entry["name"] == receiver:
            return {key.removesuffix("_configs") for key, value in entry.items() if key.endswith("_configs") and value}
    return set()
