"""docker-compose.yml: Prometheus, Alertmanager, Grafana, Jaeger and the exporter.

Images are pinned; generated files are mounted read-only; secrets reach Alertmanager and
Grafana as files under /run/secrets; every service has a healthcheck; ports are published
on the host's loopback only.
"""

from __future__ import annotations

from typing import Any

from observability import spec as s
from observability import stack
from observability.model import Model

from .alertmanager import CONFIG_FILE as ALERTMANAGER_CONFIG
from .alertmanager import TEMPLATE_FILE
from .grafana_provisioning import DASHBOARDS_FILE, DATASOURCES_FILE
from .prometheus_config import CONFIG_FILE as PROMETHEUS_CONFIG

COMPOSE_FILE = "docker-compose.yml"
EXPORTER_IMAGE = "orchestrator-observability/exporter:0.1.0"
GRAFANA_PASSWORD_SECRET = "grafana_admin_password"


def _wget(url: str) -> dict[str, Any]:
    return {"test": ["CMD", "wget", "-q", "--spider", url], "interval": "10s", "timeout": "5s", "retries": 5,
            "start_period": "10s"}


def _port(port: int) -> str:
    return f"127.0.0.1:{port}:{port}"


def _ro(source: str, target: str) -> str:
    return f"./{source}:{target}:ro"


def secret_files(model: Model) -> list[str]:
    """The secret files the receivers name, in the spec's order."""
    files = []
    for receiver in model.receivers.values():
        if isinstance(receiver, s.SlackReceiver):
            files.append(receiver.webhook_url_file)
        elif isinstance(receiver, s.PagerDutyReceiver):
            files.append(receiver.routing_key_file)
    return sorted(set(files))


def render(model: Model) -> dict[str, Any]:
    home = next((d.uid for d in model.dashboards if d.home), None)
    am_secrets = secret_files(model)
    exporter_port = model.runtime.exporter.port
    prom_dir, am_dir = stack.PROMETHEUS_CONFIG_DIR, stack.ALERTMANAGER_CONFIG_DIR
    grafana_env = {
        "GF_SECURITY_ADMIN_PASSWORD__FILE": f"/run/secrets/{GRAFANA_PASSWORD_SECRET}",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
    }
    if home:
        grafana_env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] = f"{stack.GRAFANA_DASHBOARD_DIR}/{home}.json"
    healthy = {"condition": "service_healthy"}
    services = {
        "prometheus": {
            "image": stack.PROMETHEUS_IMAGE,
            "command": [f"--config.file={prom_dir}/prometheus.yml", "--storage.tsdb.path=/prometheus",
                        "--web.enable-lifecycle"],
            "ports": [_port(stack.PROMETHEUS_PORT)],
            "volumes": [_ro(PROMETHEUS_CONFIG, f"{prom_dir}/prometheus.yml"),
                        _ro("alert_rules", f"{prom_dir}/alert_rules"), "prometheus-data:/prometheus"],
            "healthcheck": _wget(f"http://localhost:{stack.PROMETHEUS_PORT}/-/ready"),
            "depends_on": {"alertmanager": healthy},
            "restart": "unless-stopped",
        },
        "alertmanager": {
            "image": stack.ALERTMANAGER_IMAGE,
            "command": [f"--config.file={am_dir}/alertmanager.yml", "--storage.path=/alertmanager"],
            "ports": [_port(stack.ALERTMANAGER_PORT)],
            "volumes": [_ro(ALERTMANAGER_CONFIG, f"{am_dir}/alertmanager.yml"),
                        _ro(TEMPLATE_FILE.rsplit("/", 1)[0], f"{am_dir}/templates"), "alertmanager-data:/alertmanager"],
            "secrets": am_secrets,
            "healthcheck": _wget(f"http://localhost:{stack.ALERTMANAGER_PORT}/-/ready"),
            "restart": "unless-stopped",
        },
        "grafana": {
            "image": stack.GRAFANA_IMAGE,
            "environment": grafana_env,
            "ports": [_port(stack.GRAFANA_PORT)],
            "volumes": [_ro(DATASOURCES_FILE.rsplit("/", 1)[0], "/etc/grafana/provisioning/datasources"),
                        _ro(DASHBOARDS_FILE.rsplit("/", 1)[0], "/etc/grafana/provisioning/dashboards"),
                        _ro(stack.DASHBOARD_DIR, stack.GRAFANA_DASHBOARD_DIR), "grafana-data:/var/lib/grafana"],
            "secrets": [GRAFANA_PASSWORD_SECRET],
            "healthcheck": _wget(f"http://localhost:{stack.GRAFANA_PORT}/api/health"),
            "depends_on": {"prometheus": healthy},
            "restart": "unless-stopped",
        },
        "jaeger": {
            "image": stack.JAEGER_IMAGE,
            "environment": {"COLLECTOR_OTLP_ENABLED": "true"},
            "ports": [_port(stack.JAEGER_UI_PORT), _port(stack.OTLP_GRPC_PORT), _port(stack.OTLP_HTTP_PORT)],
            "healthcheck": _wget("http://localhost:14269/"),
            "restart": "unless-stopped",
        },
        "exporter": {
            "build": {"context": ".", "dockerfile": "Dockerfile"},
            "image": EXPORTER_IMAGE,
            # Inside the container it must listen on all interfaces for Prometheus to reach it.
            "command": ["orchestrator", "demo", "--scenario", "normal", "--host", "0.0.0.0",
                        "--port", str(exporter_port), "--log-dir", "/tmp/orchestrator-logs"],
            "environment": {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{stack.JAEGER_HOST}:{stack.OTLP_GRPC_PORT}"},
            "ports": [_port(exporter_port)],
            "healthcheck": {"test": ["CMD", "python", "-c",
                                     "import urllib.request; urllib.request.urlopen("
                                     f"'http://127.0.0.1:{exporter_port}/healthz', timeout=3)"],
                            "interval": "10s", "timeout": "5s", "retries": 5, "start_period": "10s"},
            "depends_on": {"jaeger": {"condition": "service_started"}},
            "restart": "unless-stopped",
        },
    }
    secrets = {name: {"file": f"./secrets/{name}"} for name in [*am_secrets, GRAFANA_PASSWORD_SECRET]}
    return {COMPOSE_FILE: {
        "services": services,
        "secrets": secrets,
        "volumes": {"prometheus-data": {}, "alertmanager-data": {}, "grafana-data": {}},
    }}
