"""The committed outputs are exactly what the spec renders to, and rendering is repeatable."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from generators import MANAGED, render_all
from generators.rule_tests import ALERT_TESTS_FILE, RECORDING_TESTS_FILE
from observability.load import load
from observability.writer import HEADER, render_files

ROOT = Path(__file__).resolve().parent.parent


def _committed() -> dict[str, str]:
    found = {}
    for top in MANAGED:
        entry = ROOT / top
        for path in [entry] if entry.is_file() else entry.rglob("*"):
            if path.is_file():
                found[path.relative_to(ROOT).as_posix()] = path.read_text(encoding="utf-8")
    return found


def test_committed_outputs_match_a_fresh_render() -> None:
    fresh = render_files(render_all(load(ROOT / "observability.yaml").model))
    committed = _committed()
    assert sorted(committed) == sorted(fresh), "run `make generate` and commit the result"
    stale = [path for path, text in fresh.items() if committed[path] != text]
    assert not stale, f"out of date, run `make generate`: {stale}"


def test_every_yaml_output_says_it_is_generated() -> None:
    for path, text in _committed().items():
        if path.endswith((".yml", ".yaml")):
            assert text.startswith(f"# {HEADER}\n"), path
        assert text.endswith("\n"), path


def test_generate_twice_gives_no_diff(tmp_path: Path) -> None:
    shutil.copy(ROOT / "observability.yaml", tmp_path / "observability.yaml")
    script = Path(sys.executable).with_name("orchestrator")
    snapshots = []
    for _ in range(2):
        proc = subprocess.run([str(script), "generate"], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        snapshots.append({p.relative_to(tmp_path).as_posix(): p.read_bytes()
                          for p in tmp_path.rglob("*") if p.is_file()})
    assert snapshots[0] == snapshots[1]
    assert "0 changed" in proc.stdout


def test_every_alert_and_recording_rule_is_covered_by_promtool_tests() -> None:
    model = load(ROOT / "observability.yaml").model
    alert_tests = yaml.safe_load((ROOT / ALERT_TESTS_FILE).read_text())["tests"]
    firing, quiet = set(), set()
    for test in alert_tests:
        for case in test["alert_rule_test"]:
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    names = {alert.name for alert in model.alerts}
    assert names - firing == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown quiet"
    # Escalated rules are shown firing at their own severity too.
    shown = {(case["alertname"], alert["exp_labels"]["severity"])
             for test in alert_tests for case in test["alert_rule_test"] for alert in case["exp_alerts"]}
    assert {(rule.name, rule.severity) for rule in model.alert_rules} <= shown

    expr_tests = yaml.safe_load((ROOT / RECORDING_TESTS_FILE).read_text())["tests"]
    tested = {case["expr"] for test in expr_tests for case in test["promql_expr_test"]}
    for rule in model.recording_rules:
        assert any(expr.split("{")[0] == rule.record and all(f'{k}="{v}"' in expr for k, v in rule.labels)
                   for expr in tested), f"no promql_expr_test for {rule.record} {dict(rule.labels)}"
