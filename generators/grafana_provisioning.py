"""provisioning/grafana/: datasources with fixed UIDs and the provider that loads dashboards/."""

from __future__ import annotations

from typing import Any

from observability import stack
from observability.model import Model

DATASOURCES_FILE = "provisioning/grafana/datasources/datasources.yml"
DASHBOARDS_FILE = "provisioning/grafana/dashboards/dashboards.yml"


def render(model: Model) -> dict[str, Any]:
    sources = stack.GRAFANA_DATASOURCES
    datasources = [
        {**_common(sources["prometheus"]), "isDefault": True,
         "jsonData": {"timeInterval": model.scrape.interval, "httpMethod": "POST"}},
        {**_common(sources["alertmanager"]), "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False}},
        {**_common(sources["jaeger"])},
    ]
    return {
        DATASOURCES_FILE: {"apiVersion": 1, "prune": True, "datasources": datasources},
        DASHBOARDS_FILE: {"apiVersion": 1, "providers": [{
            "name": "orchestrator",
            "folder": "Orchestrator",
            "type": "file",
            "disableDeletion": True,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 30,
            "options": {"path": stack.GRAFANA_DASHBOARD_DIR, "foldersFromFilesStructure": False},
        }]},
    }


def _common(source: dict[str, str]) -> dict[str, Any]:
    return {"name": source["name"], "type": source["type"], "uid": source["uid"], "access": "proxy",
            "url": source["url"], "editable": False}
