"""Pure generators: each turns the model into documents keyed by their output path."""

from __future__ import annotations

from typing import Any

from observability.model import Model

from . import alertmanager, compose, grafana_dashboards, grafana_provisioning, prometheus_config, prometheus_rules, rule_tests

# Top-level entries the generators own; the writer replaces each whole.
MANAGED = ["alert_rules", "dashboards", "docker-compose.yml", "provisioning"]


def render_all(model: Model) -> dict[str, Any]:
    documents: dict[str, Any] = {}
    for module in (prometheus_rules, rule_tests, prometheus_config, alertmanager, grafana_dashboards,
                   grafana_provisioning, compose):
        documents.update(module.render(model))
    return documents
