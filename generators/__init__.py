"""Pure generators: each turns the model into documents keyed by their output path.

The generator modules are imported when rendering, not with the package, so that
generators.dashboards_worker can import grafana_dashboards alone (no pydantic) in its child.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from observability.model import Model

# Top-level entries the generators own; the writer replaces each whole.
MANAGED = ["alert_rules", "dashboards", "docker-compose.yml", "provisioning"]

Renderer = Callable[["Model"], dict[str, Any]]


def render_all(model: Model, render_dashboards: Renderer | None = None) -> dict[str, Any]:
    """Every output document. render_dashboards replaces grafana_dashboards.render (the CLI
    passes a DashboardsWorker's, which must give the same documents)."""
    from . import alertmanager, compose, grafana_provisioning, prometheus_config, prometheus_rules, rule_tests

    if render_dashboards is None:
        from .grafana_dashboards import render as render_dashboards
    documents: dict[str, Any] = {}
    for render in (prometheus_rules.render, rule_tests.render, prometheus_config.render, alertmanager.render,
                   render_dashboards, grafana_provisioning.render, compose.render):
        documents.update(render(model))
    return documents
