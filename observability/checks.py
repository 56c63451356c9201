"""Validate generated outputs with the real promtool and amtool (`orchestrator check`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from generators import alertmanager, grafana_dashboards, prometheus_config, prometheus_rules, rule_tests
from generators import compose as compose_generator

from .model import Model
from .tools import ToolMissing, find


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    output: str


def routing_table(model: Model) -> list[tuple[dict[str, str], list[str]]]:
    """Alert labels and the receivers the spec says they must reach, in order."""
    table = []
    for route in model.routes:
        table.append(({"severity": route.severity}, list(route.receivers)))
        table.append(({"severity": route.severity, "alertname": "any_alert", "agent": "Coder"},
                      list(route.receivers)))
    table.append(({"alertname": "unlabelled"}, [model.routing.default_receiver]))
    return table


def run_all(root: Path, model: Model, grafana_schema: Path | None = None) -> list[CheckResult]:
    root = Path(root)
    promtool, amtool = find("promtool"), find("amtool")
    results = []

    rule_files = [prometheus_rules.RECORDING_FILE, prometheus_rules.ALERTING_FILE]
    r = promtool.run(["check", "rules", *rule_files], root)
    results.append(CheckResult("promtool check rules", r.returncode == 0, r.output))

    tests = [rule_tests.RECORDING_TESTS_FILE, rule_tests.ALERT_TESTS_FILE]
    r = promtool.run(["test", "rules", *tests], root)
    results.append(CheckResult("promtool test rules", r.returncode == 0, r.output))

    # Lay the config out as the container sees it: rule files beside prometheus.yml.
    with tempfile.TemporaryDirectory() as tmp:
        layout = Path(tmp)
        shutil.copy(root / prometheus_config.CONFIG_FILE, layout / "prometheus.yml")
        (layout / "alert_rules").mkdir()
        for rule_file in rule_files:
            shutil.copy(root / rule_file, layout / "alert_rules")
        r = promtool.run(["check", "config", "prometheus.yml"], layout)
    results.append(CheckResult("promtool check config", r.returncode == 0, r.output))

    am_config = alertmanager.CONFIG_FILE
    r = amtool.run(["check-config", am_config], root)
    results.append(CheckResult("amtool check-config", r.returncode == 0, r.output))

    for labels, receivers in routing_table(model):
        args = ["config", "routes", "test", f"--config.file={am_config}",
                f"--verify.receivers={','.join(receivers)}", *(f"{k}={v}" for k, v in labels.items())]
        r = amtool.run(args, root)
        shown = " ".join(f"{k}={v}" for k, v in labels.items())
        results.append(CheckResult(f"amtool routes: {shown} -> {','.join(receivers)}", r.returncode == 0, r.output))

    compose = _compose_command()
    proc = subprocess.run([*compose, "-f", compose_generator.COMPOSE_FILE, "config", "-q"], cwd=root,
                          capture_output=True, text=True, timeout=120)
    results.append(CheckResult("docker-compose config -q", proc.returncode == 0, proc.stdout + proc.stderr))

    if grafana_schema is not None:
        from .grafana_schema import schema_version, validate_dashboard

        version = schema_version(grafana_schema)
        for dashboard in model.dashboards:
            relpath = f"{grafana_dashboards.DASHBOARD_DIR}/{dashboard.uid}.json"
            problems = validate_dashboard(json.loads((root / relpath).read_text()), grafana_schema)
            results.append(CheckResult(f"Grafana {version} schema: {relpath}", not problems, "\n".join(problems)))
    return results


def _compose_command() -> list[str]:
    """Debian's docker-compose validates without an engine; the compose plugin does too."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        return ["docker", "compose"]
    raise ToolMissing("docker-compose is not on PATH. Install it — Debian/Ubuntu: sudo apt-get install docker-compose"
                      "   ·   macOS: brew install docker-compose")
