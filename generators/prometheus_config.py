"""provisioning/prometheus/prometheus.yml: scraping, rule files and alerting, as the stack runs it.

Paths are those inside the Prometheus container, where alert_rules/ is mounted beside
the config file.
"""

from __future__ import annotations

from typing import Any

from observability import stack
from observability.model import Model

CONFIG_FILE = "provisioning/prometheus/prometheus.yml"
RULE_FILES = "alert_rules/*.rules.yml"


def render(model: Model) -> dict[str, Any]:
    scrape = model.scrape
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape.interval,
            "evaluation_interval": scrape.evaluation_interval,
        },
        "rule_files": [RULE_FILES],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"{stack.ALERTMANAGER_HOST}:{stack.ALERTMANAGER_PORT}"]}]}]},
        "scrape_configs": [
            {
                "job_name": scrape.job,
                "scrape_interval": scrape.interval,
                "metrics_path": scrape.metrics_path,
                "static_configs": [{"targets": [scrape.target]}],
            },
            # Monitor the monitors (§12.4).
            {"job_name": "prometheus", "static_configs": [{"targets": [f"localhost:{stack.PROMETHEUS_PORT}"]}]},
            {"job_name": "alertmanager",
             "static_configs": [{"targets": [f"{stack.ALERTMANAGER_HOST}:{stack.ALERTMANAGER_PORT}"]}]},
        ],
    }
    if scrape.external_labels:
        config["global"]["external_labels"] = dict(scrape.external_labels)
    return {CONFIG_FILE: config}
