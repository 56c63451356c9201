"""docker-compose.yml and Grafana provisioning: validated by Debian's docker-compose without
an engine, images pinned, generated files read-only, secrets as files, healthchecks, loopback ports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from observability import stack
from observability.load import load

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
MODEL = load(ROOT / "observability.yaml").model


def _compose(cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose must be installed (make test installs it)"
    return subprocess.run([binary, "-f", "docker-compose.yml", "config", "-q"], cwd=cwd, capture_output=True, text=True)


def test_docker_compose_config_accepts_it() -> None:
    proc = _compose(ROOT)
    assert proc.returncode == 0, proc.stderr


def test_docker_compose_config_refuses_a_broken_file(tmp_path: Path) -> None:
    broken = dict(COMPOSE)
    broken["services"] = {**COMPOSE["services"], "grafana": {**COMPOSE["services"]["grafana"], "ports": "3000"}}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    assert _compose(tmp_path).returncode != 0


def test_services_images_and_ports() -> None:
    services = COMPOSE["services"]
    assert sorted(services) == ["alertmanager", "exporter", "grafana", "jaeger", "prometheus"]
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: image not pinned"
        assert "healthcheck" in service and service["healthcheck"]["test"], f"{name}: no healthcheck"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port} is published beyond loopback"
    published = {int(p.rsplit(":", 1)[1]) for s in services.values() for p in s.get("ports", [])}
    assert published == {stack.PROMETHEUS_PORT, stack.ALERTMANAGER_PORT, stack.GRAFANA_PORT, stack.JAEGER_UI_PORT,
                         stack.OTLP_GRPC_PORT, stack.OTLP_HTTP_PORT, stack.EXPORTER_PORT}
    assert services["prometheus"]["image"] == stack.PROMETHEUS_IMAGE
    assert services["grafana"]["image"] == stack.GRAFANA_IMAGE
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert services["exporter"]["build"]["dockerfile"] == "Dockerfile" and (ROOT / "Dockerfile").exists()


def test_generated_files_are_mounted_read_only_and_exist() -> None:
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert volume.endswith(":ro"), f"{name}: {volume} is writable"
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"


def test_secrets_are_files_matching_the_receivers() -> None:
    am = COMPOSE["services"]["alertmanager"]
    wanted = set()
    for receiver in MODEL.receivers.values():
        wanted |= {getattr(receiver, f) for f in ("webhook_url_file", "routing_key_file") if hasattr(receiver, f)}
    assert set(am["secrets"]) == wanted
    for name in wanted:
        assert COMPOSE["secrets"][name] == {"file": f"./secrets/{name}"}
    assert MODEL.routing.secrets_dir == "/run/secrets"  # where compose mounts them
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE" in COMPOSE["services"]["grafana"]["environment"]


def test_grafana_opens_on_the_main_dashboard_and_loads_dashboards() -> None:
    grafana = COMPOSE["services"]["grafana"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{stack.GRAFANA_DASHBOARD_DIR}/orchestrator-v10.json"
    assert f"./dashboards:{stack.GRAFANA_DASHBOARD_DIR}:ro" in grafana["volumes"]
    provider = yaml.safe_load((ROOT / "provisioning/grafana/dashboards/dashboards.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == stack.GRAFANA_DASHBOARD_DIR


def test_datasources_have_fixed_uids() -> None:
    sources = yaml.safe_load((ROOT / "provisioning/grafana/datasources/datasources.yml").read_text())["datasources"]
    assert {(s["type"], s["uid"]) for s in sources} == {("prometheus", "prometheus"), ("alertmanager", "alertmanager"),
                                                      ("jaeger", "jaeger")}
    assert [s["uid"] for s in sources if s.get("isDefault")] == ["prometheus"]


def test_make_up_without_an_engine_says_so(tmp_path: Path) -> None:
    """A stand-in `docker` whose `info` fails plays the missing engine, so this test never
    starts a real stack on a machine that has one."""
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    proc = subprocess.run(["bash", "scripts/compose-up.sh"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert "No Docker engine answers" in proc.stderr and "natively" in proc.stderr
