"""Validate generated outputs with the real promtool and amtool (`orchestrator check`)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from generators import alertmanager, prometheus_config, prometheus_rules, rule_tests

from .model import Model
from .tools import find


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


def run_all(root: Path, model: Model) -> list[CheckResult]:
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
    return results
