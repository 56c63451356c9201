"""Names, ports and images of the monitoring stack, fixed in one place (DESIGN.md)."""

PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
GRAFANA_PORT = 3000
JAEGER_UI_PORT = 16686
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
EXPORTER_PORT = 9464

# Service host names inside docker compose.
PROMETHEUS_HOST = "prometheus"
ALERTMANAGER_HOST = "alertmanager"

# Images pinned to the versions Debian ships promtool and amtool in, so the configs
# validated here are read by the same versions in the stack.
PROMETHEUS_IMAGE = "prom/prometheus:v2.42.0"
ALERTMANAGER_IMAGE = "prom/alertmanager:v0.25.0"

# Where the generated files sit inside the containers.
PROMETHEUS_CONFIG_DIR = "/etc/prometheus"
ALERTMANAGER_CONFIG_DIR = "/etc/alertmanager"

# Grafana, and the npm package whose schema validates our dashboards: the same version.
GRAFANA_VERSION = "12.4.4"
GRAFANA_IMAGE = f"grafana/grafana:{GRAFANA_VERSION}"
JAEGER_IMAGE = "jaegertracing/all-in-one:1.62.0"
GRAFANA_HOST = "grafana"
JAEGER_HOST = "jaeger"
EXPORTER_HOST = "exporter"
GRAFANA_DASHBOARD_DIR = "/var/lib/grafana/dashboards"
DASHBOARD_DIR = "dashboards"  # generated dashboards, relative to the output directory

# Datasources with fixed UIDs: dashboards name them by UID, so importing needs no edits.
GRAFANA_DATASOURCES = {
    "prometheus": {"name": "Prometheus", "type": "prometheus", "uid": "prometheus",
                   "url": f"http://{PROMETHEUS_HOST}:{PROMETHEUS_PORT}"},
    "alertmanager": {"name": "Alertmanager", "type": "alertmanager", "uid": "alertmanager",
                     "url": f"http://{ALERTMANAGER_HOST}:{ALERTMANAGER_PORT}"},
    "jaeger": {"name": "Jaeger", "type": "jaeger", "uid": "jaeger", "url": f"http://{JAEGER_HOST}:{JAEGER_UI_PORT}"},
}
