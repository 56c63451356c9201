"""The real promtool and amtool on every generated file (CI installs them; a missing tool fails)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generators import MANAGED, render_all
from generators.rule_tests import ALERT_TESTS_FILE
from observability.checks import run_all
from observability.cli import main
from observability.load import load
from observability.tools import find
from observability.writer import write_outputs

ROOT = Path(__file__).resolve().parent.parent
SPECS = [ROOT / "observability.yaml", ROOT / "tests/fixtures/small.yaml"]


def _render(spec: Path, out: Path) -> None:
    write_outputs(out, render_all(load(spec).model), MANAGED)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_all_checks_pass_on_a_fresh_render(spec: Path, tmp_path: Path) -> None:
    _render(spec, tmp_path)
    results = run_all(tmp_path, load(spec).model)
    failed = [f"{r.name}\n{r.output}" for r in results if not r.ok]
    assert not failed, "\n\n".join(failed)
    names = {r.name for r in results}
    assert {"promtool check rules", "promtool test rules", "promtool check config", "amtool check-config"} <= names
    assert sum(n.startswith("amtool routes") for n in names) >= 5


def test_tools_are_the_real_binaries() -> None:
    for name in ("promtool", "amtool"):
        tool = find(name)
        assert tool.path is not None, f"{name} must be installed for the tests (make test installs it)"
        assert "version" in tool.run(["--version"], ROOT).output.lower()


def test_promtool_catches_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests can fail: change one expected annotation and promtool must say so."""
    _render(ROOT / "observability.yaml", tmp_path)
    path = tmp_path / ALERT_TESTS_FILE
    suite = yaml.safe_load(path.read_text())
    first = next(t for t in suite["tests"] if t["alert_rule_test"][0]["exp_alerts"])
    first["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"]["summary"] = "something else"
    path.write_text(yaml.safe_dump(suite))
    result = find("promtool").run(["test", "rules", ALERT_TESTS_FILE], tmp_path)
    assert result.returncode != 0
    assert "something else" in result.output


def test_amtool_catches_a_wrong_route(tmp_path: Path) -> None:
    _render(ROOT / "observability.yaml", tmp_path)
    result = find("amtool").run(["config", "routes", "test", "--config.file=provisioning/alertmanager/alertmanager.yml",
                                 "--verify.receivers=slack_alerts", "severity=CRITICAL"], tmp_path)
    assert result.returncode != 0


def test_check_command_reports_and_exits_0(tmp_path: Path) -> None:
    _render(ROOT / "observability.yaml", tmp_path)
    result = CliRunner().invoke(main, ["check", "--out", str(tmp_path), "--spec", str(ROOT / "observability.yaml")])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output


def test_check_command_exits_1_on_a_broken_output(tmp_path: Path) -> None:
    _render(ROOT / "observability.yaml", tmp_path)
    rules = tmp_path / "alert_rules/alerts.rules.yml"
    rules.write_text(rules.read_text().replace("expr: ", "expr: (", 1))
    result = CliRunner().invoke(main, ["check", "--out", str(tmp_path), "--spec", str(ROOT / "observability.yaml")])
    assert result.exit_code == 1
    assert "FAIL promtool check rules" in result.output
